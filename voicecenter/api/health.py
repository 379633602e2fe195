"""/health: what an operator or a load balancer needs to know at a glance."""

from __future__ import annotations

import os

from aiohttp import web

from .auth import public
from .keys import SERVICES

routes = web.RouteTableDef()


@routes.get("/health")
@public
async def health(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    pool = services.pool
    workers = []
    if pool is not None:
        for slot in pool.slots:
            workers.append({
                "worker": slot.index,
                "ready": slot.ready.is_set(),
                "pid": slot.process.pid if slot.process else None,
                "sip_port": slot.sip_port,
                "capacity": slot.capacity,
                "calls": slot.link.active_calls if slot.link else 0,
                "restarts": slot.restarts,
            })
    publisher = services.publisher
    body = {
        "status": "draining" if services.voice.draining else "ok",
        "pid": os.getpid(),
        "workers": workers,
        "capacity": pool.capacity if pool else 0,
        "live_calls": len(services.voice.sessions),
        "sip_edge": bool(services.edge and services.edge.running),
        "broker_connected": bool(publisher and publisher.connected),
    }
    return web.json_response(body)
