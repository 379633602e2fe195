from __future__ import annotations

from ..context import FlowContext
from .base import Node, Param


class CollectNode(Node):
    """Collect DTMF digits into a variable.

    Digits typed during an earlier barge-in prompt count as the first input,
    as callers expect when they know the menu by heart.
    """

    type_name = "collect"
    params = {
        "into": Param(str, required=True),
        "max_digits": Param(int, default=4),
        "min_digits": Param(int, default=1),
        "timeout_ms": Param(int, default=5000),
        "inter_digit_timeout_ms": Param(int, default=3000),
        "terminator": Param(str, default="#"),
    }
    transitions = ("next", "no_input")
    time_limit = 120.0

    async def execute(self, ctx: FlowContext) -> str:
        result = await ctx.call.collect(
            max_digits=self["max_digits"],
            timeout_ms=self["timeout_ms"],
            inter_digit_ms=self["inter_digit_timeout_ms"],
            terminator=self["terminator"],
        )
        ctx.variables[self["into"]] = result.digits
        await ctx.call.record_event(
            "flow.input", {"node": self.id, "digits": result.digits, "reason": result.reason}
        )
        if len(result.digits) < self["min_digits"]:
            return "no_input"
        return "next"
