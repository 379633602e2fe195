"""create_app: the one aiohttp application factory, used by serve and by tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from . import agents, call_control, calls, health
from .chat import routes as chat_routes
from .errors import error_middleware
from .keys import SERVICES
from .openapi import DOCUMENT
from .queues import routes as queue_routes
from .sms import routes as sms_routes
from .transcripts import routes as transcript_routes

if TYPE_CHECKING:
    from ..server import Services


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)


def create_app(services: Services) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=1024 * 1024)
    app[SERVICES] = services
    app.router.add_get("/openapi.json", openapi)
    for module in (health, calls, agents):
        app.router.add_routes(module.routes)
    app.router.add_routes(call_control.routes)
    app.router.add_routes(queue_routes)
    app.router.add_routes(chat_routes)
    app.router.add_routes(sms_routes)
    app.router.add_routes(transcript_routes)
    return app
