"""Post-call transcription: channels apart, word times, redaction, a job queue that survives.

A two-party recording is stereo (caller left, agent right): the caller says
one phrase early, the agent another later, and each channel's transcript
must hold its own words at its own times. The queue runs against the real
speech service and a real store.
"""

from __future__ import annotations

import array
import asyncio
import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy

from tests.fixtures.speech_audio import synthesize, wav_pcm
from voicecenter.settings import Settings
from voicecenter.speech.jobs import TranscriptionQueue
from voicecenter.speech.service import SpeechService
from voicecenter.speech.transcribe import REDACTED, read_channels, redact, transcribe_file
from voicecenter.store import Store, open_store
from voicecenter.store.transcripts import DONE, PENDING, TranscriptRepository

on_module_loop = pytest.mark.asyncio(loop_scope="module")
RATE = 8000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def speech(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SpeechService]:
    settings = Settings.model_validate({"speech": {"port": free_port(), "threads": 2}})
    service = SpeechService(settings, tmp_path_factory.mktemp("speech"))
    await service.start()
    assert service.available, service.error
    yield service
    await service.stop()


def place(pcm: bytes, at_s: float, total_s: float) -> bytes:
    lead = b"\0\0" * int(at_s * RATE)
    return (lead + pcm).ljust(int(total_s * RATE) * 2, b"\0")


@pytest.fixture(scope="module")
def two_party(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Caller says 네 at 0.5 s (left); agent says 상담원 연결 at 3 s (right)."""
    directory = tmp_path_factory.mktemp("recordings")
    caller, _ = wav_pcm(synthesize("네", directory))
    agent, _ = wav_pcm(synthesize("상담원 연결", directory))
    left = array.array("h", place(caller, 0.5, 6))
    right = array.array("h", place(agent, 3.0, 6))
    stereo = array.array("h", [0]) * (2 * len(left))
    stereo[0::2], stereo[1::2] = left, right
    path = directory / "two_party.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(stereo.tobytes())
    return path


def test_stereo_splits_into_channels(two_party: Path) -> None:
    (left, right), rate = read_channels(two_party)
    assert rate == RATE and len(left) == len(right) == 6 * RATE * 2
    assert any(left[: 2 * RATE]) and not any(right[: 2 * RATE])


def test_digits_inside_sensitive_spans_are_redacted() -> None:
    words = [{"word": "일", "start": 1.0, "end": 1.2}, {"word": "네", "start": 1.3, "end": 1.4},
             {"word": "7", "start": 1.5, "end": 1.6}, {"word": "삼", "start": 5.0, "end": 5.2}]
    out = redact(words, [[0.9, 2.0]])
    assert [w["word"] for w in out] == [REDACTED, "네", REDACTED, "삼"]
    assert out[0]["start"] == 1.0  # times stay: QA still sees that something was said


@on_module_loop
async def test_each_party_on_its_own_channel_with_times(speech: SpeechService,
                                                        two_party: Path) -> None:
    caller, agent = await transcribe_file(two_party, speech.url)
    assert (caller.label, agent.label) == ("caller", "agent")
    assert "네" in caller.text.split()
    assert caller.words and all(0.3 <= w["start"] <= w["end"] <= 2.0 for w in caller.words)
    assert agent.words and all(2.8 <= w["start"] <= w["end"] <= 5.5 for w in agent.words)
    assert all(0 < w["conf"] <= 1 for w in caller.words + agent.words)
    assert caller.duration_s == agent.duration_s == 6.0


@pytest_asyncio.fixture(loop_scope="module")
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    settings = Settings.model_validate(
        {"store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'vc.db'}"}})
    store = await open_store(settings)
    async with store.read() as session:
        tables = await session.run_sync(
            lambda sync: sqlalchemy.inspect(sync.connection()).get_table_names())
    if "transcripts" not in tables:
        await store.close()
        pytest.skip("migration 0003 (transcripts) is not installed yet: it follows 0002")
    yield store
    await store.close()


@on_module_loop
async def test_queue_transcribes_stores_and_finds_by_text(
        speech: SpeechService, store: Store, two_party: Path) -> None:
    call = await store.calls.create_call(direction="inbound", from_uri="sip:a@127.0.0.1",
                                         to_uri="sip:100@127.0.0.1")
    repository = TranscriptRepository(store)
    queue = TranscriptionQueue(repository, speech)
    job_id = await queue.enqueue(two_party, call_id=call.id, sensitive=[[0.0, 0.2]])
    await queue.start()
    try:
        async with asyncio.timeout(30):
            while (job := await repository.job(job_id)) is None or job.state != DONE:  # noqa: ASYNC110
                await asyncio.sleep(0.1)  # the job's state is in the database
    finally:
        await queue.stop()
    stored = await repository.for_call(call.id)
    assert [(t["channel"], t["label"]) for t in stored] == [(0, "caller"), (1, "agent")]
    assert stored[0]["words"][0]["start"] >= 0.3
    found = await repository.search("네")
    assert call.id in {t["call_id"] for t in found}
    (done,) = [e for e in await store.calls.timeline(call.id)
               if e.kind == "transcript.completed"]
    assert done.data["job"] == job_id
    assert [c["label"] for c in done.data["channels"]] == ["caller", "agent"]


@on_module_loop
async def test_jobs_left_running_are_taken_back(store: Store, tmp_path: Path) -> None:
    repository = TranscriptRepository(store)
    job_id = await repository.enqueue(str(tmp_path / "x.wav"))
    claimed = await repository.claim()
    assert claimed is not None and claimed.id == job_id
    assert await repository.claim() is None  # nobody else gets a running job
    # The process dies here; the next one starts its queue:
    assert await repository.requeue_running() == 1
    job = await repository.job(job_id)
    assert job is not None and job.state == PENDING
    again = await repository.claim()
    assert again is not None and again.attempts == 2
    assert await repository.fail(again, "no such file") == PENDING
