"""SMS as SIP MESSAGE through the edge, and calling in with a code from an SMS.

A SIPp customer sends MESSAGE to the edge (answered 202) and the text lands in
the customer's SMS conversation; the agent's replies go out as MESSAGE through
the edge to a SIPp trunk (202 recorded as sms.accepted; with the trunk gone,
sms.failed). Bad MESSAGEs get a SIP 4xx. Then an SMS by webhook, a call-in code
from the agent, and a SIPp call dialing the code reaches the same agent's
baresip without the menu.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.support.server import ROOT, ServerPorts, ServerProcess
from tests.support.sipp import free_media_port, free_udp_port, scenario_path
from tests.support.softphone import Softphone
from tests.test_chat import until
from voicecenter.channels.sms.signature import HEADER, sign

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=7190, websocket=10189, http=10181, mqtt=4184, control=10192,
                    worker_sip_base=10400, rtp_base=64200, speech=2811)
SMS_SIP_PORT = 7191
SECRET = "sms-sip-secret"
TRUNK_PORT = free_udp_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("sms_sip")
    proc = ServerProcess(work, workers=2, ports=PORTS, overrides={
        "routing": {"ring_timeout_s": 8},
        "paths": {"flows": str(ROOT / "tests" / "fixtures" / "call_in_flows")},
        "entry_points": {"1500": "call_in_line", "1500*": "call_in_line"},
        "sms": {"webhook_secret": SECRET, "provider": "sip", "sip_port": SMS_SIP_PORT,
                "sip_target": f"127.0.0.1:{TRUNK_PORT}", "sip_timeout_s": 5,
                "max_body": 200, "call_in_number": "1500"}}).start()
    try:
        yield proc
    finally:
        assert proc.stop() == 0, proc.tail()


def raw_message(body: bytes, content_type: str | None = "text/plain",
                sender: str = "+15550177") -> str:
    """One MESSAGE to the edge over UDP; the status line of the final answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        headers = [
            f"MESSAGE sip:5000@127.0.0.1:{PORTS.sip} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{secrets.token_hex(8)};rport",
            "Max-Forwards: 70",
            f"From: <sip:{sender}@127.0.0.1:{port}>;tag={secrets.token_hex(4)}",
            f"To: <sip:5000@127.0.0.1:{PORTS.sip}>",
            f"Call-ID: {secrets.token_hex(10)}@test",
            "CSeq: 1 MESSAGE",
        ]
        if content_type:
            headers.append(f"Content-Type: {content_type}")
        headers += [f"Content-Length: {len(body)}", "", ""]
        sock.sendto("\r\n".join(headers).encode() + body, ("127.0.0.1", PORTS.sip))
        while True:
            status = sock.recv(65535).decode().split("\r\n", 1)[0]
            if not status.startswith("SIP/2.0 1"):
                return status


def kinds_of(server: ServerProcess, conversation: str) -> list[dict[str, Any]]:
    return server.get(f"/conversations/{conversation}/timeline")["items"]  # type: ignore


async def agent_socket(http: aiohttp.ClientSession, server: ServerProcess, name: str,
                       password: str) -> aiohttp.ClientWebSocketResponse:
    token = server.login(name, password)
    ws = await http.ws_connect(f"{server.http_url}/agents/{name}/ws?token={token}")
    assert (await ws.receive_json())["type"] == "hello"
    await ws.send_json({"type": "state", "state": "available"})
    await until(ws, "state")
    return ws


async def test_sms_by_sip_message_in_and_out(server: ServerProcess) -> None:
    status, body = server.request("POST", "/agents", {"name": "sipsam", "password": "sam-pw-1",
                                                      "skills": {}})
    assert status == 201, body
    trunk = await asyncio.create_subprocess_exec(
        "sipp", "-sf", str(scenario_path("sms_trunk_uas.xml")), "-i", "127.0.0.1",
        "-p", str(TRUNK_PORT), "-nostdin", "-nd", "-m", "20",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as http:
            agent = await agent_socket(http, server, "sipsam", "sam-pw-1")
            customer = await asyncio.create_subprocess_exec(
                "sipp", "-sf", str(scenario_path("sms_message_uac.xml")), "-s", "5000",
                "-i", "127.0.0.1", "-p", str(free_udp_port()), "-m", "1", "-nostdin",
                "-timeout", "10", "-timeout_error", f"127.0.0.1:{PORTS.sip}",
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert await asyncio.wait_for(customer.wait(), 15) == 0  # answered 202
            offer = await until(agent, "offer", timeout=10)
            conversation = offer["conversation"]
            assert offer["channel"] == "sms" and offer["address"] == "+15550101", offer
            await agent.send_json({"type": "accept", "conversation": conversation})
            assigned = await until(agent, "assigned")
            assert assigned["lines"][0]["text"] == "Hello by SIP"
            await agent.send_json({"type": "message", "conversation": conversation,
                                   "text": "Hi, how can I help?"})
            await until(agent, "sent")

            def accepted() -> list[dict[str, Any]] | None:
                items = kinds_of(server, conversation)
                done = [e for e in items if e["kind"] == "sms.accepted"]
                return items if len(done) >= 2 else None

            items = await asyncio.to_thread(server.wait_for, accepted, 15)
            received = [e for e in items if e["kind"] == "sms.received"]
            assert received[0]["data"]["text"] == "Hello by SIP"
            results = [e["data"]["result"] for e in items if e["kind"] == "sms.accepted"]
            assert all(r.startswith("202") for r in results), results
            assert not [e for e in items if e["kind"] == "sms.failed"]

            # The same number texting again threads into the same conversation.
            assert (await asyncio.to_thread(raw_message, b"second line",
                                            sender="+15550101")).startswith("SIP/2.0 202")
            line = await until(agent, "message", "second line")
            assert line["conversation"] == conversation

            # Bad MESSAGEs: a clear 4xx each, nothing threaded.
            assert (await asyncio.to_thread(raw_message, b"")).startswith("SIP/2.0 400")
            assert (await asyncio.to_thread(raw_message, b"<b>hi</b>", "text/html")) \
                .startswith("SIP/2.0 415")
            assert (await asyncio.to_thread(raw_message, b"x" * 201)).startswith("SIP/2.0 413")
            assert (await asyncio.to_thread(raw_message, b"   ")).startswith("SIP/2.0 400")

            # The trunk is gone: the next reply is recorded as failed.
            trunk.kill()
            await trunk.wait()
            await agent.send_json({"type": "message", "conversation": conversation,
                                   "text": "Are you still there?"})

            def failed() -> dict[str, Any] | None:
                found = [e for e in kinds_of(server, conversation) if e["kind"] == "sms.failed"]
                return found[0] if found else None

            failure = await asyncio.to_thread(server.wait_for, failed, 15)
            assert failure["data"]["error"], failure
            await agent.send_json({"type": "close", "conversation": conversation})
            await agent.close()
    finally:
        if trunk.returncode is None:
            trunk.kill()
            await trunk.wait()


async def test_call_in_code_from_sms_reaches_the_same_agent(server: ServerProcess,
                                                            tmp_path: Path) -> None:
    status, body = server.request("POST", "/agents", {"name": "codey", "password": "codey-pw-1",
                                                      "skills": {}})
    assert status == 201, body
    phone = Softphone(tmp_path / "codey", "codey", "codey-pw-1", "127.0.0.1", PORTS.sip)
    caller: asyncio.subprocess.Process | None = None
    try:
        await phone.start()
        await phone.wait_registered()
        async with aiohttp.ClientSession() as http:
            agent = await agent_socket(http, server, "codey", "codey-pw-1")
            form = urlencode({"From": "+15550202", "To": "5000",
                              "Body": "Please call me"}).encode()
            async with http.post(f"{server.http_url}/sms/inbound", data=form, headers={
                    HEADER: sign(SECRET, form),
                    "Content-Type": "application/x-www-form-urlencoded"}) as response:
                assert response.status == 200, await response.text()
            offer = await until(agent, "offer", timeout=10)
            conversation = offer["conversation"]
            await agent.send_json({"type": "accept", "conversation": conversation})
            await until(agent, "assigned")
            await agent.send_json({"type": "call_in_code", "conversation": conversation})
            sent = await until(agent, "call_in_code")
            code = sent["code"]
            assert len(code) == 6 and code.isdigit() and sent["number"] == "1500"
            items = kinds_of(server, conversation)
            assert any(code in str(e["data"].get("text", "")) for e in items
                       if e["kind"] == "sms.sent"), "the code goes to the customer by SMS"

            caller = await asyncio.create_subprocess_exec(
                "sipp", "-sf", str(scenario_path("edge_uac.xml")), "-s", f"1500{code}",
                "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mi", "127.0.0.1",
                "-mp", str(free_media_port()), "-m", "1", "-d", "6000", "-nostdin",
                "-timeout", "30", "-timeout_error", f"127.0.0.1:{PORTS.sip}",
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await phone.wait_event("CALL_ESTABLISHED", timeout=15)
            assert await asyncio.wait_for(caller.wait(), 30) == 0

            calls = [c for c in server.calls() if c.get("called_number") == f"1500{code}"]
            assert calls, server.calls()[:3]
            interaction = calls[0]["interaction_id"]
            items = kinds_of(server, interaction)
            kinds = [e["kind"] for e in items]
            call_in = next(e for e in items if e["kind"] == "interaction.call_in")
            assert call_in["data"] == {"conversation": conversation, "agent": "codey",
                                       "by": "dialed"}
            assigned = next(e for e in items if e["kind"] == "interaction.assigned")
            assert assigned["data"]["agent"] == "codey"
            nodes = [e["data"].get("node") for e in items if e["kind"].startswith("flow.")]
            assert "menu" not in nodes, kinds
            await agent.close()
    finally:
        if caller is not None and caller.returncode is None:
            caller.kill()
            await caller.wait()
        await phone.stop()
