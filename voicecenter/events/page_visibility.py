"""Who may see an event live on a web page: the audience of each outbox row.

Admins and supervisors see everything. An agent's page may only carry what
is about that agent: their own agent record, queue figures (counts, no
customer data), and the interactions handed to them, with the calls of those
interactions, from the offer until the interaction ends, the offer is missed
or the interaction is transferred to someone else. QA reviewers see nothing
live: they review finished interactions over REST, where every access is
audited. Silent monitoring stays silent: an agent's page learns of a
supervisor only when the supervisor whispers or barges in (the agent hears
them then anyway), never in listen mode.

The audience is decided once per event, in outbox order, by ``AudienceTracker``
(which follows assignments and transfers), and stored next to the event. A
page that resumes later is filtered with the audience the event had when it
happened, not with today's assignments, so an interaction that moved to
another agent never leaks its earlier events to them, nor its later ones to
the first.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from voicecenter.events.topics import TOPICS

log = logging.getLogger("voicecenter.events.pages")

STAFF_ROLES = frozenset({"admin", "supervisor"})


@dataclass(frozen=True, slots=True)
class Audience:
    """The agents (besides staff, who see everything) whose pages get an event."""

    agents: frozenset[str] = field(default_factory=frozenset)
    every_agent: bool = False

    def admits(self, agent: str) -> bool:
        return self.every_agent or agent in self.agents


STAFF_ONLY = Audience()
EVERY_AGENT = Audience(every_agent=True)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The user behind a page: what the auth layer says about them."""

    name: str
    role: str
    agent: str | None = None

    @property
    def staff(self) -> bool:
        return self.role in STAFF_ROLES

    def sees(self, audience: Audience) -> bool:
        if self.role in STAFF_ROLES:
            return True
        if self.role == "agent" and self.agent:
            return audience.admits(self.agent)
        return False


# Events that bring an agent into an interaction (the key in data naming them).
_JOINS: dict[str, str] = {
    "interaction.assigned": "agent",
    "call.transfer_started": "to",
    "call.consult_started": "to",
    "callback.connected": "agent",
}
# Events after which the named agent is out of it (they still get that event).
_LEAVES: dict[str, str] = {
    "interaction.offer_missed": "agent",
    "interaction.offer_rejected": "agent",
    "call.transfer_failed": "to",
    "call.transfer_cancelled": "agent",
    "call.conference_left": "agent",
    "call.transferred": "from",
}
# Supervision is shown to the agent only in the modes the agent can hear.
_AUDIBLE_MODES = frozenset({"whisper", "barge"})
# Where each kind names the agents it is about. Only these kinds: elsewhere the
# same keys mean other things (a chat line's "from" is "customer" or "system",
# and an agent may well be called "system").
_NAMING: dict[str, tuple[str, ...]] = {
    "interaction.assigned": ("agent",),
    "interaction.offer_missed": ("agent",),
    "interaction.offer_rejected": ("agent",),
    "interaction.disposition_set": ("agent",),
    "call.transfer_started": ("from", "to"),
    "call.transfer_failed": ("to",),
    "call.consult_started": ("from", "to"),
    "call.transfer_cancelled": ("agent",),
    "call.transferred": ("from", "to"),
    "call.conference_started": ("agents",),
    "call.conference_left": ("agent", "caller_stays_with"),
    "callback.connected": ("agent",),
    "recording.completed": ("agents",),
}


def agents_named(kind: str, data: dict[str, Any]) -> set[str]:
    """Agents an event of ``kind`` is about, by the keys ``_NAMING`` lists for it."""
    named: set[str] = set()
    for key in _NAMING.get(kind, ()):
        value = data.get(key)
        if isinstance(value, str) and value:
            named.add(value)
        elif isinstance(value, list):
            named.update(item for item in value if isinstance(item, str) and item)
    return named


class AudienceTracker:
    """Follows which agents are in which interaction, event by event.

    ``audience`` must see every event once, in outbox order. Interactions
    that never end (a crash before ``interaction.ended``) are forgotten oldest
    first beyond ``max_interactions``, so memory stays bounded.
    """

    def __init__(self, max_interactions: int = 50_000) -> None:
        self.followers: OrderedDict[str, set[str]] = OrderedDict()
        self.max_interactions = max_interactions
        # Interactions whose agent was told a supervisor is on (whisper, barge).
        self.announced: set[str] = set()

    def audience(self, kind: str, *, interaction_id: str | None = None,
                 agent: str | None = None, data: dict[str, Any] | None = None) -> Audience:
        rule = TOPICS.get(kind)
        if rule is None:
            return STAFF_ONLY
        if rule.scope == "agent":
            return Audience(frozenset({agent})) if agent else STAFF_ONLY
        if rule.scope == "queue":
            return EVERY_AGENT
        data = data or {}
        if kind.startswith("call.supervision_"):
            return self._supervision(kind, interaction_id, data)
        named = agents_named(kind, data)
        if not interaction_id:
            return Audience(frozenset(named)) if named else STAFF_ONLY
        followers = self.followers.get(interaction_id)
        joining = self._joining(kind, data)
        if joining:
            if followers is None:
                followers = self.followers[interaction_id] = set()
                self._trim()
            followers.update(joining)
        audience = named | (followers or set())
        if followers is not None:
            leaving = data.get(_LEAVES.get(kind, ""))
            if isinstance(leaving, str):
                followers.discard(leaving)
            if kind == "interaction.ended":
                del self.followers[interaction_id]
        if kind == "interaction.ended":
            self.announced.discard(interaction_id)
        return Audience(frozenset(audience)) if audience else STAFF_ONLY

    def _supervision(self, kind: str, interaction_id: str | None,
                     data: dict[str, Any]) -> Audience:
        if not interaction_id:
            return STAFF_ONLY
        if kind == "call.supervision_started" and data.get("mode") in _AUDIBLE_MODES:
            self.announced.add(interaction_id)
        elif interaction_id in self.announced:
            # Back to listen, or gone: the agent knew and stops hearing them.
            self.announced.discard(interaction_id)
        else:
            return STAFF_ONLY  # silent monitoring: the agent is not told
        followers = self.followers.get(interaction_id)
        return Audience(frozenset(followers)) if followers else STAFF_ONLY

    def following(self, interaction_id: str) -> frozenset[str]:
        return frozenset(self.followers.get(interaction_id, ()))

    @staticmethod
    def _joining(kind: str, data: dict[str, Any]) -> Iterable[str]:
        if kind == "call.conference_started":
            listed = data.get("agents")
            return [a for a in listed if isinstance(a, str) and a] if isinstance(listed, list) \
                else []
        key = _JOINS.get(kind)
        value = data.get(key) if key else None
        return [value] if isinstance(value, str) and value else []

    def _trim(self) -> None:
        while len(self.followers) > self.max_interactions:
            dropped, _ = self.followers.popitem(last=False)
            log.warning("interaction=%s forgotten by page events (too many open)", dropped)
