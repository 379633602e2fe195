from __future__ import annotations

from ..context import FlowContext
from .base import Node


class HangupNode(Node):
    """End the call from our side (BYE)."""

    type_name = "hangup"
    transitions = ()
    time_limit = 10.0

    async def execute(self, ctx: FlowContext) -> str:
        await ctx.call.hangup()
        return ""
