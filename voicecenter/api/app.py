"""create_app: the one aiohttp application factory, used by serve and by tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import agents, call_control, calls, desk, health, login, pages
from .auth import auth_middleware, public
from .chat import routes as chat_routes
from .errors import error_middleware
from .events_ws import routes as events_routes
from .flows import routes as flow_routes
from .keys import SERVICES
from .openapi import DOCUMENT
from .openapi_auth import with_security
from .qa import routes as qa_routes
from .queues import routes as queue_routes
from .recordings import routes as recording_routes
from .sms import routes as sms_routes
from .softphone import routes as softphone_routes
from .transcripts import routes as transcript_routes
from .wallboard import routes as wallboard_routes

if TYPE_CHECKING:
    from ..server import Services


OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)


@public
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def _document(app: web.Application) -> None:
    """Built once every route is in, since each operation's roles come from its handler."""
    app[OPENAPI] = with_security(DOCUMENT, app)


def create_app(services: Services) -> web.Application:
    app = web.Application(middlewares=[error_middleware, auth_middleware],
                          client_max_size=1024 * 1024)
    app[SERVICES] = services
    app.router.add_get("/openapi.json", openapi)
    app.on_startup.append(_document)
    for module in (health, calls, agents, login, pages):
        app.router.add_routes(module.routes)
    app.router.add_routes(call_control.routes)
    app.router.add_routes(queue_routes)
    app.router.add_routes(chat_routes)
    app.router.add_routes(sms_routes)
    app.router.add_routes(transcript_routes)
    app.router.add_routes(qa_routes)
    app.router.add_routes(recording_routes)
    app.router.add_routes(softphone_routes)
    app.router.add_routes(flow_routes)
    app.router.add_routes(events_routes)
    app.router.add_routes(wallboard_routes)
    desk.setup(app)
    return app
