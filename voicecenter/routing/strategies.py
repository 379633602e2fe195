"""Choosing one agent among those who match: the configurable strategies.

Each strategy is a sort key (smaller is better) plus the one figure that an
explanation shows for it. Every key ends with the agent's ordinal (the order
agents were added), so ties are broken the same way on every run: set
iteration order must never decide who gets a call.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from voicecenter.routing.config import Strategy
from voicecenter.routing.model import Agent

SortKey = tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Choice:
    agent: Agent
    score: float
    matched: int
    others: tuple[tuple[str, float], ...]


def _functions(strategy: Strategy, requirements: Mapping[str, int], now: float,
               cursor: int, ring: int) -> tuple[Callable[[Agent], SortKey],
                                                Callable[[Agent], float]]:
    if strategy is Strategy.LONGEST_IDLE:
        return (lambda a: (a.idle_since, a.ordinal)), (lambda a: round(now - a.idle_since, 3))
    if strategy is Strategy.LEAST_OCCUPIED:
        return ((lambda a: (a.occupancy(), a.idle_since, a.ordinal)),
                (lambda a: round(a.occupancy(), 3)))
    if strategy is Strategy.SKILL_LEVEL:
        def level(a: Agent) -> float:
            return float(sum(a.skills.get(s, 0) for s in requirements))
        return (lambda a: (-level(a), a.idle_since, a.ordinal)), level
    if strategy is Strategy.ROUND_ROBIN:
        # Distance after the last agent served, around the ring of ordinals.
        def distance(a: Agent) -> float:
            return float((a.ordinal - cursor - 1) % ring)
        return (lambda a: (distance(a), a.ordinal)), distance
    raise ValueError(f"unknown strategy {strategy!r}")


def choose(strategy: Strategy, agents: list[Agent], requirements: Mapping[str, int],
           now: float, *, cursor: int, ring: int, others: int) -> Choice:
    """The best of ``agents`` (non-empty) and, for the explanation, the runners-up."""
    key, shown = _functions(strategy, requirements, now, cursor, max(ring, 1))
    if len(agents) == 1 or others == 0:
        best = agents[0] if len(agents) == 1 else min(agents, key=key)
        return Choice(best, shown(best), len(agents), ())
    ranked = heapq.nsmallest(others + 1, agents, key=key)
    return Choice(ranked[0], shown(ranked[0]), len(agents),
                  tuple((a.id, shown(a)) for a in ranked[1:]))
