"""Call-in codes: a customer in a chat or SMS calls in and reaches the same agent.

The agent asks for a code; the customer gets it by text together with the
number to call. A call that gives the code (typed, or dialed after the
number) or that comes from the conversation's own number within the window
skips the menus (the `call_in` flow node) and is queued for that agent first
(the router's preferred agent, sticky for routing.sticky_seconds).

Codes live in memory only: they are short-lived, and a restart ends the
conversations they point to anyway.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

CODE_DIGITS = 6


@dataclass(frozen=True)
class Ticket:
    code: str
    conversation: str
    agent: str
    phone: str  # the customer's number (SMS) or '' (chat)
    expires: float


class CallInCodes:
    def __init__(self, number: str, window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.number = number
        self.window_s = window_s
        self.clock = clock
        self._by_code: dict[str, Ticket] = {}

    def issue(self, conversation: str, agent: str, phone: str = "") -> Ticket:
        """A new code for this conversation (an earlier one of it stops working)."""
        self._expire()
        for code, ticket in list(self._by_code.items()):
            if ticket.conversation == conversation:
                del self._by_code[code]
        while True:
            code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
            if code not in self._by_code:
                break
        ticket = Ticket(code, conversation, agent, phone, self.clock() + self.window_s)
        self._by_code[code] = ticket
        return ticket

    def by_code(self, code: str) -> Ticket | None:
        self._expire()
        return self._by_code.get(code)

    def by_phone(self, phone: str) -> Ticket | None:
        """The newest live ticket sent to this number (a call from it needs no code)."""
        self._expire()
        wanted = _digits(phone)
        if not wanted:
            return None
        found = [t for t in self._by_code.values() if t.phone and _digits(t.phone) == wanted]
        return max(found, key=lambda t: t.expires, default=None)

    def pending(self) -> bool:
        """Is any code live? (Without one, nobody is asked to type a code.)"""
        self._expire()
        return bool(self._by_code)

    def used(self, ticket: Ticket) -> None:
        self._by_code.pop(ticket.code, None)

    def _expire(self) -> None:
        now = self.clock()
        for code in [c for c, t in self._by_code.items() if t.expires <= now]:
            del self._by_code[code]


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())
