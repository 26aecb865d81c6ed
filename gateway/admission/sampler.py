"""The asyncio shell that feeds a :class:`~gateway.admission.gauge.LoadGauge` from this
process: its CPU time, its event loop's lag and the drives' counts, every 100 ms.

The gauge is pure: this is its only clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from gateway.admission.gauge import SAMPLE_EVERY_S, LoadGauge

__all__ = ["LoadSampler"]


class LoadSampler:
    """Feeds a :class:`LoadGauge` from this process: CPU time, loop lag, the number of live
    drives (``drives()``), of drives whose set-up is over (``setups()``) and of refusals
    (``refusals()``) every 100 ms.

    Call :meth:`start` inside the running loop and :meth:`stop` before it closes. Costs one
    timer wake-up per sample, nothing per chunk.
    """

    def __init__(
        self,
        gauge: LoadGauge,
        drives: Callable[[], int] = lambda: 0,
        every_s: float = SAMPLE_EVERY_S,
        setups: Callable[[], int] = lambda: 0,
        refusals: Callable[[], int] = lambda: 0,
    ) -> None:
        self.gauge = gauge
        self.drives = drives
        self.setups = setups
        self.refusals = refusals
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="load sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            now = loop.time()
            self.gauge.add(
                now,
                time.process_time(),
                now - due,
                self.drives(),
                self.setups(),
                self.refusals(),
            )
            due = now + self.every_s
            await asyncio.sleep(self.every_s)
