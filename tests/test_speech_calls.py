"""Speech in real calls: SIPp speaks Korean into a pjsua2 worker, CallSession.listen hears it.

The control plane here is the real one in miniature: a WorkerPool (one real
media worker), CallSessions with a memory journal, and the real speech
service. SIPp calls the worker directly and plays espeak-ng speech (PCMU);
each call runs a small menu flow written against CallControl, the way a
listen node does: grammar phrase -> its branch, anything else -> no_match,
no speech service -> DTMF.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import _require_peers
from tests.fixtures.speech_audio import MENUS, OUT_OF_GRAMMAR, speech_pcap, synthesize
from tests.support.sipp import SippRun
from voicecenter.calls.session import CallSession
from voicecenter.flows.context import CallEnded
from voicecenter.media.pool import WorkerPool
from voicecenter.media.worker_link import WorkerLink
from voicecenter.settings import MediaSettings, SpeechSettings
from voicecenter.speech.live import wav_ms
from voicecenter.speech.service import SpeechService

pytestmark = [pytest.mark.sip, pytest.mark.asyncio(loop_scope="module")]

# Grammar results below this mean word confidence are not trusted as a match:
# the Korean model maps out-of-grammar speech onto options at ~0.5-0.7.
MIN_CONFIDENCE = 0.8
OPTIONS = dict(zip(("agent", "booking"), MENUS["agent_or_booking"], strict=True))
DTMF = {"1": "agent", "2": "booking"}


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MemoryJournal:
    """CallJournal that keeps each call's timeline in memory."""

    def __init__(self) -> None:
        self.timelines: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    async def created(self, call_id: str, worker_id: int, info: dict[str, Any]) -> None:
        self.timelines[call_id] = [("call.created", info)]

    async def event(self, call_id: str, kind: str, data: dict[str, Any]) -> None:
        self.timelines.setdefault(call_id, []).append((kind, data))

    async def answered(self, call_id: str) -> None:
        await self.event(call_id, "call.answered", {})

    async def ended(self, call_id: str, reason: str) -> None:
        await self.event(call_id, "call.ended", {"reason": reason})

    async def ended_on_worker(self, worker_id: int, reason: str) -> list[str]:
        return []


Flow = Callable[[CallSession], Awaitable[str]]


@dataclass
class Plane:
    """Sessions for incoming calls, each running `flow`; outcomes by call id."""

    speech: SpeechService
    journal: MemoryJournal = field(default_factory=MemoryJournal)
    sessions: dict[tuple[int, int], CallSession] = field(default_factory=dict)
    outcomes: dict[str, asyncio.Future[str]] = field(default_factory=dict)
    flow: Flow | None = None
    pool: WorkerPool | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def on_event(self, link: WorkerLink, message: dict[str, Any]) -> None:
        key = (link.worker_id, message["call"])
        if message["type"] == "call.incoming":
            session = CallSession(uuid.uuid4().hex, link, message["call"], self.journal, {})
            session.speech = self.speech
            await self.journal.created(session.call_id, link.worker_id, {})
            self.sessions[key] = session
            outcome = asyncio.get_running_loop().create_future()
            self.outcomes[session.call_id] = outcome
            task = asyncio.create_task(self._run(session, outcome))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif key in self.sessions:
            await self.sessions[key].on_event(message)

    async def _run(self, session: CallSession, outcome: asyncio.Future[str]) -> None:
        assert self.flow is not None
        try:
            outcome.set_result(await self.flow(session))
            await session.hangup()
        except CallEnded:
            if not outcome.done():
                outcome.set_result("caller hung up")
        except Exception as exc:
            if not outcome.done():
                outcome.set_exception(exc)
            with contextlib.suppress(Exception):
                await session.hangup()

    async def on_lost(self, worker_id: int, reason: str) -> None:
        for session in self.sessions.values():
            await session.finish(reason)

    @property
    def sip_target(self) -> str:
        assert self.pool is not None
        return f"127.0.0.1:{self.pool.slots[0].sip_port}"

    async def call(self, pcap: Path, flow: Flow) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        """Place one SIPp call playing `pcap`; the flow's outcome and the call's timeline."""
        self.flow = flow
        before = set(self.outcomes)
        run = SippRun("uac_digits.xml", self.sip_target, pcap=pcap, recv_timeout_ms=15000,
                      timeout_s=30)
        result = await run.run_async()
        assert result.ok, result.describe()
        (call_id,) = set(self.outcomes) - before
        outcome = await asyncio.wait_for(self.outcomes[call_id], 10)
        return outcome, self.journal.timelines[call_id]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def plane(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Plane]:
    _require_peers()
    speech = SpeechService(SpeechSettings(port=free_port(), threads=2),
                           tmp_path_factory.mktemp("speech"))
    await speech.start()
    assert speech.available, speech.error
    plane = Plane(speech)
    media = MediaSettings(workers=1, sip_port_base=free_port(socket.SOCK_DGRAM),
                          rtp_port_base=free_port(socket.SOCK_DGRAM) & ~1 or 31000,
                          control_port=free_port())
    plane.pool = WorkerPool(media, plane.on_event, plane.on_lost)
    await plane.pool.start()
    try:
        yield plane
    finally:
        await plane.pool.stop()
        await speech.stop()


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-pcaps")


def menu(prompt: list[Path] | None = None,
         before_listen: Callable[[], None] | None = None) -> Flow:
    """Answer, listen for OPTIONS (DTMF when speech is unavailable), return the branch."""

    async def flow(session: CallSession) -> str:
        await session.answer()
        if before_listen is not None:
            before_listen()
        heard = await session.listen(list(OPTIONS.values()), timeout_ms=3000, prompt=prompt)
        if heard.reason == "unavailable":
            digits = await session.collect(1, 6000, 1000, "")
            return DTMF.get(digits.digits, "no_input" if not digits.digits else "no_match")
        if heard.reason != "recognized":
            return heard.reason
        if heard.confidence < MIN_CONFIDENCE:
            return "no_match"
        for option, phrase in OPTIONS.items():
            if heard.text == phrase:
                return option
        return "no_match"

    return flow


def recognized(timeline: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [data for kind, data in timeline if kind == "speech.recognized"]


@pytest.mark.parametrize("option", ["agent", "booking"])
async def test_a_grammar_phrase_takes_its_branch(plane: Plane, audio: Path, option: str) -> None:
    outcome, timeline = await plane.call(speech_pcap(OPTIONS[option], audio), menu())
    assert outcome == option
    (heard,) = recognized(timeline)
    assert heard["text"] == OPTIONS[option] and heard["reason"] == "recognized"
    assert heard["confidence"] >= MIN_CONFIDENCE and heard["mode"] == "grammar"


async def test_speech_outside_the_grammar_is_no_match(plane: Plane, audio: Path) -> None:
    outcome, timeline = await plane.call(speech_pcap(OUT_OF_GRAMMAR[0], audio), menu())
    assert outcome == "no_match", recognized(timeline)
    (heard,) = recognized(timeline)
    assert heard["reason"] == "recognized"  # speech was heard: not a no-input


async def test_silence_is_no_input(plane: Plane, audio: Path) -> None:
    outcome, _ = await plane.call(speech_pcap("", audio, tail_ms=4000), menu())
    assert outcome == "no_input"


async def test_speaking_over_the_prompt_stops_it(plane: Plane, audio: Path) -> None:
    prompt = synthesize("안녕하세요 고객님 원하시는 서비스를 말씀해 주세요 상담원 연결 또는 "
                        "예약 확인 중에서 하나를 말씀해 주시면 됩니다 감사합니다", audio)
    outcome, timeline = await plane.call(speech_pcap("상담원", audio), menu(prompt=[prompt]))
    assert outcome == "agent"
    (played,) = [data for kind, data in timeline if kind == "prompt.played"]
    assert played["reason"] == "barge_in"
    (heard,) = recognized(timeline)
    # The caller was heard while the (much longer) prompt still had seconds to go.
    assert heard["ms"] < wav_ms(prompt) - 1000, (heard, wav_ms(prompt))


async def test_a_killed_service_means_dtmf_then_it_comes_back(plane: Plane, audio: Path) -> None:
    speech = plane.speech
    pid = speech.pid
    assert pid is not None

    def kill_soon() -> None:
        asyncio.get_running_loop().call_later(0.4, os.kill, pid, signal.SIGKILL)

    pcap = speech_pcap("상담원", audio, digits="2")  # says "agent", then presses 2
    outcome, timeline = await plane.call(pcap, menu(before_listen=kill_soon))
    assert outcome == "booking"  # the digit, not the speech
    (heard,) = recognized(timeline)
    assert heard["reason"] == "unavailable"

    async with asyncio.timeout(30):
        while not (speech.available and speech.pid not in (None, pid)):  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # the supervisor restarts it; nothing to wait on
    outcome, _ = await plane.call(speech_pcap("상담원", audio), menu())
    assert outcome == "agent"
