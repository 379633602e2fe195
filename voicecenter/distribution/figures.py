"""Real-time queue figures: what a supervisor's wallboard shows, per queue.

The routing service tells this module what happens to each interaction
(queued, answered, left, ended) with its own clock; figures are computed
from those facts over a sliding window, so they are exact for what this
server saw and cost nothing to read. Agents' states come straight from the
router, which already keeps them. Nothing here does I/O except
``FiguresPublisher``, which writes a snapshot per queue to the outbox every
few seconds (topic ``{prefix}/queues/{name}/figures``).

Definitions (the window is ``window_s``, one hour by default):
- waiting / longest_wait_s: interactions in the queue now, and the oldest's wait;
- service_level: answered within ``service_level_s`` / (answered + abandoned);
- asa_s: average speed of answer (wait of answered interactions);
- aht_s: average handle time (answer to end) of finished conversations;
- abandoned: callers who hung up while waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..routing.model import AgentState
from ..routing.router import Router

if TYPE_CHECKING:
    from ..store import Store

log = logging.getLogger("voicecenter.distribution.figures")

# Agents who can take work now or soon; offline and away ones are not staffing a queue.
_STAFFED = frozenset({AgentState.AVAILABLE, AgentState.RESERVED, AgentState.BUSY,
                      AgentState.WRAP_UP})


@dataclass
class _Queue:
    name: str
    skills: tuple[str, ...] = ()
    waiting: dict[str, float] = field(default_factory=dict)  # id -> enqueued at
    answered: deque[tuple[float, float]] = field(default_factory=deque)  # (at, waited)
    abandoned: deque[tuple[float, float]] = field(default_factory=deque)
    handled: deque[tuple[float, float]] = field(default_factory=deque)  # (at, handle time)


class QueueFigures:
    """Per-queue counters fed by the routing service; ``snapshot`` reads them."""

    def __init__(self, router: Router, clock: Callable[[], float], *,
                 service_level_s: float = 20.0, window_s: float = 3600.0,
                 default_handle_s: float = 180.0) -> None:
        self.router = router
        self.clock = clock
        self.service_level_s = service_level_s
        self.window_s = window_s
        # The estimate before any conversation has ended on this server.
        self.default_handle_s = default_handle_s
        self.queues: dict[str, _Queue] = {}
        self._where: dict[str, str] = {}  # interaction id -> queue name
        self._answered_at: dict[str, float] = {}

    # -- facts from the routing service ----------------------------------------------
    def queued(self, interaction_id: str, queue: str, skills: Iterable[str] = (),
               at: float | None = None) -> None:
        q = self._queue(queue)
        if skills:
            q.skills = tuple(skills)
        q.waiting[interaction_id] = self.clock() if at is None else at
        self._where[interaction_id] = queue

    def answered(self, interaction_id: str) -> None:
        q = self._of(interaction_id)
        if q is None or interaction_id not in q.waiting:
            return
        now = self.clock()
        q.answered.append((now, now - q.waiting.pop(interaction_id)))
        self._answered_at[interaction_id] = now

    def left(self, interaction_id: str, reason: str) -> None:
        """Left the queue without an agent; a caller's hang-up counts as abandoned."""
        q = self._of(interaction_id)
        self._where.pop(interaction_id, None)
        if q is None or interaction_id not in q.waiting:
            return
        now = self.clock()
        waited = now - q.waiting.pop(interaction_id)
        if reason == "abandoned":
            q.abandoned.append((now, waited))

    def ended(self, interaction_id: str) -> None:
        """The conversation with the agent is over: one more handle time."""
        q = self._of(interaction_id)
        self._where.pop(interaction_id, None)
        began = self._answered_at.pop(interaction_id, None)
        if q is not None and began is not None:
            now = self.clock()
            q.handled.append((now, now - began))

    def restore(self, queue: str, skills: Iterable[str] = (), *,
                answered: Iterable[tuple[float, float]] = (),
                abandoned: Iterable[tuple[float, float]] = (),
                handled: Iterable[tuple[float, float]] = ()) -> None:
        """Put back facts a previous run saw, as (at, seconds) on this clock.

        After a restart the window would otherwise start empty; the figures
        history (figures_history.py) replays the stored timeline through here.
        Samples are merged in time order, so facts that arrived meanwhile stay.
        """
        q = self._queue(queue)
        if skills and not q.skills:
            q.skills = tuple(skills)
        for samples, more in ((q.answered, answered), (q.abandoned, abandoned),
                              (q.handled, handled)):
            merged = sorted([*samples, *more])
            samples.clear()
            samples.extend(merged)
        self._expire(q)

    def whereabouts(self, interaction_id: str) -> tuple[str | None, float | None]:
        """The queue an interaction came through and when an agent answered it."""
        return self._where.get(interaction_id), self._answered_at.get(interaction_id)

    # -- reading ----------------------------------------------------------------------
    def aht(self, queue: str) -> float | None:
        q = self.queues.get(queue)
        if q is None:
            return None
        self._expire(q)
        return _mean(h for _, h in q.handled)

    def position(self, interaction_id: str) -> int | None:
        """1-based place in the router's universal queue, None once it left it."""
        if interaction_id not in self.router.queue:
            return None
        return self.router.queue.position(interaction_id)

    def estimated_wait(self, queue: str, position: int) -> float:
        """Seconds until an agent for the place ``position``: one recent handle time
        per round of the agents staffing the queue."""
        handle = self.aht(queue) or self.default_handle_s
        staffed = max(1, len(self.agents(queue, staffed_only=True)))
        return round(handle * ((position - 1) // staffed + 1), 1) if position > 0 else 0.0

    def agents(self, queue: str, staffed_only: bool = False) -> list[dict[str, Any]]:
        q = self.queues.get(queue)
        skills = q.skills if q is not None else ()
        now = self.clock()
        found = []
        for agent in self.router.agents():
            if not all(s in agent.skills for s in skills):
                continue
            if staffed_only and agent.state not in _STAFFED:
                continue
            found.append({"id": agent.id, "state": str(agent.state), "reason": agent.reason,
                          "in_state_s": round(now - agent.state_since, 1)})
        return found

    def names(self) -> list[str]:
        return sorted(self.queues)

    def snapshot(self, queue: str) -> dict[str, Any]:
        q = self.queues.get(queue)
        if q is None:
            raise KeyError(queue)
        self._expire(q)
        now = self.clock()
        answered, abandoned = len(q.answered), len(q.abandoned)
        within = sum(1 for _, waited in q.answered if waited <= self.service_level_s)
        offered = answered + abandoned
        waits = [now - at for at in q.waiting.values()]
        return {
            "name": q.name, "skills": list(q.skills),
            "waiting": len(q.waiting),
            "longest_wait_s": round(max(waits, default=0.0), 1),
            "answered": answered, "abandoned": abandoned,
            "service_level": {"threshold_s": self.service_level_s,
                              "percent": round(100.0 * within / offered, 1) if offered else None},
            "asa_s": _round(_mean(w for _, w in q.answered)),
            "aht_s": _round(_mean(h for _, h in q.handled)),
            "estimated_wait_s": self.estimated_wait(queue, len(q.waiting) + 1),
            "window_s": self.window_s,
            "agents": self.agents(queue),
        }

    def _queue(self, name: str) -> _Queue:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = _Queue(name)
        return q

    def _of(self, interaction_id: str) -> _Queue | None:
        name = self._where.get(interaction_id)
        return self.queues.get(name) if name is not None else None

    def _expire(self, q: _Queue) -> None:
        horizon = self.clock() - self.window_s
        for samples in (q.answered, q.abandoned, q.handled):
            while samples and samples[0][0] < horizon:
                samples.popleft()


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class FiguresPublisher:
    """Every ``period_s``, one figures message per queue through the outbox.

    Through the outbox rather than straight to the broker, like every other
    event: a broker outage delays figures and the publisher's one connection
    carries them.
    """

    def __init__(self, store: Store, figures: QueueFigures, period_s: float = 5.0) -> None:
        self.store = store
        self.figures = figures
        self.period_s = period_s
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="queue-figures")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def publish_once(self) -> int:
        from ..events.topics import topic_for
        from ..store.models import utcnow
        from ..store.timeline import enqueue

        names = self.figures.names()
        if not names:
            return 0
        at = utcnow()
        async with self.store.write() as session:
            for name in names:
                topic = topic_for(self.store.topic_prefix, "queue.figures", queue=name)
                payload = {"kind": "queue.figures", "at": at.isoformat(timespec="seconds"),
                           "queue": name, "data": self.figures.snapshot(name)}
                enqueue(session, topic, payload, at)
        return len(names)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            try:
                await self.publish_once()
            except Exception:  # a store hiccup must not end the figures for good
                log.exception("queue figures not published")
