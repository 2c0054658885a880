"""`async with` for stores, agents and models: one base instead of the same two methods in every
backend."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """A resource usable as soon as it is made and closed by `aclose()`; `async with resource:`
    closes it at the end."""

    __slots__ = ()

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class OpenClose(Closing):
    """A resource opened by `open()` (which returns it) and closed by `aclose()`; `async with
    resource:` does both."""

    __slots__ = ()

    async def open(self) -> Self:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return await self.open()
