"""A paused recording merges with silence where it was paused, at true offsets."""

from __future__ import annotations

from pathlib import Path

from pydub import AudioSegment
from pydub.generators import Sine

from voicecenter.recordings.stereo import merge_stereo


def _tone(path: Path, hz: int, ms: int) -> Path:
    Sine(hz, sample_rate=8000).to_audio_segment(duration=ms, volume=-10).set_channels(1) \
        .set_sample_width(2).export(str(path), format="wav")
    return path


def test_pieces_recorded_after_a_pause_land_at_their_offsets(tmp_path: Path) -> None:
    before = _tone(tmp_path / "caller-1.wav", 400, 1000)
    after = _tone(tmp_path / "caller-2.wav", 400, 1000)
    agent = _tone(tmp_path / "agent-1.wav", 600, 1000)
    agent_after = _tone(tmp_path / "agent-2.wav", 600, 1000)
    out = merge_stereo(before, [(agent, 0.0), (agent_after, 3.0)], tmp_path / "call.wav",
                       more_caller=[(after, 3.0)])
    left, right = AudioSegment.from_wav(str(out)).split_to_mono()
    assert len(left) == len(right) == 4000
    for side in (left, right):
        assert side[100:900].rms > 1000, "recorded before the pause"
        assert side[1100:2900].rms == 0, "silence while paused"
        assert side[3100:3900].rms > 1000, "recorded again after it"
