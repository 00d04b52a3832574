"""`async with` for driver clients that own connections and close them with `close()`."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncClosing:
    """Base for a client with an async `close()`: `async with Client(...) as c:` closes it."""

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
