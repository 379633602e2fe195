"""The flows' CallControl for text conversations (chat, SMS).

The same nodes run on chat as on a call: a prompt becomes a message, a menu
becomes quick replies, collect and listen read the next typed line. Prompts
are never synthesized: TextPrompts hands the nodes stand-in paths and the
call turns them back into text.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..flows.context import CallEnded, CollectResult, SpeechResult

SendText = Callable[[str, list[dict[str, str]] | None], Awaitable[None]]
RecordEvent = Callable[[str, dict[str, Any]], Awaitable[None]]

_TEXT_DIR = "text-prompt"


class TextPrompts:
    """Stand-in for PromptCache: a prompt's text travels inside its path name."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    async def text(self, text: str, language: str | None = None) -> Path:
        key = str(len(self._texts)) if text not in self._texts.values() else \
            next(k for k, v in self._texts.items() if v == text)
        self._texts[key] = text
        return Path(_TEXT_DIR) / key

    async def playable(self, path: Path) -> Path:
        return path

    def text_of(self, path: Path) -> str:
        """The words behind a path; a sound file stands for itself (its name)."""
        if path.parent.name == _TEXT_DIR and path.name in self._texts:
            return self._texts[path.name]
        return f"[{path.stem.replace('_', ' ')}]"


_SPACES = re.compile(r"[\s-]+")


class TextCall:
    """One text conversation as a flow sees it.

    Typed lines wait in `inbox`; a node that asks for input takes the next
    one, or times out after `input_timeout_s` at least (people type slower
    than they press keys, so a node's voice timeout is only a lower bound).
    """

    def __init__(self, call_id: str, send: SendText, record: RecordEvent, prompts: TextPrompts,
                 input_timeout_s: float = 120.0, hold_repeat_s: float = 30.0) -> None:
        self.call_id = call_id
        self._send = send
        self._record = record
        self.prompts = prompts
        self.input_timeout_s = input_timeout_s
        self.hold_repeat_s = hold_repeat_s
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.ended = False
        self.options: list[dict[str, Any]] = []
        self._last_text = ""
        self._stop_play = asyncio.Event()

    def _live(self) -> None:
        if self.ended:
            raise CallEnded("conversation ended")

    def offer_options(self, options: dict[str, dict[str, Any]]) -> None:
        """A menu's options: shown as quick replies with its next prompt."""
        self.options = [{"key": key, "label": str((o.get("phrases") or [None])[0]
                                                  or o.get("value") or key)}
                        for key, o in options.items()]

    def _quick_replies(self) -> list[dict[str, str]] | None:
        return [{"key": o["key"], "label": o["label"]} for o in self.options] or None

    async def answer(self) -> None:
        self._live()

    async def play(self, files: list[Path], barge_in: bool = False) -> str:
        self._live()
        text = "\n".join(self.prompts.text_of(f) for f in files)
        if text == self._last_text and not barge_in:
            # A hold prompt played in a loop: say it once, then wait like the audio would.
            self._stop_play.clear()
            waiter = asyncio.ensure_future(self._stop_play.wait())
            try:
                await asyncio.wait_for(waiter, self.hold_repeat_s)
            except TimeoutError:
                pass
            self._live()
            return "finished"
        self._last_text = text
        await self._send(text, self._quick_replies())
        return "barge_in" if barge_in and not self.inbox.empty() else "finished"

    async def stop_play(self) -> None:
        self._stop_play.set()

    async def _next(self, timeout_ms: int) -> str | None:
        self._live()
        timeout = max(timeout_ms / 1000, self.input_timeout_s)
        try:
            text = await asyncio.wait_for(self.inbox.get(), timeout)
        except TimeoutError:
            return None
        self._live()
        return text.strip()

    def _option_key(self, text: str) -> str | None:
        lowered = text.lower()
        for option in self.options:
            if lowered in (option["key"].lower(), option["label"].lower()):
                return str(option["key"])
        return None

    async def collect(self, max_digits: int, timeout_ms: int, inter_digit_ms: int,
                      terminator: str, flush: bool = False) -> CollectResult:
        text = await self._next(timeout_ms)
        if text is None:
            return CollectResult("", "timeout")
        key = self._option_key(text)
        self.options = []
        if key is not None:
            return CollectResult(key, "max_digits")
        value = _SPACES.sub("", text)
        if terminator and value.endswith(terminator):
            value = value[: -len(terminator)]
        return CollectResult(value[:max_digits], "terminator")

    async def listen(self, phrases: list[str] | None, timeout_ms: int = 5000,
                     max_speech_ms: int = 10000, end_silence_ms: int = 700,
                     prompt: list[Path] | None = None) -> SpeechResult:
        if prompt:
            if not self.options and phrases:
                self.options = [{"key": p, "label": p} for p in phrases]
            await self.play(prompt, barge_in=True)
        text = await self._next(timeout_ms)
        key = self._option_key(text) if text else None
        label = next((o["label"] for o in self.options if o["key"] == key), None)
        self.options = []
        if not text:
            return SpeechResult("", 0.0, "no_input")
        return SpeechResult(label or text, 1.0, "recognized")

    async def record(self, path: Path) -> None:
        """A voicemail cannot be left in text; the node's silence timeout ends it."""
        return None

    async def stop_record(self) -> None:
        return None

    async def hangup(self) -> None:
        self.ended = True
        self._stop_play.set()

    async def record_event(self, kind: str, data: dict[str, Any]) -> None:
        await self._record(kind, data)
