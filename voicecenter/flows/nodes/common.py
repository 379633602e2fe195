"""Prompt and input helpers every node that talks to the caller shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..context import CollectResult, FlowContext
from ..prompts import PromptCache, PromptError


async def prompt_paths(ctx: FlowContext, spec: Any) -> list[Path]:
    """The files of a prompt spec: file.wav from sounds/, other text synthesized.

    A mapping picks the caller's language ({en: ..., es: ...}), falling back
    to its first entry, so a flow can offer a language without two copies.
    """
    if spec is None:
        return []
    language = str(ctx.variables.get("language") or "en")
    if isinstance(spec, dict):
        spec = spec.get(language, next(iter(spec.values()), None))
    items = spec if isinstance(spec, list) else [spec]
    cache: PromptCache | None = ctx.services.prompts
    files: list[Path] = []
    for item in items:
        if item is None or item == "":
            continue
        text = ctx.render(str(item))
        if text.endswith(".wav"):
            path = ctx.sound(text)
            files.append(await cache.playable(path) if cache and path.exists() else path)
        elif cache is None:
            raise PromptError(f"no prompt cache to say {text!r}")
        else:
            files.append(await cache.text(text, language))
    return files


async def play(ctx: FlowContext, spec: Any, barge_in: bool = False) -> str:
    """Play a prompt; 'finished', 'barge_in' (a digit stopped it) or 'empty'."""
    files = await prompt_paths(ctx, spec)
    if not files:
        return "empty"
    return await ctx.call.play(files, barge_in=barge_in)


async def ask_digits(ctx: FlowContext, prompt: Any, *, max_digits: int, timeout_ms: int,
                     inter_digit_ms: int, terminator: str) -> CollectResult:
    """Play a prompt that digits interrupt, then collect (digits typed ahead count)."""
    await play(ctx, prompt, barge_in=True)
    return await ctx.call.collect(max_digits=max_digits, timeout_ms=timeout_ms,
                                  inter_digit_ms=inter_digit_ms, terminator=terminator)
