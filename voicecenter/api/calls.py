"""/calls: calls and their timelines, as stored."""

from __future__ import annotations

from aiohttp import web

from ..distribution.connect import AgentNotAvailable, NotConnected, OfferFailed
from ..distribution.service import DistributionService
from ..routing.errors import UnknownAgent
from ..store.errors import NoSuchCall
from .auth import allow
from .errors import ApiError, bad_request, json_body, not_found
from .keys import SERVICES

routes = web.RouteTableDef()


@routes.get("/calls")
@allow("supervisor", "qa")
async def list_calls(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise bad_request("limit must be an integer from 1 to 1000", {"limit": raw})
    store = request.app[SERVICES].store
    calls = await store.calls.recent(int(raw))
    return web.json_response({"items": [c.to_dict() for c in calls]})


@routes.get("/calls/{call_id}")
@allow("supervisor", "qa", "agent", own_call=True)
async def get_call(request: web.Request) -> web.Response:
    store = request.app[SERVICES].store
    call_id = request.match_info["call_id"]
    try:
        call = await store.calls.get(call_id)
        timeline = await store.calls.timeline(call_id)
    except NoSuchCall as exc:
        raise not_found("no-such-call", f"no call {call_id}") from exc
    return web.json_response({**call.to_dict(), "timeline": [e.to_dict() for e in timeline]})


def _conversation_action(request: web.Request) -> tuple[DistributionService, str]:
    distribution = request.app[SERVICES].distribution
    if distribution is None:
        raise ApiError(503, "routing-unavailable", "routing is not running")
    return distribution, request.match_info["call_id"]


@routes.post("/calls/{call_id}/hold/start")
@allow("supervisor", "agent", own_call=True)
async def hold_start(request: web.Request) -> web.Response:
    distribution, call_id = _conversation_action(request)
    music = request.app[SERVICES].settings.paths.sounds / "moh.wav"
    try:
        await distribution.hold(call_id, music)
    except NotConnected as exc:
        raise ApiError(409, "not-connected", f"call {call_id} is not with an agent") from exc
    return web.json_response({"call_id": call_id, "held": True})


@routes.post("/calls/{call_id}/hold/stop")
@allow("supervisor", "agent", own_call=True)
async def hold_stop(request: web.Request) -> web.Response:
    distribution, call_id = _conversation_action(request)
    try:
        await distribution.resume(call_id)
    except NotConnected as exc:
        raise ApiError(409, "not-connected", f"call {call_id} is not with an agent") from exc
    return web.json_response({"call_id": call_id, "held": False})


@routes.post("/calls/{call_id}/transfer")
@allow("supervisor", "agent", own_call=True)
async def transfer(request: web.Request) -> web.Response:
    """Blind transfer to another agent: the caller is theirs once they answer."""
    distribution, call_id = _conversation_action(request)
    body = await json_body(request)
    agent = body.get("to")
    if not isinstance(agent, str) or not agent:
        raise bad_request("to must name the agent to transfer to")
    try:
        await distribution.blind_transfer(call_id, agent)
    except NotConnected as exc:
        raise ApiError(409, "not-connected", f"call {call_id} is not with an agent") from exc
    except UnknownAgent as exc:
        raise not_found("no-such-agent", f"no agent {agent!r}") from exc
    except AgentNotAvailable as exc:
        raise ApiError(409, "agent-not-available", f"agent {agent!r} is not available") from exc
    except OfferFailed as exc:
        raise ApiError(409, "transfer-failed", str(exc)) from exc
    return web.json_response({"call_id": call_id, "agent": agent})
