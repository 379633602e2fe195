"""/calls: calls and their timelines, as stored."""

from __future__ import annotations

from aiohttp import web

from ..store.errors import NoSuchCall
from .errors import bad_request, not_found
from .keys import SERVICES

routes = web.RouteTableDef()


@routes.get("/calls")
async def list_calls(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise bad_request("limit must be an integer from 1 to 1000", {"limit": raw})
    store = request.app[SERVICES].store
    calls = await store.calls.recent(int(raw))
    return web.json_response({"items": [c.to_dict() for c in calls]})


@routes.get("/calls/{call_id}")
async def get_call(request: web.Request) -> web.Response:
    store = request.app[SERVICES].store
    call_id = request.match_info["call_id"]
    try:
        call = await store.calls.get(call_id)
        timeline = await store.calls.timeline(call_id)
    except NoSuchCall as exc:
        raise not_found("no-such-call", f"no call {call_id}") from exc
    return web.json_response({**call.to_dict(), "timeline": [e.to_dict() for e in timeline]})
