"""A hub and its API on a loopback port that a test can stop and start again on the same
port and data directory (a hub restart, as clients and partner hubs see it)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from hub.api import build_api
from hub.api_server import ApiServer
from hub.auth import TokenAuthority, TokenStore
from hub.core import Hub


@dataclass(kw_only=True)
class ServedHub:
    data_dir: Path
    port: int = 0  # 0 until the first start picks a free one; kept across restarts
    tls: ssl.SSLContext | None = None
    hub: Hub | None = None
    server: ApiServer | None = None

    async def serve(self, hub: Hub, bootstrap: str | None = None) -> None:
        """Start `hub` and its API (tokens from the data dir, plus `bootstrap` as admin)."""
        await hub.start()
        self.hub = hub
        auth = TokenAuthority(TokenStore(self.data_dir), bootstrap=bootstrap)
        self.server = ApiServer(build_api(hub, auth), "127.0.0.1", self.port,
                                ssl_context=self.tls)
        self.port = await self.server.start()

    async def stop_serving(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self.hub is not None:
            await self.hub.stop()
            self.hub = None
