"""What the router returns: decisions, each carrying why it was taken.

The router never acts; the routing service carries out an Assign (reserve
the agent, ring the softphone, push the chat) or an Overflow (voicemail,
callback) and logs ``reason.to_dict()`` on the interaction's timeline, so a
supervisor can later answer "why did this call go to Bob?".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voicecenter.routing.model import Channel


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a decision was taken.

    rule: "sticky" (the preferred agent), "strategy" (chosen among matches by
      ``strategy``) or "overflow" (maximum wait reached).
    score: the chosen agent's figure under the strategy (seconds idle,
      occupancy, skill level, round-robin distance); ``others`` the next
      best matching agents with theirs; ``matched`` how many agents matched.
    """

    rule: str
    requirements: Mapping[str, int]
    stage: int
    waited: float
    effective_priority: float
    segment: str | None = None
    strategy: str | None = None
    score: float | None = None
    matched: int = 0
    others: tuple[tuple[str, float], ...] = ()
    target: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "requirements": dict(self.requirements),
            "stage": self.stage,
            "waited": round(self.waited, 3),
            "effective_priority": round(self.effective_priority, 3),
            "segment": self.segment,
        }
        if self.strategy is not None:
            data["strategy"] = self.strategy
            data["score"] = self.score
            data["matched"] = self.matched
            data["others"] = [{"agent_id": a, "score": s} for a, s in self.others]
        if self.target is not None:
            data["target"] = self.target
        if self.notes:
            data["notes"] = list(self.notes)
        return data


@dataclass(frozen=True, slots=True)
class Assign:
    """Offer ``interaction_id`` to ``agent_id``; the agent is already reserved for it."""

    interaction_id: str
    agent_id: str
    channel: Channel
    reason: Explanation

    def to_dict(self) -> dict[str, Any]:
        return {"decision": "assign", "interaction_id": self.interaction_id,
                "agent_id": self.agent_id, "channel": str(self.channel),
                "reason": self.reason.to_dict()}


@dataclass(frozen=True, slots=True)
class Overflow:
    """``interaction_id`` waited too long: carry it to ``target``.

    ``requeued`` tells whether it still waits in the router (retargeted to
    other skills) or has left the queue for the service to handle.
    """

    interaction_id: str
    target: str
    requeued: bool
    reason: Explanation

    def to_dict(self) -> dict[str, Any]:
        return {"decision": "overflow", "interaction_id": self.interaction_id,
                "target": self.target, "requeued": self.requeued,
                "reason": self.reason.to_dict()}


Decision = Assign | Overflow
