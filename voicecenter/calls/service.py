"""The voice channel: incoming calls from the worker pool to flows and back.

It decides, per incoming call, which flow runs (entry points by called
number), keeps the live sessions, and when a worker is lost it ends that
worker's calls in the store with the reason before the pool refills the slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..flows.context import CallEnded, FlowContext
from ..flows.model import Flow
from ..flows.runner import run_flow
from ..flows.runtime import FlowRuntime, Picked
from ..media.worker_link import WorkerLink
from ..speech.live import SpeechEndpoint
from .journal import CallJournal
from .session import CallSession

log = logging.getLogger("voicecenter.calls")

_USER_PART = re.compile(r"sips?:([^@;>]+)@")


def called_number(to_uri: str) -> str:
    """The user part of a SIP URI ('"100" <sip:100@host>' -> '100')."""
    match = _USER_PART.search(to_uri)
    return match.group(1) if match else ""


class VoiceService:
    def __init__(self, journal: CallJournal, flows: dict[str, Flow],
                 entry_points: dict[str, str], sounds: Path, retry_after: int = 5,
                 runtime: FlowRuntime | None = None) -> None:
        self.journal = journal
        self.flows = flows
        self.entry_points = entry_points
        self.sounds = sounds
        self.retry_after = retry_after
        # With a runtime, flows are hot-reloaded and get the store, router and HTTP.
        self.runtime = runtime
        self.sessions: dict[tuple[int, int], CallSession] = {}
        # Dials in flight per worker, and events for numbers no session holds yet.
        self._dialing: dict[int, int] = {}
        self._early: dict[tuple[int, int], list[dict[str, Any]]] = {}
        self._refusing: set[asyncio.Task[None]] = set()
        self.by_id: dict[str, CallSession] = {}
        self.draining = False
        # The speech service calls listen with; None: listen answers 'unavailable'.
        self.speech: SpeechEndpoint | None = None
        # Told of a phone's REFER on one of its calls (the routing service carries it out).
        self.on_refer: Callable[[CallSession, str], None] | None = None

    # -- pool callbacks ---------------------------------------------------
    async def on_worker_event(self, link: WorkerLink, message: dict[str, Any]) -> None:
        if message["type"] == "call.incoming":
            await self._incoming(link, message)
            return
        key = (link.worker_id, message["call"])
        session = self.sessions.get(key)
        if session is None:
            if self._dialing.get(link.worker_id):
                # A dial's result is read before dial_leg can file the new leg;
                # a leg refused at once (480) reports its end in that gap.
                self._early.setdefault(key, []).append(message)
            return
        await session.on_event(message)
        if message["type"] == "call.refer" and self.on_refer is not None:
            self.on_refer(session, message["to"])
        # The worker reuses call numbers at once: while on_event awaited, a new
        # leg may have been filed under this number; only this session goes.
        if session.ended.is_set() and self.sessions.get(key) is session:
            del self.sessions[key]

    async def on_worker_lost(self, worker_id: int, reason: str) -> None:
        lost = [s for (w, _), s in self.sessions.items() if w == worker_id]
        for session in lost:
            await session.finish(f"media worker lost: {reason}")
            self.sessions.pop((worker_id, session.number), None)
        # Calls the store still holds open on that worker (e.g. mid-setup) end too.
        ended = await self.journal.ended_on_worker(worker_id, f"media worker lost: {reason}")
        log.warning("worker=%d lost (%s): ended %d calls", worker_id, reason,
                    len(set(ended) | {s.call_id for s in lost}))

    async def dial_leg(self, link: WorkerLink, uri: str, *, interaction_id: str | None,
                       called_number: str | None, headers: dict[str, str] | None = None,
                       info: dict[str, Any] | None = None) -> CallSession:
        """Place an outbound leg on `link`'s worker and record it (ringing, not answered).

        Every second leg (an agent's phone, a callback, click to call, an
        escalated chat) starts here, so its events reach a session and its
        record joins the right interaction. Raises what the worker's dial raised.
        """
        fields: dict[str, Any] = {"to": uri}
        if headers:
            fields["headers"] = headers
        worker = link.worker_id
        self._dialing[worker] = self._dialing.get(worker, 0) + 1
        try:
            result = await link.command("dial", **fields)
            early = self._early.pop((worker, result["call"]), [])
        finally:
            self._dialing[worker] -= 1
            if not self._dialing[worker]:
                self._early = {k: v for k, v in self._early.items() if k[0] != worker}
        leg = CallSession(uuid.uuid4().hex, link, result["call"], self.journal,
                          {"from": "voicecenter", "to": uri, **(info or {})})
        leg.answered = True
        self.sessions[(worker, leg.number)] = leg
        self.by_id[leg.call_id] = leg
        try:
            leg.interaction_id = await self.journal.created(leg.call_id, link.worker_id, {
                "from": "voicecenter", "to": uri, "direction": "outbound",
                "interaction_id": interaction_id, "called_number": called_number})
        except Exception:
            with contextlib.suppress(Exception):
                await link.command("hangup", call=leg.number)
            raise
        for message in early:
            await self.on_worker_event(link, message)
        return leg

    # -- calls ------------------------------------------------------------
    async def _incoming(self, link: WorkerLink, message: dict[str, Any]) -> None:
        call_id = uuid.uuid4().hex
        number = called_number(message["to"])
        info = {
            "sip_call_id": message["sip_call_id"],
            "from": message["from"],
            "to": message["to"],
            "called_number": number,
        }
        session = CallSession(call_id, link, message["call"], self.journal, info)
        session.speech = self.speech
        picked = self.runtime.pick(number) if self.runtime else None
        flow = picked.flow if picked else self.flows.get(self.entry_points.get(number, ""))
        info["flow"] = flow.name if flow else None
        session.interaction_id = await self.journal.created(call_id, link.worker_id, info)
        log.info("call=%s worker=%d incoming to %s from %s", call_id, link.worker_id,
                 number, message["from"])
        # Refusing waits for the worker's answer, which this worker's event
        # reader (the caller of this method) must be free to read: a task.
        if self.draining or flow is None:
            code, why = (503, "server shutting down") if self.draining else (
                404, f"no entry point for {number!r}")
            session.task = asyncio.create_task(self._refuse(session, code, why),
                                               name=f"refuse-{call_id}")
            self._refusing.add(session.task)
            session.task.add_done_callback(self._refusing.discard)
            return
        self.sessions[(link.worker_id, message["call"])] = session
        self.by_id[call_id] = session
        session.task = asyncio.create_task(self._run(session, flow, picked), name=f"call-{call_id}")

    async def _refuse(self, session: CallSession, code: int, why: str) -> None:
        log.info("call=%s refused %d: %s", session.call_id, code, why)
        with contextlib.suppress(CallEnded, Exception):
            await session.reject(code, self.retry_after if code == 503 else None)
        await session.finish(f"refused {code}: {why}")

    async def _run(self, session: CallSession, flow: Flow, picked: Picked | None = None) -> None:
        try:
            if self.runtime is not None and picked is not None:
                await self.runtime.run(session, picked, session.info)
            else:
                await run_flow(flow, FlowContext(call=session, sounds=self.sounds))
            if session.connected_to is not None:
                await session.ended.wait()  # the conversation with the agent goes on
            elif not session.ended.is_set():
                await session.hangup()
        except CallEnded:
            pass
        except Exception:
            log.exception("call=%s flow %s crashed", session.call_id, flow.name)
            with contextlib.suppress(Exception):
                await session.hangup()
        finally:
            self.by_id.pop(session.call_id, None)

    async def drain(self, timeout_s: float = 3.0) -> None:
        """Refuse new calls, hang up live ones politely, wait for them to end."""
        self.draining = True
        live = [s for s in self.sessions.values() if not s.ended.is_set()]
        log.info("draining %d live calls", len(live))
        for session in live:
            if session.task is not None:
                session.task.cancel()

        async def hang(session: CallSession) -> None:
            with contextlib.suppress(Exception):
                await session.hangup(None if session.answered else 503)

        await asyncio.gather(*(hang(s) for s in live))
        waits = [asyncio.create_task(s.ended.wait()) for s in live]
        if waits:
            await asyncio.wait(waits, timeout=timeout_s)
        for session in live:
            await session.finish("server shutdown")
