"""/agents: the same agent management as `voicecenter agents`, for pages and scripts."""

from __future__ import annotations

from aiohttp import web

from ..distribution.service import AgentBusy, DistributionService
from ..distribution.wrapup import InvalidDisposition, NotInWrapUp
from ..routing.errors import UnknownAgent
from ..store.errors import AgentExists, InvalidAgent, NoSuchAgent
from .auth import allow
from .errors import ApiError, bad_request, json_body, not_found
from .keys import SERVICES

routes = web.RouteTableDef()


@routes.get("/agents")
@allow("supervisor")
async def list_agents(request: web.Request) -> web.Response:
    agents = await request.app[SERVICES].store.agents.list()
    return web.json_response({"items": [a.to_dict() for a in agents]})


@routes.post("/agents")
@allow()
async def add_agent(request: web.Request) -> web.Response:
    body = await json_body(request)
    services = request.app[SERVICES]
    name, password = body.get("name"), body.get("password")
    skills, team = body.get("skills", {}), body.get("team")
    if not isinstance(name, str) or not isinstance(password, str):
        raise bad_request("name and password are required strings")
    if not isinstance(skills, dict):
        raise bad_request("skills must be an object of skill name -> level")
    if team is not None and not isinstance(team, str):
        raise bad_request("team must be a string or null", {"team": team})
    try:
        agent = await services.store.agents.add(
            name, password, skills, services.settings.sip.domain,
            display_name=body.get("display_name"), team=team,
        )
    except AgentExists as exc:
        raise ApiError(409, "agent-exists", f"agent {name!r} already exists") from exc
    except InvalidAgent as exc:
        raise bad_request(str(exc)) from exc
    return web.json_response(agent.to_dict(), status=201)


@routes.get("/agents/{name}")
@allow("supervisor", "agent", own_agent=True)
async def get_agent(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        agent = await request.app[SERVICES].store.agents.get(name)
    except NoSuchAgent as exc:
        raise not_found("no-such-agent", f"no agent {name!r}") from exc
    return web.json_response(agent.to_dict())


_EDITABLE = ("skills", "team", "display_name")


@routes.patch("/agents/{name}")
@allow("supervisor")
async def update_agent(request: web.Request) -> web.Response:
    """Change an agent's skills, team or display name; routing uses new skills at once."""
    name = request.match_info["name"]
    body = await json_body(request)
    unknown = sorted(set(body) - set(_EDITABLE))
    if unknown or not body:
        raise bad_request(f"give one or more of {', '.join(_EDITABLE)}",
                          {"unknown": unknown} if unknown else None)
    skills, display_name = body.get("skills"), body.get("display_name")
    if "skills" in body and not isinstance(skills, dict):
        raise bad_request("skills must be an object of skill name -> level")
    if "team" in body and body["team"] is not None and not isinstance(body["team"], str):
        raise bad_request("team must be a string or null", {"team": body["team"]})
    if "display_name" in body and not isinstance(display_name, str):
        raise bad_request("display_name must be a string")
    services = request.app[SERVICES]
    distribution = services.distribution
    try:
        await services.store.agents.get(name)
        if skills is not None and distribution is not None:
            distribution.check_skills_change(name)
        changes = {"team": body["team"]} if "team" in body else {}
        agent = await services.store.agents.update(name, skills=skills,
                                                   display_name=display_name, **changes)
    except NoSuchAgent as exc:
        raise not_found("no-such-agent", f"no agent {name!r}") from exc
    except InvalidAgent as exc:
        raise bad_request(str(exc)) from exc
    except AgentBusy as exc:
        raise ApiError(409, "agent-busy", f"agent {name!r} holds work; change the skills "
                       "once they are free") from exc
    if distribution is not None:
        distribution.agent_updated(agent.name, agent.skills, agent.team)
    return web.json_response(agent.to_dict())


@routes.delete("/agents/{name}")
@allow()
async def remove_agent(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        await request.app[SERVICES].store.agents.remove(name)
    except NoSuchAgent as exc:
        raise not_found("no-such-agent", f"no agent {name!r}") from exc
    return web.Response(status=204)


_STATES = ("offline", "available", "away", "wrap_up")


@routes.put("/agents/{name}/state")
@allow("supervisor", "agent", own_agent=True)
async def set_state(request: web.Request) -> web.Response:
    """Agents (or their pages) change their own state; reserved and busy are the router's."""
    name = request.match_info["name"]
    body = await json_body(request)
    state, reason = body.get("state"), body.get("reason")
    if state not in _STATES:
        raise bad_request(f"state must be one of {', '.join(_STATES)}", {"state": state})
    if reason is not None and not isinstance(reason, str):
        raise bad_request("reason must be a string")
    distribution = _distribution(request)
    try:
        await distribution.set_agent_state(name, state, reason)
    except NoSuchAgent as exc:
        raise not_found("no-such-agent", f"no agent {name!r}") from exc
    return web.json_response(distribution.agent_view(name))


@routes.get("/agents/{name}/state")
@allow("supervisor", "agent", own_agent=True)
async def get_state(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    distribution = _distribution(request)
    try:
        return web.json_response(distribution.agent_view(name))
    except UnknownAgent as exc:
        raise not_found("no-such-agent", f"no agent {name!r} is known to routing") from exc


def _distribution(request: web.Request) -> DistributionService:
    distribution = request.app[SERVICES].distribution
    if distribution is None:
        raise ApiError(503, "routing-unavailable", "routing is not running")
    return distribution


@routes.post("/agents/{name}/wrap_up")
@allow("supervisor", "agent", own_agent=True)
async def finish_wrap_up(request: web.Request) -> web.Response:
    """End the agent's wrap-up with a disposition code and notes for the conversation."""
    name = request.match_info["name"]
    body = await json_body(request)
    disposition, notes = body.get("disposition"), body.get("notes", "")
    if disposition is not None and not isinstance(disposition, str):
        raise bad_request("disposition must be a string")
    if not isinstance(notes, str) or len(notes) > 4000:
        raise bad_request("notes must be a string of at most 4000 characters")
    distribution = _distribution(request)
    try:
        await distribution.ensure_agent(name)
        call_id = distribution.wrapups.finish(name, disposition)
    except (UnknownAgent, NoSuchAgent) as exc:
        raise not_found("no-such-agent", f"no agent {name!r} is known to routing") from exc
    except NotInWrapUp as exc:
        raise ApiError(409, "not-in-wrap-up", f"agent {name!r} is not in wrap-up") from exc
    except InvalidDisposition as exc:
        raise bad_request(str(exc)) from exc
    await distribution.voice.journal.event(call_id, "interaction.disposition_set", {
        "agent": name, "disposition": disposition, "notes": notes})
    return web.json_response({**distribution.agent_view(name), "call_id": call_id})
