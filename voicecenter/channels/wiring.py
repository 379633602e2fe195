"""Starting the text channels inside `serve`: the hub, SMS and escalation.

Kept out of server.py so the server only says when; this says what. The
flows for chat and SMS are the entry points named `chat` and `sms` (without
one, a conversation goes straight to the queue).
"""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING

from .call_in import CallInCodes
from .hub import ConversationHub, HubConfig
from .sms.gateway import SmsGateway
from .sms.sip import SipMessageEndpoint

if TYPE_CHECKING:
    from ..flows.runtime import FlowRuntime
    from ..server import Services

HUB_KEY, SMS_KEY, SMS_SIP_KEY = "conversations", "sms", "sms_sip"


async def open_sms_sip(services: Services, stack: contextlib.AsyncExitStack) -> None:
    """Bind the SIP MESSAGE endpoint before the edge starts: its config names the port.

    With sms.sip_port 0 a free port is chosen and written back into the
    settings, which the edge's configuration is rendered from.
    """
    settings = services.settings
    sip = settings.sip
    endpoint = SipMessageEndpoint(sip.address, (sip.address, sip.port), sip.domain)
    settings.sms.sip_port = await endpoint.open(settings.sms.sip_port)
    stack.push_async_callback(endpoint.close)
    services.extras[SMS_SIP_KEY] = endpoint


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
    sip_target = settings.sms.sip_target or settings.dialplan.trunk or \
        f"{settings.sip.domain}:{settings.sip.port}"
    gateway = SmsGateway(hub, settings.sms, sip=services.extras.get(SMS_SIP_KEY),
                         sip_target=sip_target)
    if settings.sms.call_in_number:
        hub.call_in = CallInCodes(settings.sms.call_in_number, settings.sms.call_in_window_s)
        runtime.services.call_in = hub.call_in
    stack.push_async_callback(gateway.close)
    services.extras[HUB_KEY] = hub
    services.extras[SMS_KEY] = gateway
    if services.distribution is not None and services.pool is not None:
        from .escalation import Escalator

        hub.escalate = Escalator(services).escalate
    tune_gc()
    return hub
