"""Connecting a waiting caller to an agent: the voice side of an offer.

The agent leg is dialed from the caller's own worker (through the SIP edge,
which finds the agent's registered softphone), so both legs share one
conference bridge: bridging, recording each side, hold music and transfer
then need nothing from the caller's phone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..calls.service import VoiceService
from ..calls.session import CallSession
from ..calls.waiting import first_set
from ..flows.context import CallEnded
from ..media.worker_link import CommandFailed, WorkerUnavailable

log = logging.getLogger("voicecenter.distribution")


class OfferFailed(Exception):
    """The agent's phone did not take the call (no answer, busy, not registered).

    `code` is the SIP status that ended the attempt (0 when it simply rang out).
    """

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class NotConnected(Exception):
    """The call is not connected to an agent (maps to 409 not-connected)."""


class AgentNotAvailable(Exception):
    """The transfer target is not available (maps to 409 agent-not-available)."""


@dataclass(frozen=True)
class SideRecording:
    side: str  # "caller" or "agent"
    agent: str | None
    path: Path
    started: float  # loop time, to place the side on the conversation's timeline


@dataclass
class Conversation:
    """A caller bridged to an agent, with each leg recorded to its own WAV.

    After a transfer `agent` and `leg` are the new agent's; `routed` tells
    whether the router still holds the interaction for `agent` (it does not
    after a transfer, which bypasses routing).
    """

    caller: CallSession
    agent: str
    leg: CallSession
    recordings: list[SideRecording] = field(default_factory=list)
    held: bool = False
    routed: bool = True
    transferred_from: list[str] = field(default_factory=list)
    # Recording paused for card numbers: [start, end] in seconds from the
    # caller's first recording; end None while still paused (see control.py).
    paused: list[list[float | None]] = field(default_factory=list)
    # Called when the agent hangs up; True when another leg took the caller
    # (the consulted agent, a conferee) and the conversation goes on.
    on_agent_hangup: Callable[[], Awaitable[bool]] | None = None
    # The router's id for this work when it is not the caller's call id (a
    # callback keeps the id it waited under while its customer is dialed).
    router_id: str | None = None
    # Set once the conversation is over and its agent released (callbacks wait on it).
    over: asyncio.Event = field(default_factory=asyncio.Event)
    # Blind transfer to an outside destination: `leg` is that destination's call and
    # `agent` the agent who transferred it (already freed); no agent is on it any more.
    outside: str | None = None
    # Blind transfer to a queue: the caller goes on waiting (its call is not hung up)
    # once the agent's leg is gone; see transfer_targets.py.
    requeued: bool = False

    @property
    def interaction(self) -> str:
        """The id the router and the queue figures know this conversation by."""
        return self.router_id or self.caller.call_id


async def dial_agent(voice: VoiceService, caller: CallSession, agent: str, edge: str,
                     ring_timeout_s: float) -> CallSession:
    """Ring the agent's phone from the caller's worker; the answered leg, or OfferFailed."""
    uri = f"sip:{agent}@{edge}"
    try:
        leg = await voice.dial_leg(
            caller.link, uri, interaction_id=caller.interaction_id, called_number=agent,
            headers={"X-Voicecenter-Interaction": caller.interaction_id or caller.call_id},
            info={"agent": agent})
    except (CommandFailed, WorkerUnavailable) as exc:
        raise OfferFailed(f"cannot dial {agent}: {exc}") from exc
    reason = await ring_outcome(leg, ring_timeout_s)
    if reason is None:
        return leg
    code = int(reason.split()[0]) if reason.split()[0].isdigit() else 0
    raise OfferFailed(f"{agent} did not answer: {reason}", code)


async def ring_outcome(leg: CallSession, ring_timeout_s: float) -> str | None:
    """None once the dialed leg answers; else why not (it is hung up if still ringing)."""
    await first_set(leg.media_up, leg.ended, timeout=ring_timeout_s)
    if leg.media_up.is_set() and not leg.ended.is_set():
        return None
    reason = leg.end_reason or f"no answer in {ring_timeout_s:g} s"
    if not leg.ended.is_set():
        with contextlib.suppress(Exception):
            await leg.hangup()
    return reason


async def bridge(caller: CallSession, leg: CallSession) -> None:
    await caller.link.command("stop_play", call=caller.number)
    await caller.link.command("bridge", call=caller.number, other=leg.number)


async def record_leg(conversation: Conversation, session: CallSession, directory: Path,
                     side: str = "agent") -> None:
    """Record what one leg says into its own WAV (merged to stereo at the end)."""
    name = conversation.caller.interaction_id or conversation.caller.call_id
    path = directory / f"{name}-{session.call_id}-{side}.wav"
    if path.exists():  # a caller transferred to a queue is recorded again when answered
        path = _unused(path)
    try:
        await session.record(path)
    except (CallEnded, CommandFailed) as exc:
        log.warning("call=%s recording %s side failed: %s", session.call_id, side, exc)
        return
    agent = conversation.agent if side == "agent" and conversation.outside is None else None
    started = asyncio.get_running_loop().time()
    conversation.recordings.append(SideRecording(side, agent, path, started))


def _unused(path: Path) -> Path:
    """`path` with the first -N suffix not taken yet."""
    n = 2
    while (candidate := path.with_name(f"{path.stem}-{n}{path.suffix}")).exists():
        n += 1
    return candidate


async def record_sides(conversation: Conversation, directory: Path) -> None:
    await record_leg(conversation, conversation.caller, directory, "caller")
    await record_leg(conversation, conversation.leg, directory, "agent")


async def stop_recordings(conversation: Conversation) -> None:
    for session in (conversation.caller, conversation.leg):
        if session.ended.is_set():
            continue  # the worker closed its file when the call ended
        try:
            await session.link.command("stop_record", call=session.number)
        except (CommandFailed, WorkerUnavailable):
            pass


async def wait_either_ends(conversation: Conversation) -> str:
    """Until the caller or the agent hangs up; which side it was."""
    await first_set(conversation.caller.ended, conversation.leg.ended)
    return "caller" if conversation.caller.ended.is_set() else "agent"


async def hold(conversation: Conversation, music: Path) -> None:
    """Separate the parties and give the caller music; the agent hears nothing."""
    caller, leg = conversation.caller, conversation.leg
    await caller.link.command("unbridge", call=caller.number, other=leg.number)
    await caller.link.command("play", call=caller.number, files=[str(music)], loop=True)
    conversation.held = True
    await caller.record_event("call.hold_started", {"agent": conversation.agent})


async def resume(conversation: Conversation) -> None:
    caller, leg = conversation.caller, conversation.leg
    await bridge(caller, leg)
    conversation.held = False
    await caller.record_event("call.hold_stopped", {"agent": conversation.agent})


async def swap_leg(conversation: Conversation, new_leg: CallSession, agent: str) -> CallSession:
    """Blind transfer: the caller is bridged to the new agent; the old leg is returned."""
    caller, old = conversation.caller, conversation.leg
    if not conversation.held and not old.ended.is_set():
        with contextlib.suppress(CommandFailed):  # the old leg may hang up meanwhile
            await caller.link.command("unbridge", call=caller.number, other=old.number)
    await bridge(caller, new_leg)
    conversation.leg, conversation.agent, conversation.held = new_leg, agent, False
    return old
