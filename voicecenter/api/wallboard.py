"""The supervisor's wallboard and reports: live figures, their history, daily reports.

- GET /wallboard: every queue's live figures and every agent's state, reason,
  time in state and current conversation (with who supervises it), in one
  answer so a page can redraw from it alone;
- GET /wallboard/history: stored samples of the figures for charts
  (distribution/figures_history.py writes them);
- GET /reports/daily and /reports/agents: per day and queue, per day and
  agent, recomputed from the stored timelines (reports/); ``format=csv``
  downloads the same rows as a spreadsheet file.

Supervisors (and admins) only: these show every agent and every queue.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from ..distribution.service import DistributionService
from ..reports.contacts import build_contacts
from ..reports.csv_export import AGENT_COLUMNS, QUEUE_COLUMNS, to_csv
from ..reports.summary import daily_by_agent, daily_by_queue, totals
from ..store.contact_events import contact_events
from ..store.models import utcnow
from .auth import allow
from .errors import ApiError, bad_request
from .keys import SERVICES

routes = web.RouteTableDef()

_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MAX_HISTORY_HOURS = 168
MAX_REPORT_DAYS = 366
# Charts need no more points than a screen has pixels; longer spans are thinned.
MAX_POINTS = 2000


def _distribution(request: web.Request) -> DistributionService:
    distribution = request.app[SERVICES].distribution
    if distribution is None:
        raise ApiError(503, "routing-unavailable", "routing is not running")
    return distribution


def _only(request: web.Request, *allowed: str) -> None:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise bad_request(f"unknown query parameter {unknown[0]!r} (allowed: "
                          f"{', '.join(allowed) or 'none'})", {"parameter": unknown[0]})


def _name(request: web.Request, key: str) -> str | None:
    value = request.query.get(key)
    if value is None or value == "":
        return None
    if not _NAME.match(value):
        raise bad_request(f"{key} must be a name of letters, digits, _ . @ - (1-64)",
                          {key: value})
    return value


@routes.get("/wallboard")
@allow("supervisor")
async def wallboard(request: web.Request) -> web.Response:
    _only(request)
    distribution = _distribution(request)
    services = request.app[SERVICES]
    figures = distribution.figures
    queues = [figures.snapshot(name) for name in figures.names()]
    records = {a.name: a for a in await services.store.agents.list()}
    calls = _live_calls(request, distribution)
    now = distribution.now()
    routed = {agent.id: agent for agent in distribution.router.agents()}
    agents = []
    for name in sorted(set(routed) | set(records)):
        agent, record = routed.get(name), records.get(name)
        if agent is None:  # added since start and never logged on: routing adds it then
            agents.append({"name": name, "display_name": record.display_name if record else name,
                           "skills": dict(record.skills) if record else {},
                           "team": record.team if record else None,
                           "state": "offline", "reason": None, "in_state_s": None,
                           "load": {}, "call": None})
            continue
        agents.append({
            "name": name, "display_name": record.display_name if record is not None else name,
            "skills": dict(agent.skills),
            "team": record.team if record is not None else agent.team,
            "state": str(agent.state), "reason": agent.reason,
            "in_state_s": round(now - agent.state_since, 1),
            "load": {str(channel): n for channel, n in agent.load.items() if n},
            "call": calls.get(name),
        })
    history = services.extras.get("figures_history")
    return web.json_response({
        "at": utcnow().isoformat(timespec="seconds"),
        "service_level_s": figures.service_level_s, "window_s": figures.window_s,
        "history_period_s": history.period_s if history is not None else None,
        "queues": queues, "agents": agents,
    })


def _live_calls(request: web.Request, distribution: DistributionService) -> dict[str, Any]:
    """Agent name -> the conversation they are on (as agent, consultant or supervisor)."""
    control = request.app[SERVICES].extras.get("call_control")
    states = control.states if control is not None else {}
    now = distribution.now()
    found: dict[str, Any] = {}
    for call_id, conversation in list(distribution.conversations.items()):
        queue, answered = distribution.figures.whereabouts(call_id)
        state = states.get(call_id)
        parties = {role: {"agent": e.agent, "mode": e.mode}
                   for role, e in (state.extras.items() if state is not None else ())}
        view = {"call_id": call_id, "interaction_id": conversation.caller.interaction_id,
                "queue": queue, "customer": conversation.caller.info.get("from"),
                "talking_s": round(now - answered, 1) if answered is not None else None,
                "held": conversation.held, "parties": parties}
        found[conversation.agent] = {**view, "role": "agent"}
        for role, party in parties.items():
            found.setdefault(party["agent"], {**view, "role": role})
    return found


@routes.get("/wallboard/history")
@allow("supervisor")
async def history(request: web.Request) -> web.Response:
    _only(request, "queue", "hours")
    queue = _name(request, "queue")
    raw = request.query.get("hours", "4")
    try:
        hours = float(raw)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= MAX_HISTORY_HOURS:
        raise bad_request(f"hours must be a number above 0 and at most {MAX_HISTORY_HOURS}",
                          {"hours": raw})
    services = request.app[SERVICES]
    since = utcnow() - timedelta(hours=hours)
    samples = await services.store.figure_samples.since(since, queue)
    by_queue: dict[str, list[dict[str, Any]]] = {}
    for sample in samples:
        by_queue.setdefault(sample.queue, []).append(sample.to_dict())
    for name, items in by_queue.items():
        if len(items) > MAX_POINTS:
            step = -(-len(items) // MAX_POINTS)
            by_queue[name] = items[::step]
    history_service = services.extras.get("figures_history")
    return web.json_response({
        "since": since.isoformat(timespec="seconds"), "hours": hours, "queue": queue,
        "period_s": history_service.period_s if history_service is not None else None,
        "queues": {name: by_queue[name] for name in sorted(by_queue)},
    })


def _day(request: web.Request, key: str, default: date) -> date:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    try:
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise bad_request(f"{key} must be a date YYYY-MM-DD", {key: raw}) from exc


def _report_range(request: web.Request) -> tuple[ZoneInfo, date, date, datetime, datetime]:
    raw_tz = request.query.get("tz") or "UTC"
    try:
        if not re.match(r"^[A-Za-z0-9_+\-/]{1,64}$", raw_tz) or ".." in raw_tz:
            raise ValueError(raw_tz)
        zone = ZoneInfo(raw_tz)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise bad_request("tz must be a time zone name such as UTC or Europe/Paris",
                          {"tz": raw_tz}) from exc
    today = utcnow().astimezone(zone).date()
    first = _day(request, "from", today)
    last = _day(request, "to", max(today, first))
    if last < first:
        raise bad_request("to must not be before from", {"from": first.isoformat(),
                                                          "to": last.isoformat()})
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        raise bad_request(f"a report spans at most {MAX_REPORT_DAYS} days",
                          {"from": first.isoformat(), "to": last.isoformat()})
    start = datetime.combine(first, datetime.min.time(), zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
    return zone, first, last, start, end


def _format(request: web.Request) -> str:
    value = request.query.get("format", "json")
    if value not in ("json", "csv"):
        raise bad_request("format must be json or csv", {"format": value})
    return value


def _answer(request: web.Request, kind: str, rows: list[dict[str, Any]],
            columns: tuple[str, ...], first: date, last: date, extra: dict[str, Any],
            threshold_s: float) -> web.Response:
    if _format(request) == "csv":
        filename = f"voicecenter-{kind}-{first.isoformat()}-to-{last.isoformat()}.csv"
        return web.Response(
            text=to_csv(rows, columns), content_type="text/csv", charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return web.json_response({"from": first.isoformat(), "to": last.isoformat(), **extra,
                              "service_level_s": threshold_s, "items": rows,
                              "totals": totals(rows, threshold_s)})


@routes.get("/reports/daily")
@allow("supervisor")
async def daily_report(request: web.Request) -> web.Response:
    """Per day and queue: offered, answered, abandoned, service level, ASA, AHT..."""
    _only(request, "from", "to", "queue", "tz", "format")
    _format(request)
    queue = _name(request, "queue")
    zone, first, last, start, end = _report_range(request)
    distribution = _distribution(request)
    threshold = distribution.figures.service_level_s
    events = await contact_events(request.app[SERVICES].store, start, end, queue)
    rows = daily_by_queue(build_contacts(events), zone, threshold)
    return _answer(request, "daily", rows, QUEUE_COLUMNS, first, last,
                   {"queue": queue, "tz": str(zone)}, threshold)


@routes.get("/reports/agents")
@allow("supervisor")
async def agents_report(request: web.Request) -> web.Response:
    """Per day and agent: offers, answered, talk and wrap-up time, AHT, dispositions..."""
    _only(request, "from", "to", "agent", "queue", "tz", "format")
    _format(request)
    agent, queue = _name(request, "agent"), _name(request, "queue")
    zone, first, last, start, end = _report_range(request)
    distribution = _distribution(request)
    threshold = distribution.figures.service_level_s
    events = await contact_events(request.app[SERVICES].store, start, end, queue)
    rows = daily_by_agent(build_contacts(events), zone, threshold)
    if agent is not None:
        rows = [row for row in rows if row["agent"] == agent]
    return _answer(request, "agents", rows, AGENT_COLUMNS, first, last,
                   {"agent": agent, "queue": queue, "tz": str(zone)}, threshold)
