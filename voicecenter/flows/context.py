"""What flow nodes may touch: the call (through CallControl, never pjsua2),
the flow's variables, and the interaction's timeline."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class CallEnded(Exception):
    """The caller hung up or the call's worker was lost; the flow stops."""


@dataclass(frozen=True)
class CollectResult:
    digits: str
    reason: str  # max_digits | terminator | timeout | inter_digit | hangup


@dataclass(frozen=True)
class SpeechResult:
    """What the caller said, as the speech service heard it.

    reason: "recognized" (text holds the final result), "no_input" (no speech
    before the timeout), "unavailable" (no speech service: flows fall back to
    DTMF) or "error". Matching text to a menu's options is the node's job.
    """

    text: str
    confidence: float
    reason: str
    words: tuple[dict[str, Any], ...] = ()


class CallControl(Protocol):
    """The voice operations a flow can ask for; a media worker carries them out."""

    call_id: str

    async def answer(self) -> None: ...

    async def play(self, files: list[Path], barge_in: bool = False) -> str: ...

    async def collect(self, max_digits: int, timeout_ms: int, inter_digit_ms: int,
                      terminator: str, flush: bool = False) -> CollectResult: ...

    async def listen(self, phrases: list[str] | None, timeout_ms: int = 5000,
                     max_speech_ms: int = 10000, end_silence_ms: int = 700,
                     prompt: list[Path] | None = None) -> SpeechResult:
        """Recognize one utterance; phrases restrict it to a grammar (None: free speech).

        With a prompt, the prompt plays while listening and speech stops it (barge-in).
        """
        ...

    async def hangup(self) -> None: ...

    async def record_event(self, kind: str, data: dict[str, Any]) -> None: ...


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


@dataclass
class FlowContext:
    call: CallControl
    sounds: Path
    variables: dict[str, Any] = field(default_factory=dict)

    def render(self, template: str) -> str:
        """Substitute {name} with a variable; no expressions, so no code runs."""
        return _PLACEHOLDER.sub(lambda m: str(self.variables.get(m.group(1), "")), template)

    def sound(self, name: str) -> Path:
        path = (self.sounds / name).resolve()
        if self.sounds.resolve() not in path.parents:
            raise ValueError(f"prompt {name!r} is outside the sounds directory")
        return path
