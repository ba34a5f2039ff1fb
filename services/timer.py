"""One pending callback that is re-armed, cancelled or fired as a unit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Timer:
    """At most one pending `loop.call_at`: arming again replaces it; it is clear again once
    it fires or is cancelled (`armed`)."""

    __slots__ = ("_handle",)

    def __init__(self) -> None:
        self._handle: asyncio.TimerHandle | None = None

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def arm(
        self, loop: asyncio.AbstractEventLoop, when: float, callback: Callable[[], None]
    ) -> None:
        """Run `callback` at loop time `when` (instead of what was armed before)."""
        self.cancel()
        self._handle = loop.call_at(when, self._fire, callback)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self, callback: Callable[[], None]) -> None:
        self._handle = None
        callback()
