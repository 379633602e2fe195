"""`voicecenter flows simulate`: a flow run with scripted input, no SIP.

The same runner and nodes as a real call; only the CallControl is scripted.
It behaves like the media worker: digits the caller types are buffered
(typed ahead), a barge-in prompt finds them and stops at once, a collect
takes them in order and times out when none are left. Spoken input is taken
by listen in script order. So the path printed here is the path a SIPp call
sending the same digits takes.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .backends import MemoryFlowStore
from .context import CallEnded, CollectResult, FlowContext, FlowServices, QueueRequest, SpeechResult
from .http_client import FixtureHttpClient
from .model import Flow
from .runner import run_flow
from .runtime import call_variables


@dataclass(frozen=True)
class Said:
    text: str


Token = str | Said  # one DTMF digit, or one utterance


def parse_inputs(items: list[Any]) -> list[Token]:
    """Script inputs: strings of digits ('100001#'), {say: 'billing'}, or 'say:billing'."""
    tokens: list[Token] = []
    for item in items:
        if isinstance(item, dict) and "say" in item:
            tokens.append(Said(str(item["say"])))
        elif isinstance(item, str) and item.startswith("say:"):
            tokens.append(Said(item[4:].strip()))
        else:
            tokens += [d for d in str(item) if not d.isspace()]
    return tokens


class SimulatedPrompts:
    """Prompt 'files' that name what would be said; nothing is synthesized."""

    async def text(self, text: str, language: str | None = None) -> Path:
        return Path(f"say[{language or 'en'}]: {text}")

    async def playable(self, path: Path) -> Path:
        return path


class ScriptRouter:
    """Finds `agent` (from the script) at once, or nobody at once."""

    def __init__(self, agent: str | None) -> None:
        self.agent = agent
        self.requests: list[QueueRequest] = []

    async def enqueue(self, request: QueueRequest) -> None:
        self.requests.append(request)

    async def wait_for_agent(self, request: QueueRequest, timeout_s: float) -> str | None:
        return self.agent

    async def withdraw(self, request: QueueRequest, reason: str) -> None:
        return None


@dataclass
class ScriptedCall:
    tokens: deque[Token]
    speech: bool
    show: Callable[[str], None] = print
    call_id: str = "simulated"
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    ended: bool = False

    def _live(self) -> None:
        if self.ended:
            raise CallEnded("hung up")

    async def answer(self) -> None:
        self._live()
        self.show("  answer")

    async def play(self, files: list[Path], barge_in: bool = False) -> str:
        self._live()
        stopped = barge_in and bool(self.tokens) and isinstance(self.tokens[0], str)
        reason = "barge_in" if stopped else "finished"
        self.show(f"  play {' + '.join(str(f) for f in files)} ({reason})")
        return reason

    async def stop_play(self) -> None:
        return None

    async def collect(self, max_digits: int, timeout_ms: int, inter_digit_ms: int,
                      terminator: str, flush: bool = False) -> CollectResult:
        self._live()
        digits = ""
        while self.tokens and isinstance(self.tokens[0], str):
            digit = self.tokens.popleft()
            assert isinstance(digit, str)
            if terminator and digit == terminator:
                return CollectResult(digits, "terminator")
            digits += digit
            if len(digits) >= max_digits:
                return CollectResult(digits, "max_digits")
        return CollectResult(digits, "inter_digit" if digits else "timeout")

    async def listen(self, phrases: list[str] | None, timeout_ms: int = 5000,
                     max_speech_ms: int = 10000, end_silence_ms: int = 700,
                     prompt: list[Path] | None = None) -> SpeechResult:
        self._live()
        if not self.speech:
            return SpeechResult("", 0.0, "unavailable")
        if prompt:
            self.show(f"  play {' + '.join(map(str, prompt))} (while listening)")
        if self.tokens and isinstance(self.tokens[0], Said):
            said = self.tokens.popleft()
            assert isinstance(said, Said)
            self.show(f"  caller says {said.text!r}")
            return SpeechResult(said.text, 1.0, "recognized")
        return SpeechResult("", 0.0, "no_input")

    async def record(self, path: Path) -> None:
        self.show(f"  record -> {path}")

    async def stop_record(self) -> None:
        return None

    async def hangup(self) -> None:
        self.show("  hangup")
        self.ended = True

    async def record_event(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))
        if kind == "flow.step":
            where = f"{data['flow']}/" if "flow" in data else ""
            self.show(f"{where}{data['node']} ({data['type']}) -> {data['outcome']}")
        elif kind in ("flow.input", "flow.variable_set", "flow.error", "flow.http") or \
                kind.startswith(("customer.", "call.transfer")):
            shown = {k: v for k, v in data.items() if k != "node"}
            self.show(f"  {kind} {json.dumps(shown, default=str, ensure_ascii=False)}")


@dataclass
class Simulation:
    outcome: str
    call: ScriptedCall
    store: MemoryFlowStore
    router: ScriptRouter

    @property
    def path(self) -> list[str]:
        """The nodes run, in order (what the SIPp tests compare)."""
        return [d["node"] for k, d in self.call.events if k == "flow.step"]


async def simulate(flow: Flow, flows: dict[str, Flow], script: dict[str, Any], sounds: Path,
                   store: MemoryFlowStore, show: Callable[[str], None] = print) -> Simulation:
    """Run `flow` on the script: inputs, caller_id, called_number, http, now, agent, speech."""
    tokens = parse_inputs(list(script.get("inputs") or []))
    speech = bool(script.get("speech", any(isinstance(t, Said) for t in tokens)))
    call = ScriptedCall(deque(tokens), speech, show)
    router = ScriptRouter(script.get("agent"))
    now = script.get("now")
    when = datetime.fromisoformat(str(now)) if now else None
    services = FlowServices(
        store=store, router=router, http=FixtureHttpClient(dict(script.get("http") or {})),
        prompts=SimulatedPrompts(), recordings=Path("/tmp"), flows=flows)  # type: ignore[arg-type]
    if when is not None:
        services.clock = lambda: when
    info = {"from": f"<sip:{script.get('caller_id', 'simulator')}@127.0.0.1>",
            "called_number": str(script.get("called_number", ""))}
    variables = call_variables(call.call_id, info)
    variables.setdefault("language", flow.variables.get("language", "en"))
    ctx = FlowContext(call=call, sounds=sounds, services=services, variables=variables)
    outcome = await run_flow(flow, ctx)
    show(f"outcome: {outcome}")
    return Simulation(outcome, call, store, router)
