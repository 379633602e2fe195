"""Call control for agents' desks and supervisors: attended transfer, conference,
supervision, recording pause/resume and click to call.

Handlers only look things up and map outcomes to errors; the rules live in
distribution/control.py and distribution/outbound.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..distribution.control import MODES, CallControl
from ..distribution.dialplan import DestinationNotAllowed, DialPlan
from ..distribution.outbound import NoWorker, click_to_call
from .auth import allow
from .call_outcomes import carry_out
from .errors import ApiError, bad_request, json_body
from .keys import SERVICES

routes = web.RouteTableDef()

_CONTROL = "call_control"


def _control(request: web.Request) -> CallControl:
    services = request.app[SERVICES]
    if services.distribution is None:
        raise ApiError(503, "routing-unavailable", "routing is not running")
    control = services.extras.get(_CONTROL)
    if control is None or control.distribution is not services.distribution:
        control = CallControl(services.distribution,
                              services.settings.paths.sounds / "moh.wav")
        services.extras[_CONTROL] = control
    return control


async def _agent_field(request: web.Request, key: str) -> str:
    body = await json_body(request)
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise bad_request(f"{key} must name an agent")
    return value


@routes.post("/calls/{call_id}/transfer/attended")
@allow("supervisor", "agent", own_call=True)
async def transfer_attended(request: web.Request) -> web.Response:
    """Consult `to` with the caller on hold; then /transfer/complete or /transfer/cancel."""
    control, call_id = _control(request), request.match_info["call_id"]
    agent = await _agent_field(request, "to")
    leg = await carry_out(lambda: control.consult(call_id, agent), call_id, agent)
    return web.json_response({"call_id": call_id, "consulting": agent, "leg": leg})


@routes.post("/calls/{call_id}/transfer/complete")
@allow("supervisor", "agent", own_call=True)
async def transfer_complete(request: web.Request) -> web.Response:
    control, call_id = _control(request), request.match_info["call_id"]
    agent = await carry_out(lambda: control.complete_transfer(call_id), call_id)
    return web.json_response({"call_id": call_id, "agent": agent})


@routes.post("/calls/{call_id}/transfer/cancel")
@allow("supervisor", "agent", own_call=True)
async def transfer_cancel(request: web.Request) -> web.Response:
    control, call_id = _control(request), request.match_info["call_id"]
    await carry_out(lambda: control.cancel_transfer(call_id), call_id)
    return web.json_response(control.view(call_id))


@routes.post("/calls/{call_id}/conference")
@allow("supervisor", "agent", own_call=True)
async def conference(request: web.Request) -> web.Response:
    control, call_id = _control(request), request.match_info["call_id"]
    agent = await _agent_field(request, "with")
    leg = await carry_out(lambda: control.conference(call_id, agent), call_id, agent)
    return web.json_response({"call_id": call_id, "with": agent, "leg": leg})


@routes.post("/calls/{call_id}/supervise")
@allow("supervisor")
async def supervise(request: web.Request) -> web.Response:
    """Dial a supervisor into the call; posting again with another mode switches it."""
    control, call_id = _control(request), request.match_info["call_id"]
    body = await json_body(request)
    supervisor, mode = body.get("supervisor"), body.get("mode", "listen")
    if not isinstance(supervisor, str) or not supervisor:
        raise bad_request("supervisor must name an agent")
    if mode not in MODES:
        raise bad_request(f"mode must be one of {', '.join(MODES)}", {"mode": mode})
    leg = await carry_out(lambda: control.supervise(call_id, supervisor, mode), call_id, supervisor)
    return web.json_response({"call_id": call_id, "supervisor": supervisor, "mode": mode,
                              "leg": leg})


@routes.post("/calls/{call_id}/supervise/stop")
@allow("supervisor")
async def supervise_stop(request: web.Request) -> web.Response:
    control, call_id = _control(request), request.match_info["call_id"]
    await carry_out(lambda: control.stop_supervising(call_id), call_id)
    return web.json_response({"call_id": call_id})


@routes.post("/calls/{call_id}/record/pause")
@allow("supervisor", "agent", own_call=True)
async def record_pause(request: web.Request) -> web.Response:
    control, call_id = _control(request), request.match_info["call_id"]
    offset = await carry_out(lambda: control.pause_recording(call_id), call_id)
    return web.json_response({"call_id": call_id, "paused_at": round(offset, 2)})


@routes.post("/calls/{call_id}/record/resume")
@allow("supervisor", "agent", own_call=True)
async def record_resume(request: web.Request) -> web.Response:
    control, call_id = _control(request), request.match_info["call_id"]
    start, end = await carry_out(lambda: control.resume_recording(call_id), call_id)
    return web.json_response({"call_id": call_id, "paused": {"start": start, "end": end}})


@routes.get("/calls/{call_id}/control")
@allow("supervisor", "agent", own_call=True)
async def control_view(request: web.Request) -> web.Response:
    control, call_id = _control(request), request.match_info["call_id"]
    return web.json_response(await carry_out(_async(lambda: control.view(call_id)), call_id))


@routes.post("/agents/{name}/calls")
@allow("supervisor", "agent", own_agent=True)
async def agent_call(request: web.Request) -> web.Response:
    """Click to call: ring the agent, then dial `to` if the dial plan allows it."""
    control, agent = _control(request), request.match_info["name"]
    body = await json_body(request)
    destination = body.get("to")
    if not isinstance(destination, str) or not destination.strip():
        raise bad_request("to must be a number or a SIP URI")
    services = request.app[SERVICES]
    settings = services.settings
    plan = DialPlan.from_patterns(
        settings.dialplan.allow, settings.dialplan.trunk or control.distribution.edge)
    pool = services.pool
    targets = pool.targets() if pool is not None else []
    links = [pool.link(t.worker_id) for t in targets] if pool is not None else []
    # A flow's number is answered by the worker with the most room (the edge
    # sends workers' calls to registered agents only).
    roomy = sorted(targets, key=lambda t: -_room(links[t.worker_id]))
    flows = ({number: f"{roomy[0].host}:{roomy[0].port}"
              for number in settings.entry_points} if roomy else {})
    try:
        conversation = await carry_out(
            lambda: click_to_call(control.distribution, links, plan, agent, destination, flows),
            "-", agent)
    except DestinationNotAllowed as exc:
        raise ApiError(403, "destination-not-allowed",
                       f"the dial plan does not allow calling {destination!r}",
                       {"to": destination}) from exc
    except NoWorker as exc:
        raise ApiError(503, "no-capacity", str(exc)) from exc
    return web.json_response({"call_id": conversation.caller.call_id, "agent": agent,
                              "agent_leg": conversation.leg.call_id, "to": destination},
                             status=201)


def _room(link: Any) -> int:
    return 0 if link is None or link.closed else link.capacity - link.active_calls


def _async(function: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    async def run() -> Any:
        return function()
    return run
