"""A text conversation in memory: numbered lines, who listens, who handles it.

Every line gets the next sequence number of its conversation. A customer
who reconnects says the last number seen and is sent everything after it;
lines the customer sends carry a client id, so one resent after a lost
acknowledgement is kept once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .text_call import TextCall

Listener = Callable[[dict[str, Any]], Awaitable[None]]

CUSTOMER, BOT, AGENT, SYSTEM = "customer", "bot", "agent", "system"


@dataclass(frozen=True)
class Line:
    seq: int
    sender: str
    text: str
    at: float
    agent: str | None = None
    quick_replies: tuple[dict[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "message", "seq": self.seq, "from": self.sender,
                                 "text": self.text, "at": self.at}
        if self.agent:
            frame["agent"] = self.agent
        if self.quick_replies:
            frame["quick_replies"] = list(self.quick_replies)
        return frame


@dataclass
class Conversation:
    id: str  # the interaction id
    channel: str  # chat | sms
    address: str  # chat visitor id or phone number
    customer: str | None = None  # customer profile id
    lines: list[Line] = field(default_factory=list)
    agent: str | None = None
    call: TextCall | None = None
    flow_task: asyncio.Task[Any] | None = None
    listeners: set[Listener] = field(default_factory=set)
    client_ids: dict[str, int] = field(default_factory=dict)
    last_activity: float = field(default_factory=time.monotonic)
    ended: bool = False
    escalation: dict[str, Any] | None = None

    @property
    def last_seq(self) -> int:
        return self.lines[-1].seq if self.lines else 0

    def add(self, sender: str, text: str, agent: str | None = None,
            quick_replies: list[dict[str, str]] | None = None) -> Line:
        line = Line(self.last_seq + 1, sender, text, time.time(), agent,
                    tuple(quick_replies or ()))
        self.lines.append(line)
        self.last_activity = time.monotonic()
        return line

    def since(self, seq: int) -> list[Line]:
        """Lines after `seq` (what a reconnecting client missed)."""
        start = max(0, min(seq, self.last_seq))
        # Sequence numbers are dense from 1, so the list index is seq - 1.
        return self.lines[start:]

    def summary(self) -> dict[str, Any]:
        return {"conversation": self.id, "channel": self.channel, "address": self.address,
                "customer": self.customer, "agent": self.agent, "ended": self.ended,
                "last_seq": self.last_seq, "escalation": self.escalation}
