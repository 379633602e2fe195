"""What the router reasons about: agents, interactions and their routing rules.

Plain mutable records with slots. The router owns them once they are added
and changes them only through its own methods, so a service can read them
(figures, an agents page) without copies. Times are plain numbers of seconds
handed in by the caller: nothing here reads a clock, which is what lets tests
and bench/router replay hours of traffic in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import Any

from voicecenter.routing.errors import InvalidRouting


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    SMS = "sms"


CHANNELS: tuple[Channel, ...] = tuple(Channel)
DIGITAL: tuple[Channel, ...] = (Channel.CHAT, Channel.SMS)


class AgentState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RESERVED = "reserved"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    AWAY = "away"


# An agent in one of these states may get a new offer on a channel where it
# has free capacity: reserved and busy agents too, so one can hold several chats.
OFFERABLE = frozenset({AgentState.AVAILABLE, AgentState.RESERVED, AgentState.BUSY})

# A voice call takes the whole person: never more than one at a time.
MAX_VOICE = 1
DEFAULT_CAPACITY: Mapping[Channel, int] = {Channel.VOICE: 1, Channel.CHAT: 3, Channel.SMS: 3}


def _check_skills(skills: Mapping[str, int], what: str) -> dict[str, int]:
    checked: dict[str, int] = {}
    for name, level in skills.items():
        if not isinstance(name, str) or not name:
            raise InvalidRouting(f"{what}: skill names are non-empty strings, got {name!r}")
        if not isinstance(level, int) or isinstance(level, bool) or level < 0:
            raise InvalidRouting(f"{what}: level of {name!r} must be an integer >= 0")
        checked[name] = level
    return checked


@dataclass(slots=True, eq=False)
class Agent:
    """An agent as routing sees it: skills, capacity per channel, state and load.

    ``load`` counts offers and handled interactions per channel; ``idle_since``
    is when the agent last became free of work (the longest-idle strategy
    reads it); ``misses`` counts offers missed in a row. The two optional
    channel rules override the router's configuration for this one agent.
    """

    id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    team: str | None = None
    capacity: Mapping[Channel, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    state: AgentState = AgentState.OFFLINE
    state_since: float = 0.0
    idle_since: float = 0.0
    reason: str | None = None
    call_during_digital: bool | None = None
    digital_during_call: bool | None = None
    load: dict[Channel, int] = field(default_factory=dict)
    misses: int = 0
    ordinal: int = -1

    def __post_init__(self) -> None:
        self.skills = _check_skills(self.skills, f"agent {self.id!r}")
        capacity: dict[Channel, int] = dict.fromkeys(CHANNELS, 0)
        for channel, slots in self.capacity.items():
            channel = Channel(channel)
            if not isinstance(slots, int) or slots < 0:
                raise InvalidRouting(f"agent {self.id!r}: capacity on {channel} must be >= 0")
            capacity[channel] = slots
        if capacity[Channel.VOICE] > MAX_VOICE:
            raise InvalidRouting(f"agent {self.id!r}: at most {MAX_VOICE} call at a time")
        self.capacity = capacity
        self.state = AgentState(self.state)
        self.load = {channel: int(self.load.get(channel, 0)) for channel in CHANNELS}

    def total_load(self) -> int:
        return sum(self.load.values())

    def occupancy(self) -> float:
        """The fullest channel's share of its capacity: 1.0 on a call, 1/3 with one of 3 chats."""
        return max((self.load[c] / n for c, n in self.capacity.items() if n), default=1.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "skills": dict(self.skills), "team": self.team,
            "state": str(self.state), "state_since": self.state_since, "reason": self.reason,
            "idle_since": self.idle_since, "misses": self.misses,
            "capacity": {str(c): n for c, n in self.capacity.items()},
            "load": {str(c): n for c, n in self.load.items()},
        }


@dataclass(frozen=True, slots=True)
class TargetStep:
    """After ``after`` seconds of waiting, these skills are enough (empty: anyone)."""

    after: float
    skills: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OverflowRule:
    """After ``after`` seconds, overflow to ``target``.

    With ``skills`` the interaction keeps its place and waits for those skills
    instead (another agent group); without, it leaves the queue and the
    service carries it to ``target`` (voicemail, callback, an external number).
    """

    after: float
    target: str
    skills: Mapping[str, int] | None = None


@dataclass(slots=True, eq=False)
class Interaction:
    """A call, chat or SMS conversation waiting for (or held by) an agent.

    ``widen`` lists expanding targets after the initial ``skills``;
    ``sticky_for`` (None: the router's default) is how long only
    ``preferred_agent`` may take it. The fields after ``overflow`` belong to
    the router: the queue key (fixed at the first enqueue, so a missed offer
    puts it back at the same place), the widening stage and missed offers.
    """

    id: str
    channel: Channel
    skills: Mapping[str, int] = field(default_factory=dict)
    priority: float = 0.0
    segment: str | None = None
    enqueued_at: float = 0.0
    preferred_agent: str | None = None
    sticky_for: float | None = None
    widen: tuple[TargetStep, ...] = ()
    overflow: OverflowRule | None = None
    sort_key: tuple[float, float, float, int] = (0.0, 0.0, 0.0, -1)
    stage: int = 0
    retarget: Mapping[str, int] | None = None
    overflowed: bool = False
    sticky_done: bool = False
    waiting: bool = False
    generation: int = 0
    missed_by: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.channel = Channel(self.channel)
        what = f"interaction {self.id!r}"
        self.skills = _check_skills(self.skills, what)
        steps = tuple(self.widen)
        for step in steps:
            _check_skills(step.skills, what)
        if any(b.after <= a.after for a, b in pairwise(steps)):
            raise InvalidRouting(f"{what}: widening steps must come at growing waits")
        self.widen = steps
        if self.overflow is not None and self.overflow.skills is not None:
            _check_skills(self.overflow.skills, what)

    def requirements(self) -> Mapping[str, int]:
        """Skills required now: overflow's retarget, else the widest step reached."""
        if self.retarget is not None:
            return self.retarget
        if self.stage:
            return self.widen[self.stage - 1].skills
        return self.skills

    def waited(self, now: float) -> float:
        return now - self.enqueued_at
