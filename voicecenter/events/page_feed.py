"""PageFeed: the outbox, tailed in order and fanned out to web pages' WebSockets.

Every state change is already an outbox row (written in the transaction of
the change), so pages get the very events MQTT subscribers get, numbered by
the row id (``seq``), without a broker hop:
- one task tails the outbox by id; it wakes right after a commit that wrote
  rows (``store.outbox_listeners``) and also
  polls every second for rows written by other processes (the CLI);
- each event is decoded once, its frame's JSON text built once, and its
  audience decided once (``page_visibility``), then handed to every page
  allowed to see it;
- the last ``ring_size`` events stay in memory, so a page that reconnects
  resumes from memory; older ones are read back from the outbox table with
  the audience remembered for them (``index_size`` of them). A page asking
  for events the feed cannot give exactly (purged rows, before this server
  started, or a seq this database never had) gets a ``reset`` frame and
  reloads its state over REST;
- every page has a bounded queue and its own sender: a page that cannot keep
  up is closed with code 4008 (it reconnects and resumes), and never slows
  the others.
On PostgreSQL two transactions may commit out of id order; the feed reads
by id, so a row committed late behind a higher id is skipped (MQTT still
carries it). SQLite, the default, commits one writer at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from voicecenter.events.page_visibility import (
    STAFF_ONLY,
    Audience,
    AudienceTracker,
    Viewer,
)
from voicecenter.events.topics import TOPICS
from voicecenter.store.database import Store
from voicecenter.store.models import OutboxMessage

log = logging.getLogger("voicecenter.events.pages")

CLOSE_TOO_SLOW = 4008
CLOSE_GOING_AWAY = 1001


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One outbox row as pages get it: the frame's text, built once, and its audience."""

    seq: int
    kind: str
    frame: str
    audience: Audience
    at: float = 0.0  # the event's `at` as a timestamp, when it has sub-second precision


class LatencySamples:
    """The last ``size`` latencies in ms, for percentiles (operations, benchmarks)."""

    def __init__(self, size: int = 20_000) -> None:
        self.samples: deque[float] = deque(maxlen=size)

    def add(self, ms: float) -> None:
        self.samples.append(ms)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.samples)
        if not ordered:
            return {"count": 0}

        def at(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 2)
        return {"count": len(ordered), "p50_ms": at(50), "p99_ms": at(99), "max_ms": at(100)}


class PageSubscriber:
    """One page's socket, as the feed sees it: who it is and what waits to be sent."""

    def __init__(self, viewer: Viewer, limit: int) -> None:
        self.viewer = viewer
        self.limit = limit
        self.frames: deque[str] = deque()
        self.oldest = 0.0  # monotonic time the oldest queued frame was queued
        self.ready = asyncio.Event()
        self.overflowed = False
        self.closed_reason: str | None = None
        self.delivered = 0

    def push(self, frame: str) -> None:
        """Queue a frame; past ``limit`` the page is marked too slow instead."""
        if self.overflowed or self.closed_reason:
            return
        if len(self.frames) >= self.limit:
            self.overflowed = True
            self.frames.clear()
        else:
            if not self.frames:
                self.oldest = time.monotonic()
            self.frames.append(frame)
        self.ready.set()

    def push_control(self, frame: str) -> None:
        """A frame that is not an event (pong): never counts against the limit."""
        if not self.frames:
            self.oldest = time.monotonic()
        self.frames.append(frame)
        self.ready.set()

    def close(self, reason: str) -> None:
        self.closed_reason = reason
        self.ready.set()

    async def take(self) -> tuple[list[str], float]:
        """Everything queued and when the oldest of it was queued (monotonic), waiting
        for at least one frame (or an overflow/close)."""
        while not self.frames and not self.overflowed and not self.closed_reason:
            self.ready.clear()
            await self.ready.wait()
        taken = list(self.frames)
        self.frames.clear()
        return taken, self.oldest


@dataclass
class ResumePlan:
    """What a page gets before live events: hello, then a reset or the missed events."""

    hello: str
    reset: str | None
    backlog: list[str]
    from_table: list[tuple[int, Audience]]  # seqs to read back from the outbox


class PageFeed:
    """The in-process hub; ``start()``/``stop()``, ``attach()``/``detach()``."""

    def __init__(self, store: Store, *, ring_size: int = 5000, index_size: int = 100_000,
                 queue_limit: int = 1000, batch_size: int = 500,
                 poll_interval: float = 1.0) -> None:
        self.store = store
        self.ring: deque[FeedEvent] = deque(maxlen=ring_size)
        self.index: OrderedDict[int, Audience] = OrderedDict()
        self.index_size = index_size
        self.queue_limit = queue_limit
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.tracker = AudienceTracker()
        self.floor = 0  # the last seq before this feed started: resume from >= floor
        self.index_floor = 0  # every event after this seq has its audience in ``index``
        self.last_seq = 0
        self.staff: set[PageSubscriber] = set()
        self.agents: dict[str, set[PageSubscriber]] = {}
        self.others: set[PageSubscriber] = set()
        self.events_read = 0
        self.frames_queued = 0
        self.too_slow = 0
        # From an event's `at` to the feed reading it (journal, commit, wake-up), and
        # from then to its frame written to a page's socket (fan-out, queue, send).
        self.read_lag = LatencySamples()
        self.send_lag = LatencySamples()
        # How late this process's event loop runs timers: everything above waits on it.
        self.loop_lag = LatencySamples()
        self.commit_lag = LatencySamples()
        self._woken_at = 0.0
        self._wake = asyncio.Event()
        self._joined = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lag_task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def pages(self) -> int:
        return len(self.staff) + len(self.others) + sum(len(s) for s in self.agents.values())

    async def start(self) -> None:
        if self.running:
            return
        async with self.store.read() as session:
            latest = await session.scalar(select(func.max(OutboxMessage.id)))
        self.floor = self.last_seq = self.index_floor = int(latest or 0)
        self.store.outbox_listeners.append(self._outbox_written)
        self._task = asyncio.create_task(self._run(), name="page-feed")
        self._lag_task = asyncio.create_task(self._watch_loop(), name="page-feed-loop-lag")
        log.info("page events start after seq %d", self.floor)

    async def stop(self) -> None:
        if self._outbox_written in self.store.outbox_listeners:
            self.store.outbox_listeners.remove(self._outbox_written)
        for task in (self._task, self._lag_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._lag_task = None
        for subscriber in self._all():
            subscriber.close("server stopping")

    def _outbox_written(self) -> None:
        """The store's signal after a commit that added outbox rows."""
        if not self._woken_at:
            self._woken_at = time.monotonic()
        self._wake.set()

    # -- tailing --------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before reading: a commit after the read sets it again
            try:
                rows = await self._rows_after(self.last_seq, self.batch_size)
            except Exception:
                log.exception("page events: reading the outbox failed; retrying")
                await asyncio.sleep(self.poll_interval)
                continue
            if rows and self._woken_at:
                self.commit_lag.add((time.monotonic() - self._woken_at) * 1000)
            self._woken_at = 0.0
            self.ingest(rows, time.time())
            if len(rows) >= self.batch_size:
                continue
            if not self.pages:
                # Nobody to tell: read once a second in big batches (the
                # audience tracking still sees every event in order) rather
                # than a query per commit, which costs a busy server CPU.
                self._joined.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):
                        await self._joined.wait()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()

    async def _watch_loop(self, period: float = 0.05) -> None:
        while True:
            began = time.monotonic()
            await asyncio.sleep(period)
            self.loop_lag.add((time.monotonic() - began - period) * 1000)

    async def _rows_after(self, seq: int, limit: int) -> list[tuple[int, str, str]]:
        async with self.store.read() as session:
            result = await session.execute(
                select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.payload)
                .where(OutboxMessage.id > seq).order_by(OutboxMessage.id).limit(limit))
            return [(int(r[0]), str(r[1]), str(r[2])) for r in result]

    def ingest(self, rows: Iterable[tuple[int, str, str]],
               now: float | None = None) -> list[FeedEvent]:
        """Decide each row's audience, keep it, and queue it for the pages that may see it."""
        made = []
        for seq, topic, payload in rows:
            if seq <= self.last_seq:
                continue
            feed_event = self.decode(seq, topic, payload, self.tracker)
            if now is not None and feed_event.at:
                self.read_lag.add((now - feed_event.at) * 1000)
            self.last_seq = seq
            self.events_read += 1
            self.ring.append(feed_event)
            self.index[seq] = feed_event.audience
            if len(self.index) > self.index_size:
                self.index_floor, _ = self.index.popitem(last=False)
            self._fan_out(feed_event)
            made.append(feed_event)
        return made

    def decode(self, seq: int, topic: str, payload: str,
               tracker: AudienceTracker | None) -> FeedEvent:
        """The page frame for an outbox row; the audience comes from ``tracker`` if given."""
        try:
            body = json.loads(payload)
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        kind = str(body.get("kind") or "")
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        owner = _topic_owner(topic, self.store.topic_prefix)
        rule = TOPICS.get(kind)
        agent = owner if rule is not None and rule.scope == "agent" else None
        queue = body.get("queue") or (owner if rule is not None and rule.scope == "queue"
                                      else None)
        if agent is None and isinstance(data.get("agent"), str):
            agent = data["agent"]
        interaction_id = body.get("interaction_id")
        frame = json.dumps({
            "type": "event", "seq": seq, "kind": kind, "at": body.get("at"),
            "call_id": body.get("call_id"), "interaction_id": interaction_id,
            "agent": agent, "queue": queue, "event_id": body.get("event_id"), "data": data,
        }, ensure_ascii=False, separators=(",", ":"))
        audience = STAFF_ONLY
        if tracker is not None:
            audience = tracker.audience(
                kind, interaction_id=interaction_id if isinstance(interaction_id, str) else None,
                agent=owner if rule is not None and rule.scope == "agent" else None, data=data)
        return FeedEvent(seq, kind, frame, audience, _timestamp(body.get("at")))

    def _fan_out(self, feed_event: FeedEvent) -> None:
        audience = feed_event.audience
        targets: list[PageSubscriber] = list(self.staff)
        if audience.every_agent:
            for sockets in self.agents.values():
                targets.extend(sockets)
        else:
            for agent in audience.agents:
                targets.extend(self.agents.get(agent, ()))
        for subscriber in targets:
            subscriber.push(feed_event.frame)
            if subscriber.overflowed and subscriber.closed_reason is None:
                self.too_slow += 1
                log.warning("page of user=%s too slow at seq %d; closing it",
                            subscriber.viewer.name, feed_event.seq)
                subscriber.close("too slow")
        self.frames_queued += len(targets)

    # -- pages ----------------------------------------------------------------
    def attach(self, viewer: Viewer, since: int | None) -> tuple[PageSubscriber, ResumePlan]:
        """Register a page and plan what it gets before live events.

        Synchronous on purpose: the snapshot of the ring and the registration
        happen between two events, so the page gets each event exactly once.
        """
        subscriber = PageSubscriber(viewer, self.queue_limit)
        self._joined.set()
        if viewer.staff:
            self.staff.add(subscriber)
        elif viewer.role == "agent" and viewer.agent:
            self.agents.setdefault(viewer.agent, set()).add(subscriber)
        else:
            self.others.add(subscriber)
        latest = self.last_seq
        hello = json.dumps({"type": "hello", "seq": latest, "since": since,
                            "user": {"name": viewer.name, "role": viewer.role,
                                     "agent": viewer.agent},
                            "live": viewer.staff or viewer.role == "agent"})
        plan = ResumePlan(hello, None, [], [])
        if since is None or since == latest:
            return subscriber, plan
        why = self._cannot_resume(since)
        if why is not None:
            plan.reset = json.dumps({"type": "reset", "seq": latest, "reason": why})
            return subscriber, plan
        ring_first = self.ring[0].seq if self.ring else latest + 1
        if since + 1 < ring_first:
            plan.from_table = [(seq, audience) for seq, audience in self.index.items()
                               if since < seq < ring_first and viewer.sees(audience)]
        plan.backlog = [e.frame for e in self.ring if e.seq > since and viewer.sees(e.audience)]
        return subscriber, plan

    def _cannot_resume(self, since: int) -> str | None:
        if since < 0 or since > self.last_seq:
            return f"seq {since} is not one of this server's events (latest is {self.last_seq})"
        if since < self.floor:
            return f"events before seq {self.floor} happened before this server started"
        if since < self.index_floor:
            return f"events up to seq {self.index_floor} are no longer kept"
        return None

    async def read_back(self, plan: ResumePlan) -> list[str] | None:
        """The frames of ``plan.from_table`` from the outbox; None if some were purged."""
        wanted = dict(plan.from_table)
        if not wanted:
            return []
        frames: list[str] = []
        async with self.store.read() as session:
            result = await session.execute(
                select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.payload)
                .where(OutboxMessage.id.in_(list(wanted))).order_by(OutboxMessage.id))
            for seq, topic, payload in result:
                frames.append(self.decode(int(seq), str(topic), str(payload), None).frame)
        return frames if len(frames) == len(wanted) else None

    def detach(self, subscriber: PageSubscriber) -> None:
        viewer = subscriber.viewer
        self.staff.discard(subscriber)
        self.others.discard(subscriber)
        if viewer.agent and viewer.agent in self.agents:
            sockets = self.agents[viewer.agent]
            sockets.discard(subscriber)
            if not sockets:
                del self.agents[viewer.agent]

    def _all(self) -> list[PageSubscriber]:
        found = [*self.staff, *self.others]
        for sockets in self.agents.values():
            found.extend(sockets)
        return found

    def figures(self) -> dict[str, Any]:
        """For /health and benchmarks."""
        return {"pages": self.pages, "seq": self.last_seq, "events": self.events_read,
                "frames_queued": self.frames_queued, "closed_too_slow": self.too_slow,
                "ring": len(self.ring), "read_lag": self.read_lag.summary(),
                "send_lag": self.send_lag.summary(), "loop_lag": self.loop_lag.summary(),
                "commit_lag": self.commit_lag.summary()}


def _timestamp(value: object) -> float:
    # Queue figures are stamped to the second: useless for latency, left out.
    if not isinstance(value, str) or "." not in value:
        return 0.0
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return 0.0


def _topic_owner(topic: str, prefix: str) -> str | None:
    """The name after ``{prefix}/agents/`` or ``{prefix}/queues/`` in a topic."""
    parts = topic.split("/")
    base = len(prefix.split("/"))
    if len(parts) > base + 1 and parts[base] in ("agents", "queues"):
        return parts[base + 1]
    return None
