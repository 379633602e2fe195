"""/transcripts: what QA reads instead of listening (per channel, with word times)."""

from __future__ import annotations

from aiohttp import web

from .auth import allow, audit
from .errors import bad_request
from .keys import SERVICES

routes = web.RouteTableDef()


@routes.get("/transcripts")
@allow("supervisor", "qa")
async def search(request: web.Request) -> web.Response:
    """Transcripts whose text contains `q`, newest first."""
    text = request.query.get("q", "").strip()
    if not text:
        raise bad_request("q (the words to look for) is required")
    if len(text) > 200:
        raise bad_request("q is longer than 200 characters")
    store = request.app[SERVICES].store
    return web.json_response({"items": await store.transcripts.search(text)}, dumps=_dumps)


@routes.get("/calls/{call_id}/transcript")
@allow("supervisor", "qa")
async def for_call(request: web.Request) -> web.Response:
    store = request.app[SERVICES].store
    call_id = request.match_info["call_id"]
    items = await store.transcripts.for_call(call_id)
    await audit(request, "transcript.read", call_id)
    return web.json_response({"items": items}, dumps=_dumps)


def _dumps(data: object) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, default=str)
