"""OpenAPI paths of the wallboard and the reports (api/wallboard.py), kept beside
the document in openapi.py so each page's routes are documented in one place."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "Invalid parameter", 401: "Not logged in", 403: "Not a supervisor",
             503: "Routing is not running"}
    return {str(code): _ok(names[code], _ERROR) for code in codes}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description,
            "schema": schema or {"type": "string"}}


_RANGE = [
    _query("from", "first day (YYYY-MM-DD, in tz); default today", type="string",
           format="date"),
    _query("to", "last day, inclusive; default today (at most 366 days)", type="string",
           format="date"),
    _query("tz", "time zone the days are cut in (default UTC), e.g. Europe/Paris"),
    _query("format", "json (default) or csv (a download with a filename)",
           enum=["json", "csv"]),
]
_FIGURES = {"type": "object", "properties": {
    "offered": {"type": "integer"}, "answered": {"type": "integer"},
    "abandoned": {"type": "integer"}, "missed_offers": {"type": "integer"},
    "handled": {"type": "integer"},
    "service_level": {"type": ["number", "null"],
                      "description": "percent answered within service_level_s of "
                                     "answered + abandoned"},
    "answered_within_threshold": {"type": "integer"},
    "asa_s": {"type": ["number", "null"]},
    "aht_s": {"type": ["number", "null"], "description": "(talk + wrap-up) / handled"},
    "avg_talk_s": {"type": ["number", "null"]}, "talk_s": {"type": "number"},
    "wrap_up_s": {"type": "number"}, "longest_wait_s": {"type": "number"},
    "dispositions": {"type": "object", "additionalProperties": {"type": "integer"}}}}
_REPORT = {"type": "object", "properties": {
    "from": {"type": "string"}, "to": {"type": "string"}, "tz": {"type": "string"},
    "service_level_s": {"type": "number"},
    "items": {"type": "array", "items": _FIGURES}, "totals": _FIGURES}}
_CSV = {"text/csv": {"schema": {"type": "string"}}}


def _report(summary: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    ok = _ok("The report (JSON, or CSV with format=csv)", _REPORT)
    ok["content"].update(_CSV)
    return {"get": {"summary": summary, "parameters": [*_RANGE, *extra],
                    "responses": {"200": ok, **_errors(400, 401, 403, 503)}}}


WALLBOARD_PATHS: dict[str, Any] = {
    "/wallboard": {"get": {
        "summary": "Live figures of every queue and every agent's state, reason, time in "
                   "state and current call (with its supervisor, if any)",
        "responses": {"200": _ok("Wallboard", {"type": "object", "properties": {
            "queues": {"type": "array", "items": {"$ref": "#/components/schemas/Queue"}},
            "agents": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "state": {"type": "string"},
                "team": {"type": ["string", "null"], "description": "group rows by it"},
                "reason": {"type": ["string", "null"]}, "in_state_s": {"type": "number"},
                "call": {"type": ["object", "null"]}}}},
            "service_level_s": {"type": "number"},
            "history_period_s": {"type": ["number", "null"]}}}),
            **_errors(400, 401, 403, 503)}}},
    "/wallboard/history": {"get": {
        "summary": "Stored samples of the queues' figures for charts, oldest first",
        "parameters": [
            _query("queue", "one queue (default: all)"),
            _query("hours", "how far back (0 < hours <= 168, default 4)", type="number",
                   exclusiveMinimum=0, maximum=168)],
        "responses": {"200": _ok("Samples per queue", {"type": "object", "properties": {
            "period_s": {"type": ["number", "null"]},
            "queues": {"type": "object", "additionalProperties": {
                "type": "array", "items": {"type": "object"}}}}}),
            **_errors(400, 401, 403)}}},
    "/reports/daily": _report(
        "Per day and queue: offered, answered, abandoned, service level, ASA, AHT, talk and "
        "wrap-up time, dispositions", [_query("queue", "one queue (default: all)")]),
    "/reports/agents": _report(
        "Per day and agent: offers, missed, answered, service level, ASA, AHT, talk and "
        "wrap-up time, dispositions",
        [_query("agent", "one agent (default: all)"),
         _query("queue", "only contacts of this queue")]),
}
