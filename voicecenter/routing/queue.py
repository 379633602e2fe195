"""The one universal queue, indexed so that an agent finds its best work fast.

Logically there is a single queue ordered by (segment rank, priority with
aging, enqueue time, arrival number). Physically interactions are grouped in
buckets of identical requirements (channel + required skills and levels),
each a heap in that same order, and buckets are indexed by channel and by
one of their skills. A freed agent then looks only at the heads of the
buckets it qualifies for (a few dozen with 50 skills) instead of at 10,000
waiting interactions; the best head is the best interaction for it in the
universal order. Interactions held for a sticky agent wait in that agent's
own bucket. Heaps delete lazily: an entry whose token is no longer the
interaction's current one is stale and is dropped when it reaches the top.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Mapping

from voicecenter.routing.model import CHANNELS, Agent, Channel, Interaction

# (minus segment rank, minus base priority, enqueued_at, arrival number, token, interaction)
Entry = tuple[float, float, float, int, int, Interaction]
BucketKey = tuple[object, ...]
IndexKey = str | tuple[str, str]
AgentKey = tuple[IndexKey, tuple[int, ...]]  # an index key and the agent's levels for it
ANY_SKILL = ""


def index_key(requirements: tuple[tuple[str, int], ...]) -> IndexKey:
    if not requirements:
        return ANY_SKILL
    if len(requirements) == 1:
        return requirements[0][0]
    return (requirements[0][0], requirements[1][0])


def agent_keys(skills: Mapping[str, int]) -> list[AgentKey]:
    """Index keys under which an agent with ``skills`` may find work, with its levels."""
    items = sorted(skills.items())
    keys: list[AgentKey] = []
    keys.extend((skill, (level,)) for skill, level in items)
    keys.extend(((a, b), (la, lb)) for i, (a, la) in enumerate(items) for b, lb in items[i + 1:])
    return keys


class Bucket:
    """Waiting interactions with the same requirements (or one sticky agent's).

    A bucket is indexed under its one required skill, or under the pair of
    its first two (sorted) skills, so that an agent looks only at buckets
    whose indexed skills it has; ``levels`` are the minimum levels of those
    skills, compared inline, and ``rest`` any further requirements.
    """

    __slots__ = ("channel", "heap", "index_key", "key", "levels", "live", "owner",
                 "requirements", "rest")

    def __init__(self, key: BucketKey, channel: Channel,
                 requirements: tuple[tuple[str, int], ...], owner: str | None) -> None:
        self.key = key
        self.channel = channel
        self.requirements = requirements
        self.owner = owner
        self.index_key: IndexKey = index_key(requirements)
        self.levels = tuple(level for _, level in requirements[:2])
        self.rest = requirements[2:]
        self.heap: list[Entry] = []
        self.live = 0


def _has_all(skills: Mapping[str, int], requirements: tuple[tuple[str, int], ...]) -> bool:
    for skill, level in requirements:
        if skills.get(skill, -1) < level:
            return False
    return True


def _excluded(it: Interaction, agent_id: str, now: float) -> bool:
    return bool(it.missed_by) and it.missed_by.get(agent_id, -math.inf) > now


class WaitingQueue:
    def __init__(self, segment_rank: Mapping[str, int], aging_per_second: float) -> None:
        self._rank = dict(segment_rank)
        self._aging = aging_per_second
        self._buckets: dict[BucketKey, Bucket] = {}
        self._index: dict[Channel, dict[IndexKey, dict[BucketKey, Bucket]]] = {
            c: {} for c in CHANNELS}
        self._agent_keys: dict[str, tuple[Mapping[str, int], list[AgentKey]]] = {}
        self._waiting: dict[str, Interaction] = {}
        self._home: dict[str, Bucket] = {}
        self._token: dict[str, int] = {}
        self._next_token = 0
        self._next_seq = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, interaction_id: object) -> bool:
        return interaction_id in self._waiting

    def get(self, interaction_id: str) -> Interaction | None:
        return self._waiting.get(interaction_id)

    def effective_priority(self, it: Interaction, now: float) -> float:
        return it.priority + self._aging * (now - it.enqueued_at)

    def add(self, it: Interaction, sticky_owner: str | None) -> None:
        """Queue ``it``; on its first visit fix its key, later keep it (same place)."""
        if it.sort_key[3] < 0:
            # priority + aging*(now - enq) orders like priority - aging*enq: no 'now'.
            base = it.priority - self._aging * it.enqueued_at
            it.sort_key = (-self._rank.get(it.segment or "", 0), -base, it.enqueued_at,
                           self._next_seq)
            self._next_seq += 1
        it.waiting = True
        self._waiting[it.id] = it
        self._place(it, sticky_owner)

    def move(self, it: Interaction, sticky_owner: str | None) -> None:
        """Re-file a waiting interaction after its requirements or stickiness changed."""
        self._unplace(it)
        self._place(it, sticky_owner)

    def discard(self, it: Interaction) -> None:
        self._unplace(it)
        it.waiting = False
        del self._waiting[it.id]

    def sticky_owner(self, it: Interaction) -> str | None:
        home = self._home.get(it.id)
        return home.owner if home is not None else None

    def held_for(self, agent_id: str) -> list[Interaction]:
        """Interactions waiting in ``agent_id``'s sticky buckets."""
        tokens = self._token
        held: list[Interaction] = []
        for channel in CHANNELS:
            bucket = self._buckets.get(("sticky", agent_id, channel))
            if bucket is not None:
                held.extend(e[5] for e in bucket.heap if tokens.get(e[5].id) == e[4])
        return held

    def best_for(self, agent: Agent, channel: Channel, now: float) -> Entry | None:
        """The best waiting interaction on ``channel`` that ``agent`` may take now.

        The hot path of routing: inlined level checks and head peeks, with the
        general ``_head`` only when the top entry is stale or was missed.
        """
        best: Entry | None = None
        sticky = self._buckets.get(("sticky", agent.id, channel))
        if sticky is not None:
            best = self._head(sticky, agent.id, now)
        index = self._index[channel]
        skills = agent.skills
        cached = self._agent_keys.get(agent.id)
        if cached is None or cached[0] is not skills:
            cached = self._agent_keys[agent.id] = (skills, agent_keys(skills))
        tokens = self._token
        for key, levels in ((ANY_SKILL, ()), *cached[1]):
            group = index.get(key)
            if not group:
                continue
            for bucket in group.values():
                needed = bucket.levels
                if needed:
                    if needed[0] > levels[0]:
                        continue
                    if len(needed) > 1:
                        if needed[1] > levels[1]:
                            continue
                        if bucket.rest and not _has_all(skills, bucket.rest):
                            continue
                heap = bucket.heap
                if not heap:
                    continue
                head = heap[0]
                if tokens.get(head[5].id) != head[4] or head[5].missed_by:
                    head = self._head(bucket, agent.id, now)
                    if head is None:
                        continue
                if best is None or head < best:
                    best = head
        return best

    def forget_agent(self, agent_id: str) -> None:
        """Drop what was cached for an agent that left the router."""
        self._agent_keys.pop(agent_id, None)

    def ordered(self) -> list[Interaction]:
        """Every waiting interaction in queue order (for position announcements, pages)."""
        return sorted(self._waiting.values(), key=lambda it: it.sort_key)

    def position(self, interaction_id: str) -> int:
        """1-based place among interactions of the same channel; O(waiting)."""
        it = self._waiting[interaction_id]
        return 1 + sum(1 for o in self._waiting.values()
                       if o.channel is it.channel and o.sort_key < it.sort_key)

    def __iter__(self) -> Iterator[Interaction]:
        return iter(list(self._waiting.values()))

    def _place(self, it: Interaction, owner: str | None) -> None:
        if owner is not None:
            key: BucketKey = ("sticky", owner, it.channel)
            requirements: tuple[tuple[str, int], ...] = ()
        else:
            requirements = tuple(sorted(it.requirements().items()))
            key = (it.channel, requirements)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(key, it.channel, requirements, owner)
            if owner is None:
                group = self._index[it.channel].setdefault(bucket.index_key, {})
                group[key] = bucket
        token = self._next_token
        self._next_token += 1
        self._token[it.id] = token
        self._home[it.id] = bucket
        bucket.live += 1
        rank, base, enq, seq = it.sort_key
        heapq.heappush(bucket.heap, (rank, base, enq, seq, token, it))

    def _unplace(self, it: Interaction) -> None:
        bucket = self._home.pop(it.id)
        del self._token[it.id]
        bucket.live -= 1
        if bucket.live == 0:
            del self._buckets[bucket.key]
            if bucket.owner is None:
                group = self._index[bucket.channel][bucket.index_key]
                del group[bucket.key]
                if not group:
                    del self._index[bucket.channel][bucket.index_key]
        elif len(bucket.heap) > 2 * bucket.live + 32:
            tokens = self._token
            bucket.heap = [e for e in bucket.heap if tokens.get(e[5].id) == e[4]]
            heapq.heapify(bucket.heap)

    def _head(self, bucket: Bucket, agent_id: str, now: float) -> Entry | None:
        heap = bucket.heap
        tokens = self._token
        while heap:
            entry = heap[0]
            if tokens.get(entry[5].id) != entry[4]:
                heapq.heappop(heap)
                continue
            if _excluded(entry[5], agent_id, now):
                return self._scan(bucket, agent_id, now)
            return entry
        return None

    def _scan(self, bucket: Bucket, agent_id: str, now: float) -> Entry | None:
        """Best entry not excluded for this agent: linear, only after a missed offer."""
        tokens = self._token
        valid = [e for e in bucket.heap
                 if tokens.get(e[5].id) == e[4] and not _excluded(e[5], agent_id, now)]
        return min(valid, default=None)
