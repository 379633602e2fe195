"""From timeline events to contacts: what happened to each time a caller queued.

A contact starts at ``interaction.queued`` and ends in one outcome:
- ``answered``: an agent's leg was bridged to the caller (``call.bridged``);
- ``abandoned`` / ``timeout`` / other reason: ``interaction.dequeued`` said so;
- ``callback``: the caller asked to be called back (keeps its place elsewhere);
- ``lost``: the interaction ended with no dequeue recorded (e.g. a restart
  cut the call); counted as abandoned, since the caller got no agent;
- ``waiting``: none of the above yet.

An answered contact then has talk segments per agent (a transfer closes one
and opens the next), an end (the caller's call ended) and, per agent, a
wrap-up that lasts until the disposition was set. Pure functions: the same
code serves the reports and the live figures' restore after a restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class Event(Protocol):
    """What a timeline event must offer (store.contact_events.ContactEvent does)."""

    @property
    def interaction_id(self) -> str: ...
    @property
    def call_id(self) -> str | None: ...
    @property
    def at(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...


@dataclass
class Segment:
    agent: str
    start: datetime
    end: datetime | None = None

    def seconds(self, until: datetime | None = None) -> float:
        end = self.end or until
        return max(0.0, (end - self.start).total_seconds()) if end is not None else 0.0


@dataclass
class Contact:
    interaction_id: str
    queue: str
    skills: list[str]
    queued_at: datetime
    outcome: str = "waiting"
    left_at: datetime | None = None  # answered, dequeued, callback or lost
    answered_at: datetime | None = None
    agent: str | None = None  # who answered
    caller_call: str | None = None
    ended_at: datetime | None = None  # the conversation's end
    segments: list[Segment] = field(default_factory=list)
    offers: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    wrap_ups: list[tuple[str, float]] = field(default_factory=list)  # (agent, seconds)
    dispositions: list[tuple[str, str]] = field(default_factory=list)  # (agent, code)

    @property
    def waited_s(self) -> float | None:
        """Seconds in the queue until answered or gone (None while waiting)."""
        if self.left_at is None:
            return None
        return max(0.0, (self.left_at - self.queued_at).total_seconds())

    @property
    def handle_s(self) -> float | None:
        """Answer to end of the conversation (None until it ended)."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.answered_at).total_seconds())

    @property
    def abandoned(self) -> bool:
        return self.outcome in ("abandoned", "lost")

    def talk_by_agent(self) -> dict[str, float]:
        talk: dict[str, float] = {}
        for segment in self.segments:
            talk[segment.agent] = talk.get(segment.agent, 0.0) + segment.seconds(self.ended_at)
        return talk


def build_contacts(events: Iterable[Event]) -> list[Contact]:
    """Contacts from events, in the order the interactions first queued.

    Events of one interaction must come in timeline order; interactions may be
    interleaved. An interaction that queues twice (e.g. overflow to a second
    queue) gives two contacts.
    """
    contacts: list[Contact] = []
    current: dict[str, Contact] = {}  # interaction id -> its latest contact
    for event in events:
        kind, data, at = event.kind, event.data, event.at
        if kind == "interaction.queued":
            contact = Contact(event.interaction_id, str(data.get("queue") or "-"),
                              [str(s) for s in data.get("skills") or []], at)
            current[event.interaction_id] = contact
            contacts.append(contact)
            continue
        contact = current.get(event.interaction_id)
        if contact is None:
            continue
        _apply(contact, kind, data, at, event.call_id)
    return sorted(contacts, key=lambda c: c.queued_at)


def _apply(contact: Contact, kind: str, data: dict[str, Any], at: datetime,
           call_id: str | None) -> None:
    waiting = contact.outcome == "waiting"
    agent = data.get("agent")
    if kind == "interaction.assigned" and waiting and isinstance(agent, str):
        contact.offers.append(agent)
    elif kind == "interaction.offer_missed" and waiting and isinstance(agent, str):
        contact.missed.append(agent)
    elif kind == "call.bridged" and waiting and isinstance(agent, str):
        contact.outcome, contact.left_at, contact.answered_at = "answered", at, at
        contact.agent, contact.caller_call = agent, call_id
        contact.segments.append(Segment(agent, at))
    elif kind == "interaction.dequeued" and waiting:
        contact.outcome, contact.left_at = str(data.get("reason") or "dequeued"), at
    elif kind == "callback.requested" and waiting:
        contact.outcome, contact.left_at = "callback", at
    elif kind == "call.transferred" and contact.outcome == "answered" \
            and contact.ended_at is None and isinstance(data.get("to"), str):
        if contact.segments and contact.segments[-1].end is None:
            contact.segments[-1].end = at
        contact.segments.append(Segment(data["to"], at))
    elif kind == "call.ended" and contact.outcome == "answered" and contact.ended_at is None \
            and call_id is not None and call_id == contact.caller_call:
        _end(contact, at)
    elif kind == "interaction.ended":
        if waiting:
            contact.outcome, contact.left_at = "lost", at
        elif contact.outcome == "answered" and contact.ended_at is None:
            _end(contact, at)
    elif kind == "interaction.disposition_set" and contact.outcome == "answered" \
            and isinstance(agent, str):
        code = data.get("disposition")
        if isinstance(code, str) and code:
            contact.dispositions.append((agent, code))
        if contact.ended_at is not None and at >= contact.ended_at:
            contact.wrap_ups.append((agent, (at - contact.ended_at).total_seconds()))


def _end(contact: Contact, at: datetime) -> None:
    contact.ended_at = at
    if contact.segments and contact.segments[-1].end is None:
        contact.segments[-1].end = at
