"""SMS conversations: inbound texts into the hub, the hub's lines out as texts.

Texts from one number thread into its live conversation; after
`inactivity_timeout_s` without a line the conversation ends and the next
text starts a new one (the hub's idle reaper does that). A flow's quick
replies become a numbered list, since SMS has no buttons. Texts come in by
the webhook (api/sms.py) or as SIP MESSAGE through the edge (sip.py); both
end in `receive`, so they thread the same way.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ...settings import SmsSettings
from ..conversation import CUSTOMER, Conversation, Line
from ..hub import ConversationHub
from ..limits import RateLimiter
from .provider import HttpSmsProvider, NoProvider, SipSmsProvider, SmsFailed, SmsProvider
from .sip import Answer, SipMessage, SipMessageEndpoint, uri_user

log = logging.getLogger("voicecenter.channels")

# A SIP sender is a number or a SIP user name (a softphone's account).
SIP_SENDER = re.compile(r"^\+?[A-Za-z0-9._-]{1,64}$")
RETRY_AFTER_S = 60


@dataclass(frozen=True)
class Inbound:
    sender: str
    to: str
    body: str
    message_id: str | None = None


class SmsGateway:
    def __init__(self, hub: ConversationHub, settings: SmsSettings,
                 provider: SmsProvider | None = None, sip: SipMessageEndpoint | None = None,
                 sip_target: str = "") -> None:
        self.hub = hub
        self.settings = settings
        self.provider = provider or self._provider(settings, sip, sip_target)
        per_second = settings.per_sender_per_minute / 60.0
        self.limits = RateLimiter(per_second=per_second,
                                  burst=float(settings.per_sender_per_minute))
        hub.transports["sms"] = self.deliver
        hub.config.idle_timeout_s["sms"] = settings.inactivity_timeout_s
        if sip is not None:
            sip.on_message = self.receive_sip

    @staticmethod
    def _provider(settings: SmsSettings, sip: SipMessageEndpoint | None,
                  sip_target: str) -> SmsProvider:
        if settings.provider == "http":
            return HttpSmsProvider(settings.provider_url, settings.provider_token)
        if settings.provider == "sip" and sip is not None:
            return SipSmsProvider(sip, sip_target, settings.sip_timeout_s)
        return NoProvider()

    async def receive(self, message: Inbound) -> Line:
        conversation = await self.hub.open("sms", message.sender)
        opening = conversation.last_seq == 0
        return await self.hub.from_customer(conversation, message.body, message.message_id,
                                            to_flow=not opening)

    async def receive_sip(self, message: SipMessage) -> Answer:
        """A MESSAGE relayed by the edge: the webhook's checks, answered in SIP."""
        sender = uri_user(message.get("from") or "")
        to = uri_user(message.get("to") or "") or uri_user(message.request_uri)
        if not message.body:
            return Answer(400, "Message Body Missing")
        content_type = (message.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "text/plain":
            return Answer(415, "Unsupported Media Type", (("Accept", "text/plain"),))
        try:
            # A line break closing the body is the client's framing, not the text.
            text = message.body.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            return Answer(400, "Body Not UTF-8")
        if not SIP_SENDER.match(sender) or not to:
            return Answer(400, "Sender And Recipient Required")
        if len(text) > self.settings.max_body:
            return Answer(413, "Message Too Large")
        if not text.strip():
            return Answer(400, "Message Body Empty")
        if not self.limits.allow(sender):
            return Answer(480, "Too Many Messages", (("Retry-After", str(RETRY_AFTER_S)),))
        line = await self.receive(Inbound(sender, to, text, message.get("call-id")))
        log.info("sms by sip from %s to %s: seq %d", sender, to, line.seq)
        return Answer(202, "Accepted")

    async def deliver(self, conversation: Conversation, line: Line) -> None:
        if line.sender == CUSTOMER:
            return
        body = line.text
        if line.quick_replies:
            body += "\n" + "\n".join(f"{r['key']}) {r['label']}" for r in line.quick_replies)
        try:
            result = await self.provider.send(conversation.address, self.settings.from_number,
                                              body)
        except SmsFailed as exc:
            # The line stays in the conversation; the timeline says it never left.
            log.warning("conversation=%s sms to %s failed: %s", conversation.id,
                        conversation.address, exc)
            self.hub.writer.add(conversation.id, "sms.failed",
                                {"seq": line.seq, "error": str(exc), "status": exc.status})
            return
        self.hub.writer.add(conversation.id, "sms.accepted", {"seq": line.seq,
                                                              "result": result})

    async def close(self) -> None:
        await self.provider.close()
