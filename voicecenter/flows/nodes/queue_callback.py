"""What the queue node says and asks while a caller waits: position, wait, callback.

Kept apart from the node so the hold loop reads as a loop. The router is
reached through the flows' Router protocol plus two optional attributes the
routing service has: ``figures`` (position and estimated wait) and
``callbacks`` (keeping the place for a callback). A router without them (the
flow simulator, NoAgentsRouter) simply gets no announcements and no callback.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from string import Template
from typing import Any

from ..context import CallEnded, FlowContext, QueueRequest
from ..prompts import PromptError
from .common import prompt_paths

log = logging.getLogger("voicecenter.flows")

CALLBACK = "\0callback"  # the hold loop's answer when the caller left for a callback

ENTER_NUMBER = "Please enter the number to call you back on, followed by the hash key."
CONFIRM_NUMBER = ("We will call you back on {digits}. Press 1 to confirm, "
                  "or enter another number followed by the hash key.")
CALLBACK_TAKEN = "Thank you. You keep your place in the queue and we will call you back. " \
                 "Goodbye."
CALLBACK_REFUSED = "Sorry, that number cannot be used. Please stay on the line."

_NUMBER = re.compile(r"^\+?[0-9]{2,20}$")


def spoken_wait(seconds: float) -> dict[str, int]:
    """Minutes said to the caller: at least one, rounded up, never 'zero minutes'."""
    return {"seconds": round(seconds), "minutes": max(1, int(-(-seconds // 60)))}


async def announcement(ctx: FlowContext, request: QueueRequest, template: str) -> list[Path]:
    """The position-and-wait prompt for this caller now, synthesized (cached by text)."""
    figures = getattr(ctx.services.router, "figures", None)
    if figures is None:
        return []
    position = figures.position(request.call_id)
    if position is None:
        return []
    wait = figures.estimated_wait(request.queue, position)
    text = Template(template).safe_substitute(position=position, **spoken_wait(wait))
    try:
        return await prompt_paths(ctx, text)
    except PromptError as exc:  # no espeak-ng: the caller keeps the music, not silence
        log.warning("call=%s no announcement: %s", request.call_id, exc)
        return []


def caller_number(ctx: FlowContext) -> str | None:
    """The caller ID when it is a number we could dial back."""
    raw = str(ctx.variables.get("caller_id") or "")
    return raw if _NUMBER.match(raw) else None


async def offer_callback(ctx: FlowContext, request: QueueRequest) -> bool:
    """Confirm the number and hand the place to a callback; True once done."""
    callbacks = getattr(ctx.services.router, "callbacks", None)
    if callbacks is None:
        return False
    known = caller_number(ctx)
    question = ENTER_NUMBER if known is None else CONFIRM_NUMBER.format(digits=" ".join(known))
    await ctx.call.play(await prompt_paths(ctx, question), barge_in=True)
    typed = await ctx.call.collect(max_digits=20, timeout_ms=8000, inter_digit_ms=4000,
                                   terminator="#")
    digits = typed.digits.rstrip("#")
    number = known if known is not None and digits == "1" else digits
    if not number or not _NUMBER.match(number):
        await _say(ctx, CALLBACK_REFUSED)
        return False
    record = await callbacks.keep_place(request, number)
    if record is None:
        return False  # an agent was found meanwhile: the caller is being connected
    try:
        await _say(ctx, CALLBACK_TAKEN)
    except CallEnded:
        pass  # they hung up early: the callback is stored all the same
    return True


async def _say(ctx: FlowContext, text: str) -> Any:
    return await ctx.call.play(await prompt_paths(ctx, text))
