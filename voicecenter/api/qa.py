"""Quality review: search interactions, review one, score it.

Reviewers (qa) and supervisors find interactions by time, agent, queue,
disposition, channel and words said or typed; open one to listen, read and
see everything on one timeline with secrets redacted (review/redaction.py);
and fill in the configured scorecard. Reading transcripts is recorded in the
access log (GET /audit), like listening to recordings (api/recordings.py).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from ..review.redaction import has_digit_run
from ..review.scoring import ScoreError, questions_of, score
from ..review.timeline import build_review, snippet
from ..store.errors import NoSuchInteraction
from ..store.interactions import CHANNELS
from ..store.reviews import SearchFilters
from .auth import allow, audit, current_user
from .errors import bad_request, json_body, not_found
from .keys import SERVICES

log = logging.getLogger("voicecenter.api.qa")
routes = web.RouteTableDef()

SEARCH_PARAMS = frozenset({"from", "to", "agent", "queue", "disposition", "channel", "q",
                           "limit", "offset"})
MAX_LIMIT = 200
MAX_OFFSET = 100_000
MAX_WORDS = 5
MAX_COMMENT = 4000
_NAME = re.compile(r"^[\w.@+-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _dumps(data: object) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, default=str)


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def parse_when(name: str, raw: str, *, end: bool = False) -> datetime:
    """An ISO 8601 date or date-time; naive means UTC.

    A bare date as `to` means through the end of that day, as a person
    picking "from 1 to 3 November" expects.
    """
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day, time(), UTC)
            if end:
                return moment + timedelta(days=1) if day < date.max else datetime.max.replace(
                    tzinfo=UTC)
            return moment
        parsed = datetime.fromisoformat(raw)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise bad_request(f"{name} must be an ISO 8601 date or date-time, "
                          f"e.g. 2026-11-30 or 2026-11-30T14:00:00Z", {name: raw}) from exc


def _int(query: Any, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise bad_request(f"{name} must be an integer from {low} to {high}", {name: raw})
    return int(raw)


def _name(query: Any, key: str) -> str | None:
    raw = query.get(key)
    if raw is None or raw == "":
        return None
    if not _NAME.match(raw):
        raise bad_request(f"{key} must be 1-64 letters, digits or . @ + - _", {key: raw})
    return raw


def parse_search(query: Any) -> SearchFilters:
    """The search's query string as filters, or a 400 naming the bad parameter."""
    unknown = sorted(set(query) - SEARCH_PARAMS)
    if unknown:
        raise bad_request(f"unknown parameter(s): {', '.join(unknown)}",
                          {"unknown": unknown, "allowed": sorted(SEARCH_PARAMS)})
    start = parse_when("from", query["from"]) if query.get("from") else None
    end = parse_when("to", query["to"], end=True) if query.get("to") else None
    if start and end and start >= end:
        raise bad_request("from must be before to", {"from": query["from"], "to": query["to"]})
    channel = query.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise bad_request(f"channel must be one of {', '.join(CHANNELS)}", {"channel": channel})
    text = query.get("q", "").strip()
    if len(text) > 200:
        raise bad_request("q is longer than 200 characters")
    if _CONTROL.search(text):
        raise bad_request("q may not contain control characters")
    if has_digit_run(text):
        # Searching digits would tell whether a redacted card number or PIN was said.
        raise bad_request("q may not contain 4 or more digits in a row: numbers like that "
                          "are redacted, and searching them would reveal them")
    words = text.split()
    if len(words) > MAX_WORDS:
        raise bad_request(f"q may have at most {MAX_WORDS} words", {"q": text})
    return SearchFilters(
        start=start, end=end, agent=_name(query, "agent"), queue=_name(query, "queue"),
        disposition=_name(query, "disposition"), channel=channel, words=words,
        limit=_int(query, "limit", 50, 1, MAX_LIMIT),
        offset=_int(query, "offset", 0, 0, MAX_OFFSET))


@routes.get("/interactions/search")
@allow("qa", "supervisor")
async def search(request: web.Request) -> web.Response:
    """Interactions matching every filter given, newest first, with snippets of the words."""
    filters = parse_search(request.query)
    store = request.app[SERVICES].store
    items, total = await store.reviews.search(filters)
    for item in items:
        match = item.pop("match")
        item["snippet"] = snippet(match, filters.words[0]) if match is not None else None
    if filters.words:
        await audit(request, "transcript.search", " ".join(filters.words))
    return _json({"items": items, "total": total, "limit": filters.limit,
                  "offset": filters.offset})


@routes.get("/interactions/{interaction_id}/review")
@allow("qa", "supervisor")
async def review(request: web.Request) -> web.Response:
    """Everything a reviewer needs about one interaction, redacted, on one timeline."""
    services = request.app[SERVICES]
    interaction_id = request.match_info["interaction_id"]
    hub = services.extras.get("conversations")
    if hub is not None:  # chat lines are written in batches: show the latest too
        await hub.writer.flush()
    try:
        raw = await services.store.reviews.review(interaction_id)
    except NoSuchInteraction as exc:
        raise not_found("no-such-interaction", f"no interaction {interaction_id}") from exc
    document = build_review(raw)
    for call_id in dict.fromkeys(t["call_id"] for t in document["transcripts"]):
        await audit(request, "transcript.read", call_id)
    document["scores"] = await services.store.reviews.scores(interaction_id)
    document["scorecard"] = _scorecard(request)
    log.info("interaction=%s reviewed by %s", interaction_id, current_user(request).name)
    return _json(document)


def _scorecard(request: web.Request) -> list[dict[str, Any]]:
    return [q.to_dict() for q in questions_of(request.app[SERVICES].settings.qa.scorecard)]


@routes.get("/scorecard")
@allow("qa", "supervisor")
async def scorecard(request: web.Request) -> web.Response:
    """The configured questions (settings qa.scorecard) with their weights and scales."""
    return _json({"questions": _scorecard(request)})


@routes.post("/interactions/{interaction_id}/scores")
@allow("qa", "supervisor")
async def add_score(request: web.Request) -> web.Response:
    """Score an interaction; the total (weighted percentage) is computed here."""
    interaction_id = request.match_info["interaction_id"]
    body = await json_body(request)
    unknown = sorted(set(body) - {"answers", "comment"})
    if unknown:
        raise bad_request(f"unknown field(s): {', '.join(unknown)}", {"unknown": unknown})
    comment = body.get("comment", "")
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT or _CONTROL.search(comment):
        raise bad_request(f"comment must be text of at most {MAX_COMMENT} characters, "
                          "without control characters")
    questions = questions_of(request.app[SERVICES].settings.qa.scorecard)
    try:
        answers, total = score(questions, body.get("answers"))
    except ScoreError as exc:
        raise bad_request(str(exc), exc.details) from exc
    reviewer = current_user(request).name
    try:
        stored = await request.app[SERVICES].store.reviews.add_score(
            interaction_id, reviewer=reviewer, answers=answers,
            questions=[q.to_dict() for q in questions], comment=comment, total=total)
    except NoSuchInteraction as exc:
        raise not_found("no-such-interaction", f"no interaction {interaction_id}") from exc
    log.info("interaction=%s scored %.1f by %s", interaction_id, total, reviewer)
    return _json(stored, status=201)


@routes.get("/interactions/{interaction_id}/scores")
@allow("qa", "supervisor")
async def list_scores(request: web.Request) -> web.Response:
    """Every score the interaction was given, oldest first, with reviewer and time."""
    interaction_id = request.match_info["interaction_id"]
    try:
        items = await request.app[SERVICES].store.reviews.scores(interaction_id)
    except NoSuchInteraction as exc:
        raise not_found("no-such-interaction", f"no interaction {interaction_id}") from exc
    return _json({"items": items})
