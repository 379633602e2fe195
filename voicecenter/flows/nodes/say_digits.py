from __future__ import annotations

from ..context import FlowContext
from .base import Node, Param

_NAMES = {"*": "star", "#": "hash"}


class SayDigitsNode(Node):
    """Speak a digit string with the per-digit prompts in sounds/digits/."""

    type_name = "say_digits"
    voice_only = True
    params = {
        "value": Param(str, required=True, doc="digits to say, usually {a_variable}"),
        "intro": Param(str, default=None, prompt=True, doc="a .wav played first"),
    }
    time_limit = 120.0

    async def execute(self, ctx: FlowContext) -> str:
        digits = ctx.render(self["value"])
        files = [ctx.sound(self["intro"])] if self["intro"] else []
        files += [ctx.sound(f"digits/{_NAMES.get(d, d)}.wav") for d in digits if d.strip()]
        if files:
            await ctx.call.play(files)
        return "next"
