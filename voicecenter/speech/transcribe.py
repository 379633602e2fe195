"""Post-call transcription: each channel of a recording through the speech service.

A two-party recording is stereo (caller left, agent right), so who said what
comes from the channel, not from diarization; a mono recording is one
channel. Channels stream to the service at once, at the file's own rate
(Vosk resamples), in free mode with word times and confidence. Word times
are seconds from the start of the recording.

Digits spoken where the caller was giving a PIN or card number must not end
up in a searchable transcript: words that are numbers, inside a sensitive
span of the recording, are replaced by REDACTED.
"""

from __future__ import annotations

import array
import asyncio
import re
import wave
from pathlib import Path
from typing import Any

import aiohttp

from ..store.transcripts import ChannelText
from .client import RecognitionStream, Reply

REDACTED = "[redacted]"
# How the two-party recordings are laid out (voicecenter/recordings/stereo.py).
DEFAULT_LABELS = ("caller", "agent")
CHUNK_S = 0.5
# Number words of the languages we ship models for, and anything with a digit.
_NUMBER_WORDS = frozenset(
    "영 공 일 이 삼 사 오 육 칠 팔 구 십 백 천 만 하나 둘 셋 넷 다섯 여섯 일곱 여덟 아홉 열 "
    "zero oh one two three four five six seven eight nine ten".split())
_DIGIT = re.compile(r"\d")


class TranscriptionError(Exception):
    """A recording that cannot be transcribed (not a WAV, unsupported sample width)."""


def read_channels(path: Path) -> tuple[list[bytes], int]:
    """The 16-bit PCM of each channel of a WAV, and its sample rate."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (OSError, wave.Error, EOFError) as exc:
        raise TranscriptionError(f"{path}: not a readable WAV: {exc}") from exc
    if width != 2:
        raise TranscriptionError(f"{path}: {8 * width}-bit samples; 16-bit PCM is needed")
    if channels == 1:
        return [frames], rate
    samples = array.array("h", frames)
    return [samples[i::channels].tobytes() for i in range(channels)], rate


def is_number(word: str) -> bool:
    return bool(_DIGIT.search(word)) or word.lower() in _NUMBER_WORDS


def redact(words: list[dict[str, Any]], spans: list[list[float]]) -> list[dict[str, Any]]:
    """Number words that overlap a sensitive span (start_s, end_s) become REDACTED."""
    out = []
    for word in words:
        start, end = float(word.get("start", 0)), float(word.get("end", 0))
        hidden = is_number(str(word.get("word", ""))) and any(
            start < s_end and end > s_start for s_start, s_end in spans)
        out.append({**word, "word": REDACTED} if hidden else word)
    return out


async def transcribe_channel(session: aiohttp.ClientSession, url: str, pcm: bytes,
                             rate: int) -> list[dict[str, Any]]:
    """Every word of one channel, with start/end seconds and confidence."""
    stream = RecognitionStream(session, url)
    await stream.open(rate, None, words=True)
    words: list[dict[str, Any]] = []
    step = int(rate * CHUNK_S) * 2
    try:
        for offset in range(0, len(pcm), step):
            reply: Reply = await stream.send_audio(pcm[offset:offset + step])
            words.extend(reply.words)
        words.extend((await stream.finish()).words)
    finally:
        await stream.close()
    return [{"word": w["word"], "start": round(float(w["start"]), 2),
             "end": round(float(w["end"]), 2), "conf": round(float(w.get("conf", 1.0)), 3)}
            for w in words]


async def transcribe_file(path: Path, url: str, labels: list[str] | None = None,
                          sensitive: list[list[float]] | None = None) -> list[ChannelText]:
    """Transcribe every channel of a WAV recording (channels in parallel)."""
    pcms, rate = read_channels(path)
    names = list(labels or DEFAULT_LABELS)[: len(pcms)]
    names += [f"channel{i}" for i in range(len(names), len(pcms))]
    async with aiohttp.ClientSession() as session:
        per_channel = await asyncio.gather(
            *(transcribe_channel(session, url, pcm, rate) for pcm in pcms))
    results = []
    for index, (pcm, words) in enumerate(zip(pcms, per_channel, strict=True)):
        words = redact(words, sensitive or [])
        confs = [w["conf"] for w in words]
        results.append(ChannelText(
            channel=index, label=names[index], text=" ".join(w["word"] for w in words),
            words=words, confidence=round(sum(confs) / len(confs), 3) if confs else 0.0,
            duration_s=round(len(pcm) / 2 / rate, 2)))
    return results
