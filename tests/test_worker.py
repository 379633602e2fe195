"""One media worker over its protocol: hello, bad commands, outbound legs, bridges."""

from __future__ import annotations

import array
import asyncio
import math
import wave
from pathlib import Path

import pytest

from tests.support.sipp import SippRun, free_udp_port
from tests.support.worker_harness import running_worker

pytestmark = pytest.mark.sip

PROMPT = Path(__file__).resolve().parent.parent / "sounds" / "welcome.wav"


async def test_hello_reports_the_capacity_pjsua2_really_has() -> None:
    async with running_worker() as worker:
        hello = await worker.event("hello")
        assert hello["v"] == 1
        assert hello["capacity"] == 4  # PJSUA_MAX_CALLS of the PyPI build


async def test_bad_commands_are_refused_and_the_worker_goes_on() -> None:
    async with running_worker() as worker:
        await worker.event("hello")
        worker.send_raw(b"this is not json\n")
        assert "bad command" in (await worker.event("log"))["message"]
        worker.send_raw(b'{"type":"play","id":"x","call":1,"files":[]}\n')
        assert "field 'id'" in (await worker.event("log"))["message"]
        result = await worker.command("answer", call=99)
        assert result == {"type": "result", "id": result["id"], "ok": False,
                          "error": "no-such-call", "message": "call 99 is not on this worker"}
        result = await worker.command("dial", to="mailto:someone@example.com")
        assert result["error"] == "invalid-uri"
        assert worker.process is not None and worker.process.returncode is None


def rms(path: Path) -> float:
    with wave.open(str(path)) as wav:
        frames = wav.readframes(wav.getnframes())
    samples = array.array("h", frames)
    return math.sqrt(sum(x * x for x in samples) / max(len(samples), 1))


async def test_dialed_leg_is_bridged_to_an_inbound_call(tmp_path: Path) -> None:
    """Caller (SIPp, echoing) <-> worker <-> dialed party (SIPp UAS, echoing).

    The worker plays a prompt to the caller, who sends it back; only through
    the bridge does it reach the dialed party, whose echo we record.
    """
    uas_port = free_udp_port()
    uas = await asyncio.create_subprocess_exec(
        "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port),
        "-mp", str(free_udp_port() & ~1), "-rtp_echo", "-nostdin",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with running_worker() as worker:
            await worker.event("hello")
            caller = asyncio.create_task(SippRun(
                "uac_prompt.xml", f"127.0.0.1:{worker.sip_port}", recv_timeout_ms=8000,
                timeout_s=20, rtp_echo=True).run_async())
            inbound = (await worker.event("call.incoming"))["call"]
            assert (await worker.command("answer", call=inbound))["ok"]
            await worker.event("call.media", call=inbound, active=True)
            leg = (await worker.command("dial", to=f"sip:agent@127.0.0.1:{uas_port}"))["call"]
            await worker.event("call.media", call=leg, active=True)
            assert (await worker.command("play", call=inbound, files=[str(PROMPT)]))["ok"]

            async def record(name: str, seconds: float) -> Path:
                path = tmp_path / name
                assert (await worker.command("record", call=leg, path=str(path)))["ok"]
                await asyncio.sleep(seconds)
                assert (await worker.command("stop_record", call=leg))["ok"]
                return path

            apart = await record("apart.wav", 1.0)
            assert (await worker.command("bridge", call=inbound, other=leg))["ok"]
            together = await record("bridged.wav", 2.0)
            assert (await worker.command("unbridge", call=inbound, other=leg))["ok"]
            assert (await worker.command("hangup", call=leg))["ok"]
            await worker.event("call.state", call=leg, state="disconnected")
            assert (await caller).ok
        assert rms(apart) < 50, "nothing crosses between unbridged calls"
        assert rms(together) > 500, "the caller's audio reached the dialed party"
    finally:
        uas.kill()
        await uas.wait()


async def test_a_phones_refer_is_refused_and_reported_never_dialed() -> None:
    async with running_worker() as worker:
        await worker.event("hello")
        phone = asyncio.create_task(SippRun(
            "uac_refer.xml", f"127.0.0.1:{worker.sip_port}", recv_timeout_ms=3000,
            timeout_s=20).run_async())
        call = (await worker.event("call.incoming"))["call"]
        assert (await worker.command("answer", call=call))["ok"]
        refer = await worker.event("call.refer", call=call)
        assert "sip:0900123456@127.0.0.1:9" in refer["to"]
        result = await phone
        assert result.ok, result.describe()
        # Nothing was dialed: the only call the worker ever had is the phone's.
        await worker.event("call.state", call=call, state="disconnected")
        states = []
        while not worker.events.empty():
            states.append(worker.events.get_nowait())
        assert all(e.get("call", call) == call for e in states)
