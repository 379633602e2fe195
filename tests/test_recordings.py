"""Recordings: a file cut by a worker crash keeps its audio; compression with ffmpeg."""

from __future__ import annotations

import array
import math
import shutil
import wave
from pathlib import Path

import pytest

from voicecenter.recordings.stereo import compress, merge_stereo, repair_wav_header


def tone(path: Path, seconds: float, freq: float = 440.0) -> Path:
    samples = array.array("h", (int(8000 * math.sin(2 * math.pi * freq * i / 8000))
                                for i in range(int(8000 * seconds))))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(samples.tobytes())
    return path


def crash(path: Path) -> None:
    """What a recorder killed mid-call leaves: sizes never written (zero)."""
    data = bytearray(path.read_bytes())
    data[4:8] = b"\0\0\0\0"
    data[40:44] = b"\0\0\0\0"
    path.write_bytes(bytes(data))


def test_a_wav_cut_by_a_crash_keeps_its_audio(tmp_path: Path) -> None:
    caller, agent = tone(tmp_path / "caller.wav", 2.0), tone(tmp_path / "agent.wav", 1.0, 600)
    crash(caller)
    assert repair_wav_header(caller) is True
    assert repair_wav_header(caller) is False  # already right
    with wave.open(str(caller)) as wav:
        assert wav.getnframes() == 16000
    crash(agent)
    out = merge_stereo(caller, [(agent, 0.5)], tmp_path / "merged.wav")
    with wave.open(str(out)) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() == 16000


def test_not_a_wav_is_left_alone(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    assert repair_wav_header(junk) is False
    assert junk.read_bytes() == b"not audio at all"


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing: make setup")
def test_compress_with_ffmpeg(tmp_path: Path) -> None:
    wav = tone(tmp_path / "call.wav", 3.0)
    opus = compress(wav, "libopus", "24k")
    assert opus.suffix == ".opus" and 0 < opus.stat().st_size < wav.stat().st_size
