from __future__ import annotations

from typing import Any

from ..context import FlowContext
from ..matching import closest, trusted
from .base import Node, Param
from .common import ask_digits, play, prompt_paths

DTMF_KEYS = set("0123456789*#ABCD")
# After speech gave nothing, a digit typed meanwhile (or right now) still counts.
DTMF_GRACE_MS = 1500


def options_of(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Options as {digit: {goto, phrases, value}}; `1: sales` is short for {goto: sales}."""
    found = {}
    for key, raw in (values.get("options") or {}).items():
        option = {"goto": raw} if isinstance(raw, str) else dict(raw or {})
        phrases = option.get("phrases") or []
        option["phrases"] = [phrases] if isinstance(phrases, str) else list(phrases)
        found[str(key)] = option
    return found


class MenuNode(Node):
    """Offer options by DTMF and, when they have phrases, by speech.

    The prompt plays with barge-in; a digit or a spoken phrase picks an
    option. No input and no match get their own prompts and the menu is
    offered again up to `retries` more times, then `failed` is taken. Without
    a speech service (listen says 'unavailable') the menu is DTMF only.
    """

    type_name = "menu"
    params = {
        "prompt": Param((str, list, dict), required=True, prompt=True),
        "options": Param(dict, required=True,
                         doc="digit -> node, or digit -> {goto, phrases, value}"),
        "into": Param(str, doc="variable set to the chosen option's value (or its digit)"),
        "retries": Param(int, default=2),
        "timeout_ms": Param(int, default=5000),
        "speech": Param(bool, doc="listen for phrases (default: when options have phrases)"),
        "no_input_prompt": Param((str, list, dict), prompt=True),
        "no_match_prompt": Param((str, list, dict), prompt=True),
    }
    transitions = ("failed",)
    time_limit = 300.0
    takes_input = True

    @classmethod
    def validate(cls, values: dict[str, Any]) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        for key, option in options_of(values).items():
            if key not in DTMF_KEYS:
                problems.append(("options", f"option {key!r} must be one DTMF key (0-9 * #)"))
            if not isinstance(option.get("goto"), str):
                problems.append(("options", f"option {key!r} needs goto: a node"))
            unknown = set(option) - {"goto", "phrases", "value"}
            if unknown:
                problems.append(("options", f"option {key!r}: unknown {sorted(unknown)}"))
        if not values["options"]:
            problems.append(("options", "a menu needs at least one option"))
        return problems

    @classmethod
    def targets(cls, values: dict[str, Any]) -> dict[str, tuple[str, str]]:
        return {f"option:{k}": (o["goto"], "options") for k, o in options_of(values).items()
                if isinstance(o.get("goto"), str)}

    @classmethod
    def writes(cls, values: dict[str, Any]) -> set[str]:
        return {values["into"]} if values.get("into") else set()

    async def execute(self, ctx: FlowContext) -> str:
        options = options_of(self.values)
        phrases = {k: o["phrases"] for k, o in options.items() if o["phrases"]}
        speech = bool(phrases) if self["speech"] is None else self["speech"]
        offer = getattr(ctx.call, "offer_options", None)  # text channels: quick replies
        for attempt in range(self["retries"] + 1):
            if offer is not None:
                offer(options)
            key, why = await self._ask(ctx, speech, phrases)
            if key == "unavailable":
                speech = False
                key, why = await self._dtmf(ctx)
            if key in options:
                if self["into"]:
                    await ctx.set(self.id, self["into"], options[key].get("value", key))
                return f"option:{key}"
            if attempt < self["retries"]:
                retry = self["no_input_prompt"] if why == "no_input" else self["no_match_prompt"]
                await play(ctx, retry, barge_in=True)
        return "failed"

    async def _ask(self, ctx: FlowContext, speech: bool,
                   phrases: dict[str, list[str]]) -> tuple[str | None, str]:
        if not speech:
            return await self._dtmf(ctx)
        files = await prompt_paths(ctx, self["prompt"])
        words = sorted({p for ps in phrases.values() for p in ps})
        heard = await ctx.listen(words, self["timeout_ms"], prompt=files)
        if heard.reason == "unavailable":
            return "unavailable", "unavailable"
        if heard.reason == "recognized" and heard.text:
            key, score = closest(heard.text, phrases)
            reason = "recognized"
            if not trusted(heard.confidence):
                key, reason = None, "low_confidence"
            await ctx.input(self.id, self["into"], text=heard.text, reason=reason,
                            option=key, score=round(score, 2), confidence=heard.confidence)
            return key, "no_match" if key is None else "match"
        typed = await ctx.call.collect(max_digits=1, timeout_ms=DTMF_GRACE_MS,
                                       inter_digit_ms=DTMF_GRACE_MS, terminator="")
        await ctx.input(self.id, self["into"], digits=typed.digits, reason=typed.reason)
        if not typed.digits:
            return None, "no_input"
        return typed.digits, "match"

    async def _dtmf(self, ctx: FlowContext) -> tuple[str | None, str]:
        result = await ask_digits(ctx, self["prompt"], max_digits=1,
                                  timeout_ms=self["timeout_ms"], inter_digit_ms=1000,
                                  terminator="")
        await ctx.input(self.id, self["into"], digits=result.digits, reason=result.reason)
        if not result.digits:
            return None, "no_input"
        return result.digits, "match"
