from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..context import FlowContext
from .base import Node, Param

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GROUPS = {"weekdays": DAYS[:5], "weekend": DAYS[5:], "daily": DAYS}
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_HOLIDAY = re.compile(r"^(\d{4}-)?\d{2}-\d{2}$")


def _ranges(spec: Any) -> list[tuple[time, time]] | None:
    """'09:00-17:00', a list of them, or 'closed'; None when malformed."""
    items = spec if isinstance(spec, list) else [spec]
    found = []
    for item in items:
        if item in ("closed", None):
            continue
        match = _RANGE.match(str(item))
        if not match:
            return None
        h1, m1, h2, m2 = map(int, match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            return None
        end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
        found.append((time(h1, m1), end))
    return found


def week(hours: dict[str, Any]) -> dict[str, list[tuple[time, time]]]:
    """Opening ranges per day; specific days override groups (weekdays, weekend, daily)."""
    table: dict[str, list[tuple[time, time]]] = {day: [] for day in DAYS}
    for key in sorted(hours, key=lambda k: k not in GROUPS):  # groups first
        for day in GROUPS.get(key, (key,)):
            table[day] = _ranges(hours[key]) or []
    return table


class BusinessHoursNode(Node):
    """Open, closed or holiday, by a weekly calendar in a time zone.

    Holidays are 'YYYY-MM-DD' (that day) or 'MM-DD' (every year). Without a
    `holiday` transition a holiday takes `closed`.
    """

    type_name = "business_hours"
    params = {
        "timezone": Param(str, default="UTC", doc="IANA zone, e.g. Europe/Paris"),
        "hours": Param(dict, required=True, doc="mon..sun, weekdays, weekend, daily -> "
                                                "'09:00-17:00', [ranges] or closed"),
        "holidays": Param(list, default=[], doc="'YYYY-MM-DD' or 'MM-DD' (yearly)"),
    }
    transitions = ("open", "closed", "holiday")
    aliases = {"holiday": "closed"}

    @classmethod
    def validate(cls, values: dict[str, Any]) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        try:
            ZoneInfo(values["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(("timezone", f"unknown time zone {values['timezone']!r}"))
        for key, spec in values["hours"].items():
            if key not in DAYS and key not in GROUPS:
                problems.append(("hours", f"unknown day {key!r} (mon..sun, weekdays, "
                                          "weekend, daily)"))
            elif _ranges(spec) is None:
                problems.append(("hours", f"{key}: {spec!r} is not HH:MM-HH:MM or closed"))
        for day in values["holidays"]:
            if not _HOLIDAY.match(str(day)):
                problems.append(("holidays", f"holiday {day!r} is not YYYY-MM-DD or MM-DD"))
        return problems

    def state(self, now: datetime) -> str:
        local = now.astimezone(ZoneInfo(self["timezone"]))
        for day in map(str, self["holidays"]):
            if day in (local.strftime("%Y-%m-%d"), local.strftime("%m-%d")):
                return "holiday"
        ranges = week(self["hours"])[DAYS[local.weekday()]]
        clock = local.time().replace(tzinfo=None)
        return "open" if any(start <= clock <= end for start, end in ranges) else "closed"

    async def execute(self, ctx: FlowContext) -> str:
        return self.state(ctx.services.clock())
