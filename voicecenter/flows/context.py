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


class CallControl(Protocol):
    """The voice operations a flow can ask for; a media worker carries them out."""

    call_id: str

    async def answer(self) -> None: ...

    async def play(self, files: list[Path], barge_in: bool = False) -> str: ...

    async def collect(self, max_digits: int, timeout_ms: int, inter_digit_ms: int,
                      terminator: str, flush: bool = False) -> CollectResult: ...

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
