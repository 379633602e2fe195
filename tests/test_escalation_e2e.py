"""A chat escalated into a call: same interaction, same agent, the timeline in order.

A WebSocket visitor chats; a Python WebSocket client is the agent, who also
has a registered baresip softphone. The agent escalates: the worker calls the
customer (a SIPp UAS), then the agent's softphone, and bridges them. The
agent's load moves from chat to voice for the call and back after it.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.server import ServerPorts, ServerProcess
from tests.support.sipp import free_media_port, free_udp_port, scenario_path
from tests.support.softphone import Softphone
from tests.test_chat import until

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=5790, websocket=8789, http=8781, mqtt=2584, control=8792,
                    worker_sip_base=6900, rtp_base=44000, speech=2794)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("escalation")
    proc = ServerProcess(work, workers=2, ports=PORTS, overrides={
        "routing": {"ring_timeout_s": 8}}).start()
    try:
        yield proc
    finally:
        assert proc.stop() == 0, proc.tail()


async def customer_uas(port: int) -> asyncio.subprocess.Process:
    """The customer's phone: answers one INVITE, then waits for the BYE."""
    return await asyncio.create_subprocess_exec(
        "sipp", "-sf", str(scenario_path("edge_uas.xml")), "-i", "127.0.0.1", "-p", str(port),
        "-mi", "127.0.0.1", "-mp", str(free_media_port()), "-m", "1", "-nostdin", "-nd",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_agent_escalates_a_chat_into_a_call(server: ServerProcess, tmp_path: Path) -> None:
    status, body = server.request("POST", "/agents", {"name": "erin", "password": "erin-pw-1",
                                                      "skills": {}})
    assert status == 201, body
    phone = Softphone(tmp_path / "erin", "erin", "erin-pw-1", "127.0.0.1", PORTS.sip)
    port = free_udp_port()
    customer = await customer_uas(port)
    base = f"http://127.0.0.1:{PORTS.http}"
    try:
        await phone.start()
        await phone.wait_registered()
        async with aiohttp.ClientSession() as http:
            token = server.login("erin", "erin-pw-1")
            agent = await http.ws_connect(f"{base}/agents/erin/ws?token={token}")
            assert (await agent.receive_json())["type"] == "hello"
            await agent.send_json({"type": "state", "state": "available"})
            await until(agent, "state")
            visitor = await http.ws_connect(f"{base}/chat/ws?visitor=escalate-01")
            conversation = (await until(visitor, "welcome"))["conversation"]
            await visitor.send_json({"type": "message", "text": "Can you call me?",
                                     "client_id": "e1"})
            offer = await until(agent, "offer", timeout=10)
            assert offer["conversation"] == conversation
            await agent.send_json({"type": "accept", "conversation": conversation})
            assigned = await until(agent, "assigned")
            assert assigned["lines"][0]["text"] == "Can you call me?"
            await until(visitor, "message", "chatting with erin")

            await agent.send_json({"type": "escalate", "conversation": conversation,
                                   "uri": "sip:+15550199@example.com"})
            refused = await until(agent, "error")
            assert refused["error"] == "invalid-escalation"
            await agent.send_json({"type": "escalate", "conversation": conversation,
                                   "uri": f"sip:customer@127.0.0.1:{port}"})
            await until(agent, "escalating")
            await until(visitor, "message", "calling you")
            connected = await until(agent, "escalation", timeout=25)
            assert connected["state"] == "connected", connected
            await phone.wait_event("CALL_ESTABLISHED", timeout=10)
            state = server.get("/agents/erin/state")
            assert state["load"]["voice"] == 1 and state["load"]["chat"] == 0, state
            await asyncio.sleep(1.5)
            await phone.hangup()
            ended = await until(agent, "escalation", timeout=10)
            assert ended["state"] == "ended"
            state = server.get("/agents/erin/state")
            assert state["load"]["voice"] == 0 and state["load"]["chat"] == 1, state
            # The agent keeps the conversation.
            await agent.send_json({"type": "message", "conversation": conversation,
                                   "text": "Thanks for the call"})
            await until(visitor, "message", "Thanks for the call")
            await asyncio.wait_for(customer.wait(), 10)
            assert customer.returncode == 0

            def recorded() -> list[str] | None:
                items = server.get(f"/conversations/{conversation}/timeline")["items"]
                kinds = [e["kind"] for e in items]
                return kinds if "recording.completed" in kinds else None

            kinds = await asyncio.to_thread(server.wait_for, recorded, 15)
            first_call = kinds.index("call.created")
            assert kinds.index("interaction.assigned") < kinds.index("interaction.escalated")
            assert kinds.index("chat.message_received") < kinds.index("interaction.escalated") \
                < first_call \
                < kinds.index("call.bridged") < kinds.index("recording.completed")
            assert kinds.count("call.created") == 2  # the customer's and the agent's legs
            await agent.close()
            await visitor.close()
    finally:
        if customer.returncode is None:
            customer.kill()
            await customer.wait()
        await phone.stop()
