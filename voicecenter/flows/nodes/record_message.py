from __future__ import annotations

import time
from typing import Any

from ..context import FlowContext
from .base import Node, Param
from .common import play


class RecordMessageNode(Node):
    """Record a message from the caller (voicemail): after the prompt, until
    the terminator key, max_seconds, or the caller hangs up.

    The file goes to the recordings directory and its path into `into`; the
    worker reports recording.started and recording.stopped on the timeline.
    """

    type_name = "record_message"
    voice_only = True
    params = {
        "prompt": Param((str, list, dict), prompt=True,
                        doc="e.g. 'leave a message after the tone'"),
        "max_seconds": Param(int, default=60),
        "terminator": Param(str, default="#"),
        "into": Param(str, default="recording"),
    }
    time_limit = 900.0
    takes_input = True

    @classmethod
    def writes(cls, values: dict[str, Any]) -> set[str]:
        return {values["into"]}

    async def execute(self, ctx: FlowContext) -> str:
        folder = ctx.services.recordings
        record = getattr(ctx.call, "record", None)
        if folder is None or record is None:
            raise RuntimeError("this call cannot record (no recordings directory)")
        await play(ctx, self["prompt"])
        path = folder / f"{ctx.call.call_id}-{self.id}-{int(time.time())}.wav"
        await record(path)
        await ctx.call.collect(max_digits=64, timeout_ms=self["max_seconds"] * 1000,
                               inter_digit_ms=self["max_seconds"] * 1000,
                               terminator=self["terminator"])
        stop = getattr(ctx.call, "stop_record", None)
        if stop is not None:
            await stop()
        await ctx.set(self.id, self["into"], str(path))
        return "next"


class VoicemailNode(RecordMessageNode):
    """`voicemail`: the same as record_message, named as designers look for it."""

    type_name = "voicemail"
