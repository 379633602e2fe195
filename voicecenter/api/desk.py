"""The agent desk's API: its settings, its socket, offers, and a customer's context.

The desk page (web/desk/) logs in as an agent and works through these plus
the general ones (/agents/{name}/state, /agents/{name}/wrap_up, /calls/...).
Offers of calls and chats arrive on the desk socket, a thin wrapper of the
agent socket (api/chat.py) that also makes the agent's state follow the page
(distribution/presence.py).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from ..distribution.desk_context import interaction_context, involves
from ..distribution.desk_offers import DeskOffers, NoSuchOffer
from ..distribution.presence import DeskPresence
from ..media.worker_link import CommandFailed, WorkerUnavailable
from ..routing.errors import UnknownAgent
from ..store.errors import NoSuchAgent, NoSuchInteraction
from .auth import allow, current_user
from .call_outcomes import worker_failed
from .chat import agent_socket
from .errors import ApiError, not_found
from .keys import SERVICES

log = logging.getLogger("voicecenter.api")

routes = web.RouteTableDef()
DESK_KEY = "desk_offers"
# A page reload closes the desk socket and opens a new one within a second or two.
GRACE_S = 2.0


def setup(app: web.Application) -> None:
    """Add the desk's routes and hook its offers into routing when the app starts."""
    app.router.add_routes(routes)
    app.on_startup.append(_install)
    app.on_cleanup.append(_uninstall)


async def _install(app: web.Application) -> None:
    services = app[SERVICES]
    distribution = services.distribution
    if distribution is None:
        return
    hub = services.extras.get("conversations")

    async def push(agent: str, frame: dict[str, Any]) -> bool:
        return bool(hub is not None and await hub.desk.push(agent, frame))

    offers = DeskOffers(distribution, push, DeskPresence(distribution, GRACE_S))
    distribution.desk = offers
    services.extras[DESK_KEY] = offers


async def _uninstall(app: web.Application) -> None:
    offers = app[SERVICES].extras.pop(DESK_KEY, None)
    if offers is not None:
        offers.close()
        if app[SERVICES].distribution is not None:
            app[SERVICES].distribution.desk = None


def _offers(request: web.Request) -> DeskOffers:
    offers = request.app[SERVICES].extras.get(DESK_KEY)
    if offers is None:
        raise ApiError(503, "routing-unavailable", "routing is not running")
    return offers  # type: ignore[no-any-return]


@routes.get("/desk/settings")
@allow("agent", "supervisor")
async def desk_settings(request: web.Request) -> web.Response:
    """Choices the desk offers: away reasons and wrap-up dispositions."""
    routing = request.app[SERVICES].settings.routing
    return web.json_response({"away_reasons": list(routing.away_reasons),
                              "dispositions": list(routing.dispositions),
                              "wrap_up": routing.wrap_up, "wrap_up_s": routing.wrap_up_s})


@routes.get("/agents/{name}/desk")
@allow("agent", "supervisor", own_agent=True)
async def desk_view(request: web.Request) -> web.Response:
    """The agent's state, the voice offer ringing and the call in progress, if any:
    what a desk page opened (or reloaded) in the middle of the work needs."""
    offers, name = _offers(request), request.match_info["name"]
    try:
        await offers.distribution.ensure_agent(name)
    except (UnknownAgent, NoSuchAgent) as exc:
        raise not_found("no-such-agent", f"no agent {name!r}") from exc
    offer = offers.offer_for(name)
    call = offers.calls.get(name)
    conversation = offers.distribution.conversations.get(call["call_id"]) if call else None
    if call is not None and (conversation is None or conversation.agent != name):
        call = None  # transferred away or ended meanwhile
    return web.json_response({
        "agent": offers.distribution.agent_view(name),
        "offer": offer.frame() if offer else None,
        "call": {**call, "held": conversation.held} if call and conversation else None,
        "rejected_offers": offers.rejections[name],
        "desk_open": offers.presence.open(name)})


@routes.get("/agents/{name}/desk/ws")
@allow("agent", own_agent=True)
async def desk_socket(request: web.Request) -> web.StreamResponse:
    """The agent socket (see api/chat.py) counted as an open desk while it lives."""
    offers, name = _offers(request), request.match_info["name"]
    offers.presence.opened(name)
    try:
        return await agent_socket(request)
    finally:
        offers.presence.closed(name)


@routes.post("/agents/{name}/offers/{interaction_id}/reject")
@allow("agent", own_agent=True)
async def reject_offer(request: web.Request) -> web.Response:
    """Reject a ringing call: the agent's phone stops and the call goes to another agent."""
    offers, name = _offers(request), request.match_info["name"]
    ident = request.match_info["interaction_id"]
    try:
        offer = await offers.reject(name, ident)
    except NoSuchOffer as exc:
        raise ApiError(404, "no-such-offer",
                       f"no call is ringing for {name!r} with id {ident!r}") from exc
    except (CommandFailed, WorkerUnavailable) as exc:
        raise worker_failed(exc) from exc
    return web.json_response({"interaction": offer.interaction, "call_id": offer.call_id,
                              "agent": name, "rejected": True})


@routes.get("/agents/{name}/interactions/{interaction_id}")
@allow("agent", "supervisor", own_agent=True)
async def agent_interaction(request: web.Request) -> web.Response:
    """An interaction as the agent's desk shows it (customer, answers, timeline, history).

    Agents see only interactions they were offered or brought into.
    """
    name, ident = request.match_info["name"], request.match_info["interaction_id"]
    services = request.app[SERVICES]
    hub = services.extras.get("conversations")
    if hub is not None:
        await hub.writer.flush()  # chat lines still queued for the timeline
    try:
        context = await interaction_context(services.store, ident)
    except NoSuchInteraction as exc:
        raise not_found("no-such-interaction", f"no interaction {ident!r}") from exc
    offers = services.extras.get(DESK_KEY)
    if current_user(request).role == "agent" and not involves(name, context["timeline"]) \
            and not (offers is not None and offers.involved(name, ident)):
        raise ApiError(403, "forbidden", "this interaction was never offered to you")
    return web.json_response(context)
