"""What flow nodes may touch: the call (through CallControl, never pjsua2),
the flow's variables, the interaction (through FlowStore), the router and
the outside world (HTTP), all reached through FlowContext.

Everything a node can do to the world is a protocol here, so the same nodes
run on a real call, in `voicecenter flows simulate` and in unit tests.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .model import Flow
    from .prompts import PromptCache


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


# -- the interaction and the customers --------------------------------------
@dataclass(frozen=True)
class AuthResult:
    """How one account + PIN attempt went: ok, bad_pin, unknown or locked."""

    status: str
    customer: dict[str, Any] | None = None
    locked_now: bool = False  # this attempt locked the account


class FlowStore(Protocol):
    """What flows write about the conversation and read about customers."""

    async def attach(self, call_id: str, data: dict[str, Any]) -> None:
        """Merge data into the interaction's attached data (interaction.data_attached)."""
        ...

    async def interaction_event(self, call_id: str, kind: str, data: dict[str, Any],
                                state: str | None = None) -> None:
        """Record an interaction-level event (interaction.queued...), moving it to state."""
        ...

    async def authenticate(self, account: str, pin: str, *, max_failures: int,
                           lockout_s: int) -> AuthResult: ...

    async def customer_by_caller_id(self, caller_id: str) -> dict[str, Any] | None: ...


# -- the router -------------------------------------------------------------
@dataclass(frozen=True)
class QueueRequest:
    """An interaction asking for an agent; what the router decides on."""

    call_id: str
    queue: str
    skills: tuple[str, ...]
    priority: int
    segment: str | None = None
    language: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


class Router(Protocol):
    """The queue node's view of the router (built in its own issue)."""

    async def enqueue(self, request: QueueRequest) -> None: ...

    async def wait_for_agent(self, request: QueueRequest, timeout_s: float) -> str | None:
        """The agent's name once one is found, None when timeout_s passes first."""
        ...

    async def withdraw(self, request: QueueRequest, reason: str) -> None: ...


class NoAgentsRouter:
    """The default until the real router is wired: nobody ever answers."""

    async def enqueue(self, request: QueueRequest) -> None:
        return None

    async def wait_for_agent(self, request: QueueRequest, timeout_s: float) -> str | None:
        import asyncio

        await asyncio.sleep(timeout_s)
        return None

    async def withdraw(self, request: QueueRequest, reason: str) -> None:
        return None


# -- HTTP -------------------------------------------------------------------
@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: Any  # parsed JSON, or the text when it was not JSON


class HttpClient(Protocol):
    async def request(self, method: str, url: str, *, json: Any = None,
                      headers: dict[str, str] | None = None,
                      timeout_s: float = 5.0) -> HttpResponse:
        """Raise TimeoutError on timeout and OSError when the server cannot be reached."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class FlowServices:
    """The world outside the call, shared by every call a runtime runs."""

    store: FlowStore | None = None
    router: Router = field(default_factory=NoAgentsRouter)
    http: HttpClient | None = None
    prompts: PromptCache | None = None
    recordings: Path | None = None
    clock: Callable[[], datetime] = _utcnow
    flows: Mapping[str, Flow] = field(default_factory=dict)  # subflows, pinned per call
    # Call-in codes sent from chat/SMS conversations (channels/call_in.py).
    call_in: Any = None


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
MASK = "***"


def lookup(variables: Mapping[str, Any], name: str) -> Any:
    """A variable by name; a dotted name reads into dicts (customer.segment)."""
    if name in variables:
        return variables[name]
    head, _, rest = name.partition(".")
    value: Any = variables.get(head)
    for part in rest.split(".") if rest else ():
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


@dataclass
class FlowContext:
    call: CallControl
    sounds: Path
    variables: dict[str, Any] = field(default_factory=dict)
    services: FlowServices = field(default_factory=FlowServices)
    secrets: set[str] = field(default_factory=set)
    # Set by the runner: run a subflow by name (its return value, None if the call is over).
    subflow: Callable[[str], Awaitable[str | None]] | None = None
    returned: str | None = None  # set by a return node
    stopped: bool = False  # a hangup node ran: every flow level ends
    steps: int = 0

    def render(self, template: str) -> str:
        """Substitute {name} with a variable; no expressions, so no code runs."""
        def value(match: re.Match[str]) -> str:
            found = lookup(self.variables, match.group(1))
            return "" if found is None else str(found)

        return _PLACEHOLDER.sub(value, template)

    def render_value(self, value: Any) -> Any:
        """Render every string inside a value (lists and mappings too)."""
        if isinstance(value, str):
            return self.render(value)
        if isinstance(value, list):
            return [self.render_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.render_value(v) for k, v in value.items()}
        return value

    def sound(self, name: str) -> Path:
        path = (self.sounds / name).resolve()
        if self.sounds.resolve() not in path.parents:
            raise ValueError(f"prompt {name!r} is outside the sounds directory")
        return path

    def shown(self, name: str, value: Any) -> Any:
        """The value as the timeline may show it: secrets masked."""
        return MASK if name in self.secrets and value not in (None, "") else value

    async def set(self, node: str, name: str, value: Any) -> None:
        """Set a variable and record it in the timeline (masked when secret)."""
        self.variables[name] = value
        await self.call.record_event(
            "flow.variable_set", {"node": node, "name": name, "value": self.shown(name, value)})

    async def input(self, node: str, into: str | None, **data: Any) -> None:
        """Record a node's input; digits or text bound for a secret are masked."""
        if into and into in self.secrets:
            data = {k: (MASK if k in ("digits", "text") and v else v) for k, v in data.items()}
        await self.call.record_event("flow.input", {"node": node, **data})

    async def listen(self, phrases: list[str] | None, timeout_ms: int,
                     prompt: list[Path] | None = None) -> SpeechResult:
        """Ask the call to listen; a call that cannot is 'unavailable', not an error."""
        listen = getattr(self.call, "listen", None)
        if listen is None:
            return SpeechResult("", 0.0, "unavailable")
        try:
            return await listen(phrases, timeout_ms=timeout_ms, prompt=prompt)
        except NotImplementedError:
            return SpeechResult("", 0.0, "unavailable")
