"""Routing rules that hold for the whole router.

One aging rate for every interaction is a deliberate limit: with it, the
order "priority + aging x seconds waited" never changes as time passes (the
``aging x now`` term is the same for all), so the queue is a set of heaps
keyed once at enqueue instead of a list re-sorted at every tick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from voicecenter.routing.errors import InvalidRouting


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_OCCUPIED = "least_occupied"
    SKILL_LEVEL = "skill_level"
    ROUND_ROBIN = "round_robin"


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """How the router chooses.

    strategy: which of several matching agents gets an interaction.
    aging_per_second: priority an interaction gains per second waited.
    segment_rank: segments served ahead of everyone else, higher rank first
      (priority and aging only order interactions within one rank).
    sticky_seconds: default window during which only the preferred agent may
      take an interaction (while that agent is logged in and not away).
    max_misses: offers missed in a row that put an agent in away.
    missed_retry_after: seconds before an interaction is offered again to an
      agent who missed it (others get it first; a lone agent gets it again).
    call_during_digital: may an agent holding chats or SMS get a call.
    digital_during_call: may an agent on a call get new chats or SMS.
    explain_others: how many other matching agents an explanation names.
    """

    strategy: Strategy = Strategy.LONGEST_IDLE
    aging_per_second: float = 0.0
    segment_rank: Mapping[str, int] = field(default_factory=lambda: {"vip": 1})
    sticky_seconds: float = 30.0
    max_misses: int = 2
    missed_retry_after: float = 30.0
    call_during_digital: bool = True
    digital_during_call: bool = False
    explain_others: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        if self.aging_per_second < 0:
            raise InvalidRouting("aging_per_second must be >= 0")
        if self.sticky_seconds < 0 or self.missed_retry_after < 0:
            raise InvalidRouting("sticky_seconds and missed_retry_after must be >= 0")
        if self.max_misses < 1:
            raise InvalidRouting("max_misses must be >= 1")
        if self.explain_others < 0:
            raise InvalidRouting("explain_others must be >= 0")
        object.__setattr__(self, "segment_rank", dict(self.segment_rank))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouterConfig:
        """Build from a settings section; unknown keys are an error, not ignored."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRouting(f"unknown routing settings: {', '.join(unknown)}")
        return cls(**data)
