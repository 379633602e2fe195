from __future__ import annotations

import re
from typing import Any

from ..context import FlowContext
from .base import Node, Param
from .common import ask_digits, play


class CollectNode(Node):
    """Collect DTMF digits into a variable, with validation and retries.

    Digits typed during an earlier barge-in prompt count as the first input,
    as callers expect when they know the menu by heart. Input shorter than
    min_digits or not matching `pattern` is invalid: the caller hears
    invalid_prompt and tries again, up to `retries` more times.
    """

    type_name = "collect"
    params = {
        "into": Param(str, required=True, doc="variable that receives the digits"),
        "prompt": Param((str, list, dict), prompt=True, doc="played first; digits interrupt it"),
        "max_digits": Param(int, default=4),
        "min_digits": Param(int, default=1),
        "timeout_ms": Param(int, default=5000, doc="wait for the first digit"),
        "inter_digit_timeout_ms": Param(int, default=3000, doc="wait between digits"),
        "terminator": Param(str, default="#", doc="ends the input early; '' for none"),
        "pattern": Param(str, doc="regular expression the whole input must match"),
        "retries": Param(int, default=0, doc="further attempts after no or invalid input"),
        "no_input_prompt": Param((str, list, dict), prompt=True),
        "invalid_prompt": Param((str, list, dict), prompt=True),
        "secret": Param(bool, default=False, doc="mask the digits in the timeline"),
    }
    transitions = ("next", "no_input", "invalid")
    time_limit = 300.0
    takes_input = True

    @classmethod
    def validate(cls, values: dict[str, Any]) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        if not 1 <= values["max_digits"] <= 64:
            problems.append(("max_digits", "max_digits must be 1..64"))
        if not 0 <= values["min_digits"] <= values["max_digits"]:
            problems.append(("min_digits", "min_digits must be 0..max_digits"))
        if values["pattern"]:
            try:
                re.compile(values["pattern"])
            except re.error as exc:
                problems.append(("pattern", f"pattern does not compile: {exc}"))
        return problems

    @classmethod
    def writes(cls, values: dict[str, Any]) -> set[str]:
        return {values["into"]}

    @classmethod
    def secrets(cls, values: dict[str, Any]) -> set[str]:
        return {values["into"]} if values["secret"] else set()

    async def execute(self, ctx: FlowContext) -> str:
        outcome = "no_input"
        for attempt in range(self["retries"] + 1):
            result = await ask_digits(
                ctx, self["prompt"], max_digits=self["max_digits"],
                timeout_ms=self["timeout_ms"], inter_digit_ms=self["inter_digit_timeout_ms"],
                terminator=self["terminator"])
            extra = {"attempt": attempt + 1} if self["retries"] else {}
            await ctx.input(self.id, self["into"], digits=result.digits, reason=result.reason,
                            **extra)
            digits = result.digits
            if not digits and self["min_digits"] > 0:
                outcome, retry_prompt = "no_input", self["no_input_prompt"]
            elif len(digits) < self["min_digits"] or (
                    self["pattern"] and not re.fullmatch(self["pattern"], digits)):
                outcome, retry_prompt = "invalid", self["invalid_prompt"]
            else:
                await ctx.set(self.id, self["into"], digits)
                return "next"
            if attempt < self["retries"]:
                await play(ctx, retry_prompt, barge_in=True)
        await ctx.set(self.id, self["into"], "")
        return outcome
