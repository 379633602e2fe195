"""Merging a conversation's two legs into one stereo recording.

Each worker records each leg's incoming audio (what that party said) to its
own mono WAV. Caller left, agent right: QA tools and transcription can then
tell who spoke without diarization. Paused spans are written as silence by
the worker and listed in the metadata, so the file's timeline stays true.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pydub import AudioSegment


class RecordingError(Exception):
    """A recording that cannot be merged or compressed (file missing, not audio)."""


def repair_wav_header(path: Path) -> bool:
    """Make the RIFF and data sizes match the file; True if they had to be fixed.

    A worker writes a WAV's sizes only when the recorder closes; a worker
    that crashed leaves them at zero with the audio intact behind them. The
    audio up to the crash is kept by declaring what is actually there.
    """
    try:
        with path.open("r+b") as wav:
            header = wav.read(4096)
            size = path.stat().st_size
            if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
                return False
            at = 12
            while at + 8 <= len(header):
                chunk, length = header[at:at + 4], int.from_bytes(header[at + 4:at + 8], "little")
                if chunk == b"data":
                    actual = size - (at + 8)
                    if length == actual and int.from_bytes(header[4:8], "little") == size - 8:
                        return False
                    wav.seek(4)
                    wav.write((size - 8).to_bytes(4, "little"))
                    wav.seek(at + 4)
                    wav.write(actual.to_bytes(4, "little"))
                    return True
                at += 8 + length + (length & 1)
    except OSError:
        return False
    return False


def _load(path: Path, rate: int) -> AudioSegment:
    repair_wav_header(path)
    try:
        segment = AudioSegment.from_wav(str(path))
    except (OSError, ValueError, IndexError) as exc:
        raise RecordingError(f"{path}: not a readable WAV: {exc}") from exc
    return segment.set_channels(1).set_frame_rate(rate).set_sample_width(2)


def merge_stereo(caller: Path, agents: list[tuple[Path, float]], out: Path,
                 rate: int = 8000, more_caller: list[tuple[Path, float]] | None = None) -> Path:
    """Write a stereo WAV: the caller left; each agent leg right, at its offset in seconds.

    `more_caller` are later pieces of the caller's side (recorded again after
    a pause), placed at their offsets so the paused span stays silent.
    """
    left = _load(caller, rate)
    legs = [(_load(path, rate), max(0.0, offset)) for path, offset in agents]
    pieces = [(_load(path, rate), max(0.0, offset)) for path, offset in more_caller or []]
    longest = max([len(left)] + [int(offset * 1000) + len(leg) for leg, offset in legs + pieces])
    left += AudioSegment.silent(longest - len(left), frame_rate=rate)
    for piece, offset in pieces:
        left = left.overlay(piece, position=int(offset * 1000))
    right = AudioSegment.silent(longest, frame_rate=rate)
    for leg, offset in legs:
        right = right.overlay(leg, position=int(offset * 1000))
    stereo = AudioSegment.from_mono_audiosegments(left, right)
    out.parent.mkdir(parents=True, exist_ok=True)
    stereo.export(str(out), format="wav")
    return out


def compress(wav: Path, codec: str = "libopus", bitrate: str = "24k") -> Path:
    """Compress with ffmpeg (kept beside the WAV until it succeeded)."""
    if shutil.which("ffmpeg") is None:
        raise RecordingError("ffmpeg is not installed (Debian package 'ffmpeg')")
    suffix = {"libopus": ".opus", "libmp3lame": ".mp3"}.get(codec, ".ogg")
    target = wav.with_suffix(suffix)
    result = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", codec,
         "-b:a", bitrate, str(target)],
        capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0:
        target.unlink(missing_ok=True)
        raise RecordingError(f"ffmpeg failed on {wav}: {result.stderr.strip()[-300:]}")
    return target
