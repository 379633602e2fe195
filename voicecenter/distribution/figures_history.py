"""Queue figures that outlive the process: restored at start, sampled to the store.

Live figures (figures.py) are counters in memory over a sliding window.
Without this module a restart would put every queue back at zero and lose
the wallboard's charts. So:

- at start, the facts of the last window are replayed from the stored
  timelines (interaction.queued / call.bridged / interaction.dequeued /
  call.ended..., read by store/contact_events.py and turned into contacts by
  reports/contacts.py) into ``QueueFigures.restore``: answered, abandoned and
  handle times are back exactly as the previous run counted them, on the new
  run's clock. Queues sampled lately but quiet in the window are registered
  too, so their tiles stay on the wallboard. Callers who were waiting when
  the server stopped were hung up by it and are not waiting any more.
- every ``period_s`` one sample per queue goes to ``queue_figure_samples``
  (charts of the last hours); samples older than ``keep_days`` are pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..reports.contacts import build_contacts
from ..store.contact_events import contact_events
from ..store.figure_samples import FigureSample
from ..store.models import utcnow
from .figures import QueueFigures

if TYPE_CHECKING:
    from ..settings import QueueSettings
    from ..store import Store
    from .service import DistributionService

log = logging.getLogger("voicecenter.distribution.figures_history")

_PRUNE_EVERY_S = 3600.0


class FiguresHistory:
    def __init__(self, store: Store, figures: QueueFigures, period_s: float = 60.0,
                 keep_days: int = 35) -> None:
        self.store = store
        self.figures = figures
        self.period_s = period_s
        self.keep_days = keep_days
        self.task: asyncio.Task[None] | None = None
        self.restored: dict[str, int] = {}

    async def start(self) -> None:
        try:
            await self.restore()
        except Exception:  # figures from zero beat a server that does not start
            log.exception("queue figures not restored from the store")
        self.task = asyncio.create_task(self._run(), name="queue-figures-history")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def restore(self, now: datetime | None = None) -> dict[str, int]:
        """Replay the window's stored facts into the live figures; counts per queue."""
        now = now or utcnow()
        figures = self.figures
        horizon = now - timedelta(seconds=figures.window_s)
        # A caller answered inside the window may have queued before it.
        events = await contact_events(self.store, horizon - timedelta(hours=2), now)
        clock_now = figures.clock()

        def on_clock(at: datetime) -> float:
            return clock_now - (now - at).total_seconds()

        facts: dict[str, dict[str, list[tuple[float, float]]]] = {}
        skills: dict[str, list[str]] = {}
        for contact in build_contacts(events):
            queue = facts.setdefault(contact.queue, {"answered": [], "abandoned": [],
                                                     "handled": []})
            skills.setdefault(contact.queue, contact.skills)
            wait = contact.waited_s
            if contact.outcome == "answered" and contact.left_at and contact.left_at >= horizon:
                queue["answered"].append((on_clock(contact.left_at), wait or 0.0))
            elif contact.abandoned and contact.left_at and contact.left_at >= horizon:
                queue["abandoned"].append((on_clock(contact.left_at), wait or 0.0))
            handle = contact.handle_s
            if handle is not None and contact.ended_at and contact.ended_at >= horizon:
                queue["handled"].append((on_clock(contact.ended_at), handle))
        for name in await self.store.figure_samples.queues(now - timedelta(days=1)):
            facts.setdefault(name, {"answered": [], "abandoned": [], "handled": []})
        for name, found in facts.items():
            figures.restore(name, skills.get(name, ()), **found)
        self.restored = {name: sum(len(v) for v in found.values())
                         for name, found in facts.items()}
        if self.restored:
            log.info("queue figures restored from the store: %s", self.restored)
        return self.restored

    async def sample_once(self) -> int:
        """Store one sample of every queue's figures now; how many."""
        at = utcnow()
        rows = [FigureSample.of_snapshot(at, self.figures.snapshot(name))
                for name in self.figures.names()]
        await self.store.figure_samples.add(rows)
        return len(rows)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while True:
            await asyncio.sleep(self.period_s)
            try:
                await self.sample_once()
                if loop.time() >= next_prune:
                    next_prune = loop.time() + _PRUNE_EVERY_S
                    pruned = await self.store.figure_samples.prune(
                        utcnow() - timedelta(days=self.keep_days))
                    if pruned:
                        log.info("pruned %d queue figure samples", pruned)
            except Exception:  # a store hiccup must not end the history for good
                log.exception("queue figures not sampled")


async def start_figures_history(distribution: DistributionService, settings: QueueSettings,
                                stack: contextlib.AsyncExitStack) -> FiguresHistory:
    """Restore the figures and start sampling them; stopped by ``stack``."""
    history = FiguresHistory(distribution.store, distribution.figures,
                             settings.history_period_s, settings.history_keep_days)
    await history.start()
    stack.push_async_callback(history.stop)
    return history
