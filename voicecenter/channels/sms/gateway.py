"""SMS conversations: inbound texts into the hub, the hub's lines out as texts.

Texts from one number thread into its live conversation; after
`inactivity_timeout_s` without a line the conversation ends and the next
text starts a new one (the hub's idle reaper does that). A flow's quick
replies become a numbered list, since SMS has no buttons.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ...settings import SmsSettings
from ..conversation import CUSTOMER, Conversation, Line
from ..hub import ConversationHub
from ..limits import RateLimiter
from .provider import HttpSmsProvider, NoProvider, SmsFailed, SmsProvider

log = logging.getLogger("voicecenter.channels")


@dataclass(frozen=True)
class Inbound:
    sender: str
    to: str
    body: str
    message_id: str | None = None


class SmsGateway:
    def __init__(self, hub: ConversationHub, settings: SmsSettings,
                 provider: SmsProvider | None = None) -> None:
        self.hub = hub
        self.settings = settings
        self.provider = provider or (HttpSmsProvider(settings.provider_url,
                                                     settings.provider_token)
                                     if settings.provider == "http" else NoProvider())
        per_second = settings.per_sender_per_minute / 60.0
        self.limits = RateLimiter(per_second=per_second,
                                  burst=float(settings.per_sender_per_minute))
        hub.transports["sms"] = self.deliver
        hub.config.idle_timeout_s["sms"] = settings.inactivity_timeout_s

    async def receive(self, message: Inbound) -> Line:
        conversation = await self.hub.open("sms", message.sender)
        opening = conversation.last_seq == 0
        return await self.hub.from_customer(conversation, message.body, message.message_id,
                                            to_flow=not opening)

    async def deliver(self, conversation: Conversation, line: Line) -> None:
        if line.sender == CUSTOMER:
            return
        body = line.text
        if line.quick_replies:
            body += "\n" + "\n".join(f"{r['key']}) {r['label']}" for r in line.quick_replies)
        try:
            await self.provider.send(conversation.address, self.settings.from_number, body)
        except SmsFailed as exc:
            # The line stays in the conversation; the timeline says it never left.
            log.warning("sms to %s failed: %s", conversation.address, exc)
            self.hub.writer.add(conversation.id, "sms.sent",
                                {"seq": line.seq, "failed": str(exc)})

    async def close(self) -> None:
        await self.provider.close()
