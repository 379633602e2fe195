"""/queues and /callbacks: real-time queue figures, and callbacks to customers.

Figures are read from the routing service's counters (distribution/figures.py);
callbacks are stored and routed by distribution/callbacks.py, so one asked
for here waits in the same universal queue as a caller on the line.
"""

from __future__ import annotations

import re

from aiohttp import web

from ..distribution.callbacks import CallbackService, parse_when
from ..distribution.service import DistributionService
from ..store.callbacks import NoSuchCallback
from .auth import allow
from .errors import ApiError, bad_request, json_body, not_found
from .keys import SERVICES

routes = web.RouteTableDef()

# Digits with an optional leading +: what can be put in sip:NUMBER@host safely.
_NUMBER = re.compile(r"^\+?[0-9]{2,20}$")


def _distribution(request: web.Request) -> DistributionService:
    distribution = request.app[SERVICES].distribution
    if distribution is None:
        raise ApiError(503, "routing-unavailable", "routing is not running")
    return distribution


def _callbacks(request: web.Request) -> CallbackService:
    callbacks = request.app[SERVICES].extras.get("callbacks")
    if callbacks is None:
        raise ApiError(503, "callbacks-unavailable", "callbacks are not running")
    return callbacks


@routes.get("/queues")
@allow("supervisor", "agent")
async def list_queues(request: web.Request) -> web.Response:
    figures = _distribution(request).figures
    return web.json_response({"items": [figures.snapshot(name) for name in figures.names()]})


@routes.get("/queues/{name}")
@allow("supervisor", "agent")
async def get_queue(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        return web.json_response(_distribution(request).figures.snapshot(name))
    except KeyError as exc:
        raise not_found("no-such-queue", f"no queue {name!r} has had a caller yet") from exc


@routes.get("/callbacks")
@allow("supervisor")
async def list_callbacks(request: web.Request) -> web.Response:
    records = await request.app[SERVICES].store.callbacks.list()
    return web.json_response({"items": [r.to_dict() for r in records]})


@routes.post("/callbacks")
@allow("supervisor", "agent")
async def add_callback(request: web.Request) -> web.Response:
    body = await json_body(request)
    number, skills = body.get("number"), body.get("skills", [])
    queue, priority = body.get("queue", "callbacks"), body.get("priority", 0)
    if not isinstance(number, str) or not _NUMBER.match(number):
        raise bad_request("number must be 2-20 digits, optionally with a leading +",
                          {"number": number})
    if not isinstance(skills, list) or not all(isinstance(s, str) and s for s in skills):
        raise bad_request("skills must be a list of skill names")
    if not isinstance(queue, str) or not re.match(r"^[A-Za-z0-9_.-]{1,64}$", queue):
        raise bad_request("queue must be a name of letters, digits, _ . -")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise bad_request("priority must be an integer")
    try:
        at = parse_when(body.get("at"))
    except ValueError as exc:
        raise bad_request(str(exc), {"at": body.get("at")}) from exc
    record = await _callbacks(request).schedule(number, at, skills, queue, priority)
    return web.json_response(record.to_dict(), status=201)


@routes.get("/callbacks/{id}")
@allow("supervisor")
async def get_callback(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    try:
        record = await request.app[SERVICES].store.callbacks.get(int(ident))
    except (ValueError, NoSuchCallback) as exc:
        raise not_found("no-such-callback", f"no callback {ident!r}") from exc
    return web.json_response(record.to_dict())
