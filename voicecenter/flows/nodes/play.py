from __future__ import annotations

from ..context import FlowContext
from .base import Node, Param
from .common import play


class PlayNode(Node):
    """Play a prompt: WAV files from sounds/ or text spoken with espeak-ng.

    With barge_in, a digit stops the prompt and stays buffered for the next
    collect or menu, as callers expect when they know the menu by heart.
    """

    type_name = "play"
    params = {
        "prompt": Param((str, list, dict), required=True, prompt=True,
                        doc="file.wav, text to say, a list of both, or {language: prompt}"),
        "barge_in": Param(bool, default=False, doc="a DTMF digit stops the prompt"),
    }
    time_limit = 300.0

    async def execute(self, ctx: FlowContext) -> str:
        await play(ctx, self["prompt"], barge_in=self["barge_in"])
        return "next"
