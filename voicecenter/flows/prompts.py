"""Prompts as the media worker plays them: 8 kHz mono 16-bit WAV files.

Text prompts are synthesized once with espeak-ng and cached under
data_dir/prompts, named by a hash of voice and text, so a flow can say
anything without a studio and the second caller pays nothing for it. WAV
files in another format are converted once into the same cache with pydub:
pjsua2's file player resamples badly and cannot take stereo.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
import wave
from pathlib import Path

RATE = 8000
VOICES = {"en": "en-us", "es": "es", "fr": "fr", "de": "de", "ko": "ko", "it": "it", "pt": "pt"}


class PromptError(Exception):
    """A prompt could not be produced (espeak-ng missing, bad file...)."""


def voice_for(language: str | None) -> str:
    """The espeak-ng voice for a flow language code ('en' -> 'en-us')."""
    return VOICES.get(language or "en", language or "en-us")


def is_playable(path: Path) -> bool:
    """Whether the worker can play the file as it is (8 kHz mono 16-bit PCM)."""
    try:
        with wave.open(str(path), "rb") as wav:
            return (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
    except (OSError, wave.Error, EOFError):
        return False


def _convert(source: Path, target: Path) -> None:
    from pydub import AudioSegment  # imported late: only conversions need it

    audio = AudioSegment.from_file(str(source))
    audio = audio.set_frame_rate(RATE).set_channels(1).set_sample_width(2)
    fd, tmp = tempfile.mkstemp(suffix=".wav", dir=target.parent)
    os.close(fd)
    try:
        audio.export(tmp, format="wav")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _discard(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)


class PromptCache:
    def __init__(self, directory: Path, espeak: str = "espeak-ng") -> None:
        self.directory = directory
        self.espeak = espeak
        self._locks: dict[str, asyncio.Lock] = {}

    def _path(self, *parts: str) -> Path:
        key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]
        return self.directory / f"{key}.wav"

    async def text(self, text: str, language: str | None = None) -> Path:
        """A WAV of `text` spoken in `language`, synthesized on first use."""
        voice = voice_for(language)
        target = self._path("say", voice, text)
        if target.exists():
            return target
        async with self._locks.setdefault(target.name, asyncio.Lock()):
            if not target.exists():
                await self._synthesize(text, voice, target)
        return target

    async def _synthesize(self, text: str, voice: str, target: Path) -> None:
        if shutil.which(self.espeak) is None:
            raise PromptError(f"{self.espeak} is not installed: cannot say {text!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, raw = tempfile.mkstemp(suffix=".raw.wav", dir=target.parent)
        os.close(fd)
        try:
            proc = await asyncio.create_subprocess_exec(
                self.espeak, "-v", voice, "-w", raw, "--", text,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            if proc.returncode != 0:
                raise PromptError(f"espeak-ng -v {voice} failed: {err.decode(errors='replace')}")
            await asyncio.to_thread(_convert, Path(raw), target)
        finally:
            _discard(raw)

    async def playable(self, path: Path) -> Path:
        """The file itself when the worker can play it, else a converted copy."""
        ready, target = self._converted(path)
        if ready:
            return target
        await asyncio.to_thread(_convert, path, target)
        return target

    def _converted(self, path: Path) -> tuple[bool, Path]:
        """(True, file to play) when nothing is to do, else (False, where to convert to)."""
        if is_playable(path):
            return True, path
        stat = path.stat()
        target = self._path("file", str(path), str(stat.st_mtime_ns), str(stat.st_size))
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.exists(), target
