from __future__ import annotations

from typing import Any

from ..context import FlowContext
from .base import Node, Param
from .common import ask_digits

CODE_DIGITS = 6


class CallInNode(Node):
    """A customer calling in from a chat or SMS conversation goes to the same agent.

    The conversation's agent sent the customer a code (channels/call_in.py).
    The code is taken from the dialed number (the call-in number followed by
    the code, `*` or `#` between them allowed), else the caller's number is
    looked up (a call from the conversation's own number needs no code), else,
    with `prompt`, the caller types it. Found: the agent's name goes into
    `into` (a queue node after this offers the call to that agent first),
    the conversation id into `call_in_conversation`, and `found` is taken;
    otherwise `next` (the usual menus). Nothing is asked when no code was sent.
    """

    type_name = "call_in"
    params = {
        "prompt": Param((str, list, dict), prompt=True,
                        doc="asks for the code (without it only the dialed code and the "
                            "caller's number count)"),
        "timeout_ms": Param(int, default=6000, doc="wait for the first digit"),
        "into": Param(str, default="preferred_agent"),
    }
    transitions = ("found", "next")
    time_limit = 60.0
    takes_input = True

    @classmethod
    def writes(cls, values: dict[str, Any]) -> set[str]:
        return {values["into"], "call_in_conversation"}

    async def execute(self, ctx: FlowContext) -> str:
        codes = ctx.services.call_in
        if codes is None:
            return "next"
        variables = ctx.variables
        called = str(variables.get("called_number") or "")
        ticket, how = None, ""
        if codes.number and called.startswith(codes.number) and len(called) > len(codes.number):
            ticket, how = codes.by_code(called[len(codes.number):].lstrip("*#")), "dialed"
        if ticket is None:
            ticket, how = codes.by_phone(str(variables.get("caller_id") or "")), "caller_id"
        if ticket is None and self["prompt"] is not None and codes.pending():
            result = await ask_digits(ctx, self["prompt"], max_digits=CODE_DIGITS,
                                      timeout_ms=self["timeout_ms"], inter_digit_ms=3000,
                                      terminator="#")
            await ctx.input(self.id, None, digits="***" if result.digits else "",
                            reason=result.reason)
            ticket, how = codes.by_code(result.digits), "typed"
        if ticket is None:
            return "next"
        await ctx.call.record_event("interaction.call_in", {
            "conversation": ticket.conversation, "agent": ticket.agent, "by": how})
        await ctx.set(self.id, "call_in_conversation", ticket.conversation)
        await ctx.set(self.id, self["into"], ticket.agent)
        return "found"
