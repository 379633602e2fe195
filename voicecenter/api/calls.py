"""/calls: calls and their timelines, as stored."""

from __future__ import annotations

from aiohttp import web

from ..distribution.dialplan import DestinationNotAllowed, DialPlan
from ..distribution.service import DistributionService
from ..distribution.transfer_targets import NoSuchQueue, transfer_outside, transfer_to_queue
from ..store.errors import NoSuchCall
from .auth import allow
from .call_outcomes import carry_out
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
    await carry_out(lambda: distribution.hold(call_id, music), call_id)
    return web.json_response({"call_id": call_id, "held": True})


@routes.post("/calls/{call_id}/hold/stop")
@allow("supervisor", "agent", own_call=True)
async def hold_stop(request: web.Request) -> web.Response:
    distribution, call_id = _conversation_action(request)
    await carry_out(lambda: distribution.resume(call_id), call_id)
    return web.json_response({"call_id": call_id, "held": False})


_TARGETS = ("to", "queue", "uri", "number")


@routes.post("/calls/{call_id}/transfer")
@allow("supervisor", "agent", own_call=True)
async def transfer(request: web.Request) -> web.Response:
    """Blind transfer to an agent (`to`), a queue (`queue`) or an outside destination the
    dial plan allows (`uri` or `number`); exactly one of them."""
    distribution, call_id = _conversation_action(request)
    body = await json_body(request)
    named = [key for key in _TARGETS if key in body]
    unknown = sorted(set(body) - set(_TARGETS))
    if len(named) != 1 or unknown:
        raise bad_request("give exactly one target: to (an agent), queue, uri or number",
                          {"targets": named, **({"unknown": unknown} if unknown else {})})
    kind = named[0]
    target = body[kind]
    if not isinstance(target, str) or not target.strip() or len(target) > 256:
        raise bad_request(f"{kind} must be a non-empty string", {kind: target})

    async def carry() -> web.Response:
        if kind == "to":
            await distribution.blind_transfer(call_id, target)
            return web.json_response({"call_id": call_id, "kind": "agent", "agent": target})
        if kind == "queue":
            return await _to_queue(request, distribution, call_id, target)
        return await _to_outside(request, distribution, call_id, target)

    return await carry_out(carry, call_id, target, not_answered="transfer-failed")


async def _to_queue(request: web.Request, distribution: DistributionService, call_id: str,
                    queue: str) -> web.Response:
    runtime = request.app[SERVICES].voice.runtime
    if runtime is None:
        raise ApiError(503, "flows-unavailable", "flows are not running")
    try:
        target = await transfer_to_queue(distribution, runtime, call_id, queue)
    except NoSuchQueue as exc:
        raise not_found("no-such-queue", f"no flow has a queue {queue!r}") from exc
    return web.json_response({"call_id": call_id, "kind": "queue", "queue": queue,
                              "skills": list(target.skills), "flow": target.flow.name})


async def _to_outside(request: web.Request, distribution: DistributionService, call_id: str,
                      destination: str) -> web.Response:
    services = request.app[SERVICES]
    settings = services.settings
    plan = DialPlan.from_patterns(settings.dialplan.allow,
                                  settings.dialplan.trunk or distribution.edge)
    conversation = distribution.conversation(call_id)  # 409 before anything else
    # An entry point's number is dialed at the caller's own worker: the edge sends
    # workers' calls to registered agents only.
    pool = services.pool
    worker = pool.targets()[conversation.caller.link.worker_id] if pool is not None else None
    flows = ({number: f"{worker.host}:{worker.port}" for number in settings.entry_points}
             if worker is not None else {})
    try:
        leg = await transfer_outside(distribution, plan, call_id, destination, flows)
    except DestinationNotAllowed as exc:
        raise ApiError(403, "destination-not-allowed",
                       f"the dial plan does not allow calling {destination!r}",
                       {"to": destination}) from exc
    return web.json_response({"call_id": call_id, "kind": "external", "to": destination,
                              "leg": leg.call_id})
