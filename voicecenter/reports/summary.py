"""Report arithmetic: per day and queue, per day and agent, from contacts.

Definitions (the same as the live figures, so a day's report and the
wallboard agree):
- offered: every time a caller queued; answered + abandoned + the rest
  (timeouts to an overflow branch, callbacks asked for, still waiting);
- service level: answered within ``threshold_s`` / (answered + abandoned),
  in percent; timeouts and callbacks are left out, as on the wallboard;
- ASA (average speed of answer): mean wait of answered contacts;
- talk time: answer to end of the conversation, split between agents at a
  transfer; wrap-up time: end of the conversation to the agent's disposition
  (wrap-ups that ran out on their timer set no disposition and are not on
  the timeline, so they count zero);
- AHT (average handle time): (talk + wrap-up) / handled conversations, the
  usual contact-center definition. The wallboard's live AHT is answer to end
  only, because a wrap-up may not be over yet.
A contact belongs to the day (in the report's time zone) it queued on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import Any

from .contacts import Contact


def service_level(waits: Iterable[float], abandoned: int, threshold_s: float) -> float | None:
    """Percent of (answered + abandoned) answered within ``threshold_s``; None if none."""
    items = list(waits)
    offered = len(items) + abandoned
    if offered == 0:
        return None
    within = sum(1 for wait in items if wait <= threshold_s)
    return round(100.0 * within / offered, 1)


def average(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None


def average_speed_of_answer(waits: Iterable[float]) -> float | None:
    items = list(waits)
    return average(sum(items), len(items))


def average_handle_time(talk_s: float, wrap_up_s: float, handled: int) -> float | None:
    return average(talk_s + wrap_up_s, handled)


@dataclass
class Tally:
    """Counts and sums for one row (a day and a queue, or a day and an agent)."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    timeouts: int = 0
    callbacks: int = 0
    waiting: int = 0
    missed: int = 0
    handled: int = 0
    waits: list[float] = field(default_factory=list)  # answered contacts' waits
    longest_wait_s: float = 0.0
    talk_s: float = 0.0
    wrap_up_s: float = 0.0
    dispositions: dict[str, int] = field(default_factory=dict)

    def count_outcome(self, contact: Contact) -> None:
        self.offered += 1
        wait = contact.waited_s
        if wait is not None:
            self.longest_wait_s = max(self.longest_wait_s, wait)
        if contact.outcome == "answered":
            self.answered += 1
            self.waits.append(wait or 0.0)
        elif contact.abandoned:
            self.abandoned += 1
        elif contact.outcome == "callback":
            self.callbacks += 1
        elif contact.outcome == "waiting":
            self.waiting += 1
        else:
            self.timeouts += 1

    def dispose(self, code: str) -> None:
        self.dispositions[code] = self.dispositions.get(code, 0) + 1

    def figures(self, threshold_s: float) -> dict[str, Any]:
        return {
            "offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
            "timeouts": self.timeouts, "callbacks": self.callbacks, "waiting": self.waiting,
            "missed_offers": self.missed, "handled": self.handled,
            "service_level": service_level(self.waits, self.abandoned, threshold_s),
            "answered_within_threshold": sum(1 for w in self.waits if w <= threshold_s),
            "asa_s": average_speed_of_answer(self.waits),
            "answer_wait_s": round(sum(self.waits), 1),
            "aht_s": average_handle_time(self.talk_s, self.wrap_up_s, self.handled),
            "avg_talk_s": average(self.talk_s, self.handled),
            "longest_wait_s": round(self.longest_wait_s, 1),
            "talk_s": round(self.talk_s, 1), "wrap_up_s": round(self.wrap_up_s, 1),
            "dispositions": dict(sorted(self.dispositions.items())),
        }


def _day(contact: Contact, zone: tzinfo) -> date:
    return contact.queued_at.astimezone(zone).date()


def daily_by_queue(contacts: Iterable[Contact], zone: tzinfo,
                   threshold_s: float) -> list[dict[str, Any]]:
    """One row per day and queue, oldest day first."""
    rows: dict[tuple[date, str], Tally] = {}
    for contact in contacts:
        tally = rows.setdefault((_day(contact, zone), contact.queue), Tally())
        tally.count_outcome(contact)
        tally.missed += len(contact.missed)
        if contact.handle_s is not None:
            tally.handled += 1
            tally.talk_s += sum(contact.talk_by_agent().values())
            tally.wrap_up_s += sum(seconds for _, seconds in contact.wrap_ups)
        for _, code in contact.dispositions:
            tally.dispose(code)
    return [{"day": day.isoformat(), "queue": queue, **tally.figures(threshold_s)}
            for (day, queue), tally in sorted(rows.items())]


def daily_by_agent(contacts: Iterable[Contact], zone: tzinfo,
                   threshold_s: float) -> list[dict[str, Any]]:
    """One row per day and agent: what was offered to them and what they handled.

    offered: offers rung to the agent; missed: offers not answered;
    abandoned: callers who hung up while this agent's phone rang for them;
    answered / ASA: contacts this agent answered first; service level: as
    for a queue, with those abandoned calls as its abandoned;
    handled, talk and wrap-up: every conversation they took part in (a
    transfer gives the second agent a handled conversation too).
    """
    rows: dict[tuple[date, str], Tally] = {}

    def tally_of(day: date, agent: str) -> Tally:
        return rows.setdefault((day, agent), Tally())

    for contact in contacts:
        day = _day(contact, zone)
        for agent in contact.offers:
            tally_of(day, agent).offered += 1
        for agent in contact.missed:
            tally_of(day, agent).missed += 1
        if contact.abandoned and contact.offers and \
                len(contact.offers) > len(contact.missed):
            tally_of(day, contact.offers[-1]).abandoned += 1
        if contact.outcome == "answered" and contact.agent is not None:
            tally = tally_of(day, contact.agent)
            tally.answered += 1
            tally.waits.append(contact.waited_s or 0.0)
            tally.longest_wait_s = max(tally.longest_wait_s, contact.waited_s or 0.0)
        if contact.handle_s is not None:
            for agent, talk in contact.talk_by_agent().items():
                tally = tally_of(day, agent)
                tally.handled += 1
                tally.talk_s += talk
            for agent, seconds in contact.wrap_ups:
                tally_of(day, agent).wrap_up_s += seconds
        for agent, code in contact.dispositions:
            tally_of(day, agent).dispose(code)
    result = []
    for (day, agent), tally in sorted(rows.items()):
        figures = tally.figures(threshold_s)
        for unused in ("timeouts", "callbacks", "waiting"):
            figures.pop(unused)
        result.append({"day": day.isoformat(), "agent": agent, **figures})
    return result


def totals(rows: list[dict[str, Any]], threshold_s: float) -> dict[str, Any]:
    """The whole range in one row: sums, and averages recomputed from the sums."""
    keys = ("offered", "answered", "abandoned", "timeouts", "callbacks", "waiting",
            "missed_offers", "handled", "answered_within_threshold", "answer_wait_s",
            "talk_s", "wrap_up_s")
    summed: dict[str, Any] = {}
    for key in keys:
        if any(key in row for row in rows):
            summed[key] = round(sum(row.get(key, 0) for row in rows), 1)
    answered, abandoned = summed.get("answered", 0), summed.get("abandoned", 0)
    within = summed.get("answered_within_threshold", 0)
    denominator = answered + abandoned
    summed["service_level"] = round(100.0 * within / denominator, 1) if denominator else None
    summed["asa_s"] = average(summed.get("answer_wait_s", 0.0), int(answered))
    summed["aht_s"] = average_handle_time(summed.get("talk_s", 0.0),
                                          summed.get("wrap_up_s", 0.0),
                                          int(summed.get("handled", 0)))
    summed["threshold_s"] = threshold_s
    return summed
