"""`async with` for the stores: one base instead of the same two methods in every backend."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class OpenClose:
    """A resource opened by `open()` (which returns it) and closed by `aclose()`; `async with
    resource:` does both."""

    __slots__ = ()

    async def open(self) -> Self:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
