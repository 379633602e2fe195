from __future__ import annotations

from typing import Any

from ..context import FlowContext
from ..matching import MIN_CONFIDENCE, closest, trusted
from .base import Node, Param
from .common import ask_digits, prompt_paths


class ListenNode(Node):
    """Hear one utterance: free speech, or a grammar of options.

    With options, the text is matched to the closest option and the option's
    name goes into the variable; without, the text itself. When no speech
    service is there (reason 'unavailable') and options name DTMF keys, the
    caller is asked by DTMF instead; otherwise `unavailable` is taken.
    """

    type_name = "listen"
    params = {
        "into": Param(str, required=True),
        "prompt": Param((str, list, dict), prompt=True, doc="plays while listening"),
        "options": Param(dict, doc="name -> {phrases: [...], dtmf: '1'}"),
        "timeout_ms": Param(int, default=5000, doc="wait for speech to start"),
        "min_confidence": Param((int, float), default=MIN_CONFIDENCE,
                                doc="grammar results below it are no match"),
        "secret": Param(bool, default=False),
    }
    transitions = ("next", "no_input", "no_match", "unavailable")
    time_limit = 120.0
    takes_input = True

    @classmethod
    def validate(cls, values: dict[str, Any]) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        for name, option in (values["options"] or {}).items():
            if not isinstance(name, str):
                problems.append(("options", f"option {name!r} must be a name in quotes"))
            if not isinstance(option, dict) or not option.get("phrases"):
                problems.append(("options", f"option {name!r} needs phrases: [...]"))
        return problems

    @classmethod
    def writes(cls, values: dict[str, Any]) -> set[str]:
        return {values["into"]}

    @classmethod
    def secrets(cls, values: dict[str, Any]) -> set[str]:
        return {values["into"]} if values["secret"] else set()

    def _phrases(self) -> dict[str, list[str]]:
        found = {}
        for name, option in (self["options"] or {}).items():
            phrases = option["phrases"]
            found[str(name)] = [phrases] if isinstance(phrases, str) else list(phrases)
        return found

    async def execute(self, ctx: FlowContext) -> str:
        options = self._phrases()
        grammar = sorted({p for ps in options.values() for p in ps}) or None
        files = await prompt_paths(ctx, self["prompt"])
        heard = await ctx.listen(grammar, self["timeout_ms"], prompt=files or None)
        if heard.reason == "unavailable":
            return await self._dtmf_fallback(ctx)
        if heard.reason != "recognized":
            await ctx.input(self.id, self["into"], text="", reason=heard.reason)
            return "no_input"
        if not heard.text:  # speech was heard, but nothing the grammar knows
            await ctx.input(self.id, self["into"], text="", reason="no_match")
            return "no_match"
        value: str | None = heard.text
        data: dict[str, Any] = {"text": heard.text, "reason": heard.reason,
                                "confidence": heard.confidence}
        if options:
            value, score = closest(heard.text, options)
            data.update(option=value, score=round(score, 2))
            if not trusted(heard.confidence, self["min_confidence"]):
                value = None
                data["reason"] = "low_confidence"
        await ctx.input(self.id, self["into"], **data)
        if value is None:
            return "no_match"
        await ctx.set(self.id, self["into"], value)
        return "next"

    async def _dtmf_fallback(self, ctx: FlowContext) -> str:
        keys = {str(o.get("dtmf")): str(name) for name, o in (self["options"] or {}).items()
                if o.get("dtmf") is not None}
        if not keys:
            return "unavailable"
        result = await ask_digits(ctx, self["prompt"], max_digits=1,
                                  timeout_ms=self["timeout_ms"], inter_digit_ms=1000,
                                  terminator="")
        await ctx.input(self.id, self["into"], digits=result.digits, reason=result.reason)
        if not result.digits:
            return "no_input"
        if result.digits not in keys:
            return "no_match"
        await ctx.set(self.id, self["into"], keys[result.digits])
        return "next"
