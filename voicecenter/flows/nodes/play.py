from __future__ import annotations

from ..context import FlowContext
from .base import Node, Param


class PlayNode(Node):
    """Play one or more WAV prompts from the sounds directory."""

    type_name = "play"
    params = {
        "prompt": Param((str, list), required=True),
        "barge_in": Param(bool, default=False),
    }
    time_limit = 300.0

    async def execute(self, ctx: FlowContext) -> str:
        prompts = self["prompt"] if isinstance(self["prompt"], list) else [self["prompt"]]
        files = [ctx.sound(ctx.render(str(p))) for p in prompts]
        await ctx.call.play(files, barge_in=self["barge_in"])
        return "next"
