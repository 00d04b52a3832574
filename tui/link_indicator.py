"""The state of the link to a remote hub (`citywatch tui --connect`): a countdown in the
title while it is down, a notification when it is lost and when it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol, cast

from textual.app import App

from tui.screens.cameras import CamerasScreen
from tui.screens.overview import OverviewScreen

if TYPE_CHECKING:
    from hub.client import HubClient

# While a remote hub is unreachable the countdown to the next attempt is redrawn this often.
LINK_COUNTDOWN_S = 1.0
# A lost link stays on screen until it is back (or this long): the title says it too.
LINK_LOST_NOTICE_S = 30.0


class LinkState(Protocol):
    """What the TUI reads of a remote client's link (hub.remote_client.ConnectionState)."""

    @property
    def connected(self) -> bool: ...
    @property
    def url(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def retry_at(self) -> float | None: ...


class RemoteLink(Protocol):
    """A client that talks to its hub over a network (RemoteHubClient): the TUI shows the
    state of the link. A local client has none of this."""

    def connection(self) -> LinkState: ...
    def connection_changes(self) -> AsyncIterator[LinkState]: ...


class RemoteLinkIndicator(App[None]):
    """The link indicator of `CitywatchApp`; an in-process hub has no link and shows none."""

    # Set by CitywatchApp.
    client: HubClient
    base_title: str
    link_text: str

    def start_link_indicator(self) -> None:
        """Show the link and follow its changes (on mount), if the client has one."""
        link = self.remote_link()
        if link is not None:
            self.show_link(link.connection())
            self.run_worker(self._follow_link(link), name="link", group="link",
                            exit_on_error=False)
            self.set_interval(LINK_COUNTDOWN_S, self._count_down, name="link countdown")

    def remote_link(self) -> RemoteLink | None:
        """The client as a remote link, or None for an in-process hub."""
        client = self.client
        if hasattr(client, "connection_changes") and hasattr(client, "connection"):
            return cast(RemoteLink, client)
        return None

    async def _follow_link(self, link: RemoteLink) -> None:
        was_connected = link.connection().connected
        async for state in link.connection_changes():
            self.show_link(state)
            if was_connected and not state.connected:
                self.notify(f"Connection to {state.url} lost — reconnecting.\n"
                            f"{state.error or ''}".strip(), title="hub unreachable",
                            severity="warning", timeout=LINK_LOST_NOTICE_S)
            elif state.connected and not was_connected:
                self.notify(f"Connected to {state.url} again.", title="hub back")
            was_connected = state.connected
        self.show_link(link.connection())  # the client ended (token refused, closed)

    def _count_down(self) -> None:
        link = self.remote_link()
        if link is not None and not (state := link.connection()).connected:
            self.show_link(state)

    def show_link(self, state: LinkState) -> None:
        """The indicator: the sub-title says it in full, the title (on the cameras
        screen's summary line) with a mark."""
        if state.connected:
            self.link_text = f"connected to {state.url}"
            title = self.base_title
        else:
            wait = None
            if state.retry_at is not None:
                wait = max(0, round(state.retry_at - asyncio.get_running_loop().time()))
            retry = f" ({wait} s)" if wait is not None else ""
            self.link_text = f"hub unreachable — reconnecting{retry}"
            title = f"{self.base_title} ✘ reconnecting{retry}"
        self.sub_title = self.link_text
        if title != self.title:
            self.title = title
            screen = self.screen if self.screen_stack else None
            if isinstance(screen, CamerasScreen):
                screen.refresh_summary()
            elif isinstance(screen, OverviewScreen):
                screen.refresh_title()
