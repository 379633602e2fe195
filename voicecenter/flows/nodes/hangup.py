from __future__ import annotations

from ..context import FlowContext
from .base import Node, Param
from .common import play


class HangupNode(Node):
    """End the call from our side (BYE), after an optional last prompt."""

    type_name = "hangup"
    params = {
        "prompt": Param((str, list, dict), prompt=True, doc="said before hanging up"),
    }
    transitions = ()
    time_limit = 60.0

    async def execute(self, ctx: FlowContext) -> str:
        await play(ctx, self["prompt"])
        await ctx.call.hangup()
        return ""
