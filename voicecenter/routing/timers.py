"""Deadlines of waiting interactions: widening steps, sticky windows, overflow.

The router never sleeps; it keeps these deadlines in one heap and handles
those that are due when ``decide(now)`` is called, and ``next_due()`` tells
the service when to call it next. A deadline belongs to one stay in the
queue (the interaction's generation): when an offer is missed and the
interaction comes back, its deadlines are scheduled again and the old ones
are simply ignored when they come up.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from enum import IntEnum

from voicecenter.routing.model import Interaction


class Deadline(IntEnum):
    WIDEN = 0
    STICKY_END = 1
    OVERFLOW = 2
    RETRY = 3


# (due, order of scheduling, kind, argument, generation, interaction)
_Timer = tuple[float, int, Deadline, int, int, Interaction]


class Timers:
    def __init__(self) -> None:
        self._heap: list[_Timer] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, due: float, kind: Deadline, it: Interaction, arg: int = 0) -> None:
        heapq.heappush(self._heap, (due, self._seq, kind, arg, it.generation, it))
        self._seq += 1

    def due(self, now: float) -> bool:
        return bool(self._heap) and self._heap[0][0] <= now

    def next_due(self) -> float | None:
        """When the earliest deadline of a still-waiting interaction falls."""
        heap = self._heap
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> Iterator[tuple[Deadline, Interaction, int]]:
        """Due deadlines of interactions still waiting in the same stay, oldest first."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            timer = heapq.heappop(heap)
            if self._live(timer):
                yield timer[2], timer[5], timer[3]

    @staticmethod
    def _live(timer: _Timer) -> bool:
        it = timer[5]
        return it.waiting and it.generation == timer[4]
