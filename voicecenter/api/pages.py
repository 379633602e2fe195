"""The web pages' files: everything under voicecenter/web/ at /ui/.

Pages are static HTML, CSS and ES modules (plus the JsSIP bundle that
`make setup` builds from the npm lock file); all their data comes from the
API with the user's token, so the files themselves are public.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

from .auth import public
from .errors import not_found

routes = web.RouteTableDef()

WEB = Path(__file__).resolve().parent.parent / "web"
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
         ".html": "text/html", ".svg": "image/svg+xml", ".json": "application/json",
         ".wav": "audio/wav"}


@routes.get("/")
@public
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/ui/login/")


@routes.get("/ui/{path:.*}")
@public
async def page_file(request: web.Request) -> web.StreamResponse:
    relative = request.match_info["path"]
    target = (WEB / relative).resolve()
    if not target.is_relative_to(WEB):
        raise not_found("no-such-page", "no such page")
    if target.is_dir():
        if relative and not relative.endswith("/"):
            raise web.HTTPFound(f"/ui/{relative}/")
        target = target / "index.html"
    if not target.is_file():
        raise not_found("no-such-page", f"no page file {relative!r}")
    kind = TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "text/plain"
    return web.FileResponse(target, headers={"Content-Type": kind, "Cache-Control": "no-cache"})
