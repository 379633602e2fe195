"""A transfer asked for by the agent's own softphone (SIP REFER), carried out by the server.

The media worker never lets PJSUA follow a REFER: PJSUA would dial whatever
URI the phone names from the worker (toll fraud, and a call routing never
sees). It answers the REFER itself and reports it (`call.refer`); pjsua2
offers no way to accept a REFER (202) without PJSUA dialing the target, so
the REFER's own answer is a refusal and the transfer happens here instead.

Here the Refer-To is resolved: only an agent of this server, named at the
SIP edge's host (what a phone's "transfer bob" sends), is a target. Anything
else is refused, and a destination is never dialed as the phone wrote it.
The transfer itself is the API's blind transfer (the target must be
available; once their phone answers the caller is theirs and the first agent
is freed).

Phones differ after a REFER: baresip keeps the call until told the outcome,
many desk phones hang up at once. So while the transfer runs, the first
agent hanging up puts the caller on hold with music instead of ending the
conversation, and the conversation goes on with the new agent, or ends if
the transfer fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..calls.session import CallSession
from ..flows.context import CallEnded
from ..media.worker_link import CommandFailed, WorkerUnavailable
from ..routing.errors import UnknownAgent
from ..store.errors import NoSuchAgent
from .connect import AgentNotAvailable, Conversation, OfferFailed, resume
from .dialplan import DestinationNotAllowed, DialPlan

if TYPE_CHECKING:
    from .service import DistributionService

log = logging.getLogger("voicecenter.distribution")

# sip:user@host[:port][;params][?headers], with or without <...> and a display name.
_URI = re.compile(r"^(?:[^<]*<)?(?P<scheme>sips?|tel):(?:(?P<user>[^@;?>]+)@)?"
                  r"(?P<host>[^;?>:]*)(?::(?P<port>\d+))?(?P<params>;[^?>]*)?"
                  r"(?:\?(?P<headers>[^>]*))?>?\s*$")


class TransferRefused(Exception):
    """The Refer-To names nothing the server will transfer to; `error` is a stable id."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True)
class ReferTarget:
    user: str
    host: str
    replaces: bool


def parse_refer_to(value: str) -> ReferTarget:
    """The parts of a Refer-To header that matter here, or TransferRefused."""
    match = _URI.match(value.strip())
    if match is None:
        raise TransferRefused("invalid-refer-to", f"Refer-To {value!r} is not a SIP URI")
    scheme, user, host = match["scheme"], match["user"], match["host"]
    if scheme == "tel":  # tel:NUMBER has no host; the "host" group holds the number
        user, host = host, ""
    headers = (match["headers"] or "").lower()
    return ReferTarget(user=user or "", host=host.lower(), replaces="replaces=" in headers)


class PhoneTransfers:
    """Carries out softphones' REFERs on the conversations DistributionService keeps."""

    def __init__(self, distribution: DistributionService, music: Path) -> None:
        self.distribution = distribution
        self.music = music
        # The dial plan names what may be dialed at all (set by the server).
        self.dialplan: DialPlan | None = None
        self.running: dict[str, asyncio.Task[bool]] = {}  # caller call id -> transfer

    def requested(self, leg: CallSession, refer_to: str) -> None:
        """The phone on `leg` sent a REFER (the worker refused it to PJSUA); act on it.

        Called from the worker's event reader, which the transfer's own
        commands need: the work runs as a task.
        """
        self.distribution._spawn(self._requested(leg, refer_to))

    def _conversation_of(self, leg: CallSession) -> Conversation | None:
        for conversation in self.distribution.conversations.values():
            if conversation.leg is leg:
                return conversation
        return None

    async def _requested(self, leg: CallSession, refer_to: str) -> None:
        conversation = self._conversation_of(leg)
        if conversation is None:
            log.info("call=%s REFER to %s ignored: not an agent's leg of a conversation",
                     leg.call_id, refer_to)
            await leg.record_event("call.transfer_refused", {
                "to": refer_to, "by": "phone", "error": "not-connected",
                "reason": "the phone's call is not a conversation's agent leg"})
            return
        caller = conversation.caller
        try:
            agent = await self.resolve(refer_to)
            if caller.call_id in self.running:
                raise TransferRefused("transfer-in-progress",
                                      "a transfer of this call is already running")
        except TransferRefused as exc:
            log.info("call=%s REFER from %s to %s refused: %s", caller.call_id,
                     conversation.agent, refer_to, exc)
            await caller.record_event("call.transfer_refused", {
                "from": conversation.agent, "to": refer_to, "by": "phone",
                "error": exc.error, "reason": str(exc)})
            return
        task = asyncio.ensure_future(self._transfer(conversation, agent))
        self.running[caller.call_id] = task
        previous = conversation.on_agent_hangup

        async def agent_hung_up() -> bool:
            if not task.done():
                await self._hold_alone(conversation)
            with contextlib.suppress(asyncio.CancelledError):
                if await asyncio.shield(task):
                    return True
            return await previous() if previous is not None else False

        conversation.on_agent_hangup = agent_hung_up
        try:
            await task
        finally:
            self.running.pop(caller.call_id, None)
            if conversation.on_agent_hangup is agent_hung_up:
                conversation.on_agent_hangup = previous

    async def resolve(self, refer_to: str) -> str:
        """The agent a Refer-To names, or TransferRefused (never a URI to dial)."""
        target = parse_refer_to(refer_to)
        if target.replaces:
            raise TransferRefused(
                "attended-refer-not-supported",
                "a REFER with Replaces (attended transfer from the phone) is not carried "
                "out; use POST /calls/{id}/transfer/attended")
        edge_host = self.distribution.edge.rsplit(":", 1)[0].lower()
        if target.user and target.host in ("", edge_host):
            try:
                await self.distribution.ensure_agent(target.user)
            except (NoSuchAgent, UnknownAgent):
                pass
            else:
                return target.user
        destination = target.user if target.host in ("", edge_host) else refer_to.strip("<> ")
        if self.dialplan is not None and destination:
            try:
                self.dialplan.uri_for(destination)
            except DestinationNotAllowed as exc:
                raise TransferRefused("destination-not-allowed",
                                      f"the dial plan does not allow {destination!r}") from exc
        raise TransferRefused("not-an-agent",
                              f"{destination or refer_to!r} is not an agent; a phone's "
                              "transfer reaches agents only")

    async def _transfer(self, conversation: Conversation, agent: str) -> bool:
        """The API's blind transfer; True once the caller is with `agent`."""
        caller = conversation.caller
        try:
            await self.distribution.blind_transfer(caller.call_id, agent, by="phone")
        except (AgentNotAvailable, UnknownAgent, OfferFailed) as exc:
            if isinstance(exc, AgentNotAvailable):  # blind_transfer records the others
                await caller.record_event("call.transfer_failed", {
                    "to": agent, "by": "phone", "reason": f"{agent} is not available"})
            await self._unhold(conversation)
            return False
        except (CommandFailed, WorkerUnavailable, CallEnded) as exc:
            log.warning("call=%s phone transfer to %s failed: %s", caller.call_id, agent, exc)
            return False
        return True

    async def _hold_alone(self, conversation: Conversation) -> None:
        """The first agent hung up mid-transfer: music for the caller until it settles."""
        caller = conversation.caller
        if conversation.held or caller.ended.is_set():
            return
        try:
            await caller.link.command("play", call=caller.number, files=[str(self.music)],
                                      loop=True)
        except (CommandFailed, WorkerUnavailable) as exc:
            log.warning("call=%s no hold music during transfer: %s", caller.call_id, exc)
            return
        conversation.held = True
        await caller.record_event("call.hold_started", {
            "agent": conversation.agent, "reason": "transfer in progress"})

    async def _unhold(self, conversation: Conversation) -> None:
        """A failed transfer gives the caller back to the first agent if still there."""
        caller, leg = conversation.caller, conversation.leg
        if not conversation.held or caller.ended.is_set() or leg.ended.is_set():
            return
        with contextlib.suppress(CommandFailed, WorkerUnavailable, CallEnded):
            await resume(conversation)
