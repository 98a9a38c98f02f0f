"""The rollout controller: judges every ramping canary and advances or rolls it back.

(Being written: leader election and the loop.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..store import Store


class RolloutController:
    def __init__(
        self,
        store: Store,
        *,
        tick_s: float,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.tick_s = tick_s
        self.on_change = on_change

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass
