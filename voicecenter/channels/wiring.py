"""Starting the text channels inside `serve`: the hub, SMS and escalation.

Kept out of server.py so the server only says when; this says what. The
flows for chat and SMS are the entry points named `chat` and `sms` (without
one, a conversation goes straight to the queue).
"""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING

from .hub import ConversationHub, HubConfig
from .sms.gateway import SmsGateway

if TYPE_CHECKING:
    from ..flows.runtime import FlowRuntime
    from ..server import Services

HUB_KEY, SMS_KEY = "conversations", "sms"


def tune_gc() -> None:
    """Keep the garbage collector from stalling every conversation at once.

    Thousands of live conversations and the store's ORM objects make each
    full collection scan a large heap: measured with bench/chat, lines then
    wait 130-200 ms at p99 instead of 2 ms. Objects alive after start are
    frozen out of collections, and young collections run less often.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def start_channels(services: Services, runtime: FlowRuntime,
                         stack: contextlib.AsyncExitStack) -> ConversationHub:
    settings = services.settings
    entry_points = {c: settings.entry_points[c] for c in ("chat", "sms")
                    if c in settings.entry_points}
    hub = ConversationHub(services.store, runtime, services.distribution,
                          HubConfig(entry_points=entry_points,
                                    offer_timeout_s=settings.routing.ring_timeout_s),
                          services.store.identities)
    await hub.start()
    stack.push_async_callback(hub.stop)
    gateway = SmsGateway(hub, settings.sms)
    stack.push_async_callback(gateway.close)
    services.extras[HUB_KEY] = hub
    services.extras[SMS_KEY] = gateway
    if services.distribution is not None and services.pool is not None:
        from .escalation import Escalator

        hub.escalate = Escalator(services).escalate
    tune_gc()
    return hub
