"""POST /sms/inbound: the SMS provider's webhook.

Form fields From, To and Body (MessageSid or MessageId when the provider
sends one: a retried delivery is then kept once), signed with
X-Voicecenter-Signature. Every refusal names its reason: 401 unsigned,
403 bad signature, 400 missing fields, 413 too long, 429 one sender flooding
(with Retry-After), 503 no secret configured.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from aiohttp import web

from ..channels.sms.gateway import Inbound, SmsGateway
from ..channels.sms.signature import HEADER, verify
from .auth import public
from .errors import ApiError, bad_request
from .keys import SERVICES

routes = web.RouteTableDef()

SMS_KEY = "sms"
NUMBER = re.compile(r"^\+?[0-9]{2,20}$")
MAX_REQUEST = 64 * 1024


def gateway_of(request: web.Request) -> SmsGateway:
    gateway = request.app[SERVICES].extras.get(SMS_KEY)
    if gateway is None or not gateway.settings.webhook_secret:
        raise ApiError(503, "sms-unavailable", "SMS is not configured (sms.webhook_secret)")
    return gateway  # type: ignore[no-any-return]


@routes.post("/sms/inbound")
@public
async def inbound(request: web.Request) -> web.Response:
    gateway = gateway_of(request)
    if request.content_length is not None and request.content_length > MAX_REQUEST:
        raise ApiError(413, "message-too-large", f"requests are limited to {MAX_REQUEST} bytes")
    body = await request.read()
    signature = request.headers.get(HEADER)
    if not signature:
        raise ApiError(401, "signature-missing", f"the {HEADER} header is required")
    if not verify(gateway.settings.webhook_secret, body, signature):
        raise ApiError(403, "bad-signature", "the signature does not match the body")
    if not request.content_type.startswith("application/x-www-form-urlencoded"):
        raise ApiError(415, "unsupported-media-type",
                       "send form fields (application/x-www-form-urlencoded)")
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                strict_parsing=False))
    except UnicodeDecodeError as exc:
        raise bad_request("the body is not UTF-8") from exc
    sender, to, text = fields.get("From", ""), fields.get("To", ""), fields.get("Body")
    if not NUMBER.match(sender) or not to or text is None:
        raise bad_request("From (a number), To and Body are required",
                          {"fields": sorted(fields)})
    limit = gateway.settings.max_body
    if len(text) > limit:
        raise ApiError(413, "message-too-large", f"Body is limited to {limit} characters",
                       {"length": len(text)})
    if not text.strip():
        raise bad_request("Body is empty")
    if not gateway.limits.allow(sender):
        error = ApiError(429, "rate-limited", f"too many messages from {sender}")
        error.headers["Retry-After"] = "60"
        raise error
    message_id = fields.get("MessageSid") or fields.get("MessageId") or None
    line = await gateway.receive(Inbound(sender, to, text, message_id))
    conversation = gateway.hub.find("sms", sender)
    return web.json_response({"conversation": conversation.id if conversation else None,
                              "seq": line.seq})
