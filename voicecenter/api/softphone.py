"""/softphone/config: where a browser softphone registers (SIP over WebSocket).

Pages cannot guess the SIP edge's WebSocket address: it is another port (and
with TLS another scheme, maybe another name) than the page's. Any logged-in
user may read it (agents to take calls, supervisors to listen in); it holds
no secret, the SIP password stays the agent's own.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from ..settings import SipSettings
from .auth import allow, current_user
from .errors import ApiError
from .keys import SERVICES

routes = web.RouteTableDef()

_WILDCARDS = {"0.0.0.0", "::", ""}


def websocket_url(sip: SipSettings, page_host: str | None) -> str:
    """The ws:// or wss:// URL a browser that loaded a page from page_host should use.

    An explicit sip.websocket_url wins (a proxy, a public name). With TLS the
    page's own host name is used, because that is the name the certificate
    is for; the same when Kamailio listens on every address. Otherwise the
    edge's listen address, which the browser can reach as it is (a page
    opened as "localhost" must not send the browser to ::1).
    """
    if sip.websocket_url:
        return sip.websocket_url
    scheme = "wss" if sip.websocket_tls else "ws"
    host = sip.address
    if (sip.websocket_tls or sip.address in _WILDCARDS) and page_host:
        host = page_host
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a name
    return f"{scheme}://{host}:{sip.websocket_port}/ws"


@routes.get("/softphone/config")
@allow("agent", "supervisor")
async def softphone_config(request: web.Request) -> web.Response:
    """What softphone.js needs besides the agent's own SIP password."""
    sip = request.app[SERVICES].settings.sip
    if not sip.browsers:
        raise ApiError(409, "browsers-disabled",
                       "browser softphones are turned off (sip.browsers: false)")
    user = current_user(request)
    return web.json_response({
        "ws_url": websocket_url(sip, request.url.host),
        "domain": sip.domain,
        # An agent's SIP account is their agent name; others have none.
        "uri": f"sip:{user.agent}@{sip.domain}" if user.agent else None,
    })
