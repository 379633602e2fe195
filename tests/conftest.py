from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.rtp_pcap import write_rtp_pcap
from tests.support.server import ServerProcess
from tests.support.sipp import can_play_pcap

NEEDED = ("kamailio", "sipp", "mosquitto")


def _require_peers() -> None:
    missing = [p for p in NEEDED if not (shutil.which(p) or Path(f"/usr/sbin/{p}").exists())]
    if missing:
        pytest.fail(f"missing programs {missing}: run make setup")
    if not can_play_pcap():
        pytest.fail("SIPp needs root or CAP_NET_RAW to play RTP")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real `voicecenter serve` with 12 workers (48 calls), shared by a module's tests."""
    _require_peers()
    proc = ServerProcess(tmp_path_factory.mktemp("server"), workers=12)
    proc.start()
    try:
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, f"serve exited {code}:\n{proc.tail()}"


@pytest.fixture(scope="session")
def digits_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Caller audio, then RFC 4733 digits 4711, as one continuous RTP stream."""
    path = tmp_path_factory.mktemp("pcap") / "digits_4711.pcap"
    write_rtp_pcap(path, "4711", lead_ms=600, digit_ms=160, gap_ms=240, tail_ms=400)
    return path
