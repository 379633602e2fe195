from __future__ import annotations

from ..context import FlowContext
from .base import Node


class AnswerNode(Node):
    """Answer the call (200 OK) and wait for its media."""

    type_name = "answer"
    time_limit = 10.0

    async def execute(self, ctx: FlowContext) -> str:
        await ctx.call.answer()
        return "next"
