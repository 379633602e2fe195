"""Page events over /events/ws against a real `voicecenter serve`.

Two agents each take a chat over their desk socket (as the desk page does);
their pages' event sockets must carry their own conversation and never the
other's, while a supervisor's carries both. A page that goes away and comes
back with since= gets exactly what it missed, in order. Tokens are checked
like every other request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.server import ServerPorts, ServerProcess
from tests.test_chat import until

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=6290, websocket=9289, http=9281, mqtt=3184, control=9292,
                    worker_sip_base=9600, rtp_base=57000, speech=2799)
BASE = f"http://127.0.0.1:{PORTS.http}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("events-ws"), workers=1, ports=PORTS)
    proc.start()
    try:
        yield proc
    finally:
        assert proc.stop() == 0, proc.tail()


class Page:
    """A page's event socket: every event frame it got, in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, hello: dict[str, Any]) -> None:
        self.ws = ws
        self.hello = hello
        self.frames: list[dict[str, Any]] = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                # One frame per line: frames that queued up share a message.
                self.frames.extend(json.loads(line) for line in msg.data.split("\n"))

    @property
    def events(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "event"]

    async def wait(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for frame in self.frames:
                    if predicate(frame):
                        return frame
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


async def open_page(http: aiohttp.ClientSession, token: str, since: int | None = None) -> Page:
    query = f"token={token}" + ("" if since is None else f"&since={since}")
    ws = await http.ws_connect(f"{BASE}/events/ws?{query}")
    hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello", hello
    return Page(ws, hello)


async def take_chat(http: aiohttp.ClientSession, token: str, name: str,
                    visitor: str) -> tuple[aiohttp.ClientWebSocketResponse,
                                           aiohttp.ClientWebSocketResponse, str]:
    """``name`` goes available on the desk socket and accepts ``visitor``'s chat, then away."""
    desk = await http.ws_connect(f"{BASE}/agents/{name}/ws?token={token}")
    assert (await desk.receive_json())["type"] == "hello"
    await desk.send_json({"type": "state", "state": "available"})
    await until(desk, "state")
    customer = await http.ws_connect(f"{BASE}/chat/ws?visitor={visitor}")
    conversation = (await until(customer, "welcome"))["conversation"]
    await customer.send_json({"type": "message", "text": f"hello, I am {visitor}",
                              "client_id": "c1"})
    offer = await until(desk, "offer", timeout=10)
    assert offer["conversation"] == conversation
    await desk.send_json({"type": "accept", "conversation": conversation})
    await until(desk, "assigned")
    # Away, so the next chat goes to the other agent; this one stays with its chat.
    await desk.send_json({"type": "state", "state": "away"})
    await until(desk, "state")
    return desk, customer, conversation


@pytest.fixture(scope="module")
def tokens(server: ServerProcess) -> dict[str, str]:
    for name in ("ada", "bob"):
        status, body = server.request("POST", "/agents", {"name": name,
                                                          "password": f"{name}-pw-1",
                                                          "skills": {}})
        assert status == 201, body
    return {"ada": server.login("ada", "ada-pw-1"), "bob": server.login("bob", "bob-pw-1"),
            "sue": server.add_user("sue", "supervisor", "sue-pw-123456"),
            "quinn": server.add_user("quinn", "qa", "quinn-pw-123456")}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def about(conversation: str) -> Any:
    return lambda frame: frame.get("interaction_id") == conversation


async def test_pages_get_their_own_events_and_resume_exactly(
        server: ServerProcess, tokens: dict[str, str], http: aiohttp.ClientSession) -> None:
    ada_page = await open_page(http, tokens["ada"])
    bob_page = await open_page(http, tokens["bob"])
    sue_page = await open_page(http, tokens["sue"])
    qa_page = await open_page(http, tokens["quinn"])
    assert ada_page.hello["user"] == {"name": "ada", "role": "agent", "agent": "ada"}
    assert qa_page.hello["live"] is False

    ada_desk, ada_customer, ada_chat = await take_chat(http, tokens["ada"], "ada", "visitor-ada-1")
    bob_desk, bob_customer, bob_chat = await take_chat(http, tokens["bob"], "bob", "visitor-bob-1")

    def assigned_to(agent: str, conversation: str) -> Any:
        return lambda f: (f.get("kind") == "interaction.assigned" and f["agent"] == agent
                          and f["interaction_id"] == conversation)

    def said(text: str) -> Any:
        return lambda f: f.get("kind") == "chat.message_received" and f["data"].get(
            "text") == text

    await ada_customer.send_json({"type": "message", "text": "ada's order 1234",
                                  "client_id": "c2"})
    await bob_customer.send_json({"type": "message", "text": "bob's card 5678",
                                  "client_id": "c2"})
    # Each agent's page sees its own chat handed to it and its customer's lines from then on.
    await ada_page.wait(assigned_to("ada", ada_chat))
    await ada_page.wait(said("ada's order 1234"))
    await bob_page.wait(assigned_to("bob", bob_chat))
    await bob_page.wait(said("bob's card 5678"))
    # The supervisor's sees both, from the start of each conversation.
    for conversation, agent, visitor in ((ada_chat, "ada", "ada"), (bob_chat, "bob", "bob")):
        await sue_page.wait(lambda f, c=conversation: f.get("kind") == "interaction.created"
                            and f["interaction_id"] == c)
        await sue_page.wait(said(f"hello, I am visitor-{visitor}-1"))
        await sue_page.wait(assigned_to(agent, conversation))
    await sue_page.wait(said("bob's card 5678"))
    await asyncio.sleep(0.3)
    # (A line said just before the offer may land either side of it, as the chat
    # and routing write their events separately; either way it is ada's own chat.)
    assert not [f for f in ada_page.events if f["interaction_id"] == bob_chat]
    assert not [f for f in bob_page.events if f["interaction_id"] == ada_chat]
    assert not [f for f in ada_page.events if f["agent"] == "bob"]
    assert all(f["kind"] == "queue.figures" or f["interaction_id"] == ada_chat
               or (f["kind"].startswith("agent.") and f["agent"] == "ada")
               for f in ada_page.events), [f["kind"] for f in ada_page.events]
    # Her own state changes (reserved, busy...) reach her page; bob's do not.
    assert [f for f in ada_page.events if f["kind"] == "agent.state_changed"]
    seqs = [f["seq"] for f in sue_page.events]
    assert seqs == sorted(set(seqs))  # in order, no duplicates
    assert not qa_page.events

    # Ada's page goes away; both conversations go on; she comes back with since=.
    last = ada_page.events[-1]["seq"]
    await ada_page.close()
    for n in range(3):
        await ada_customer.send_json({"type": "message", "text": f"ada line {n}",
                                      "client_id": f"a{n}"})
        await bob_customer.send_json({"type": "message", "text": f"bob line {n}",
                                      "client_id": f"b{n}"})
    await ada_desk.send_json({"type": "message", "conversation": ada_chat,
                              "text": "ada answers"})
    await sue_page.wait(said("ada line 2"))
    await sue_page.wait(said("bob line 2"))
    sent = await sue_page.wait(lambda f: f.get("kind") == "chat.message_sent"
                               and f["data"].get("text") == "ada answers")
    newest = max(sent["seq"], *(f["seq"] for f in sue_page.events))
    missed = [f for f in sue_page.events if last < f["seq"] <= newest
              and (f["interaction_id"] == ada_chat or f["kind"] == "queue.figures")]
    assert [f["data"].get("text") for f in missed if f["kind"].startswith("chat.")] == [
        "ada line 0", "ada line 1", "ada line 2", "ada answers"]

    back = await open_page(http, tokens["ada"], since=last)
    assert back.hello["seq"] >= newest
    await back.wait(lambda f: f.get("seq", 0) >= sent["seq"])
    resumed = [f for f in back.events if f["seq"] <= newest]
    assert [(f["seq"], f["kind"]) for f in resumed] == [(f["seq"], f["kind"]) for f in missed]
    assert resumed == missed  # the same frames, byte for byte once parsed
    assert not [f for f in back.frames if f["type"] == "reset"]

    # A seq this server never had cannot be resumed: reset, then live.
    stale = await open_page(http, tokens["ada"], since=newest + 1_000_000)
    reset = await stale.wait(lambda f: f["type"] == "reset")
    assert reset["seq"] == stale.hello["seq"]
    # Heartbeat.
    await back.ws.send_json({"type": "ping", "id": 7})
    pong = await back.wait(lambda f: f["type"] == "pong")
    assert pong["id"] == 7 and pong["seq"] >= newest
    for socket in (ada_desk, bob_desk, ada_customer, bob_customer):
        await socket.close()
    for page in (back, stale, bob_page, sue_page, qa_page):
        await page.close()


async def test_bad_tokens_and_requests_are_refused(
        server: ServerProcess, tokens: dict[str, str], http: aiohttp.ClientSession,
        tmp_path: Path) -> None:
    for query in ("token=not-a-token", ""):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{BASE}/events/ws?{query}")
        assert refused.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{BASE}/events/ws?token={tokens['sue']}&since=soon")
    assert refused.value.status == 400
    async with http.get(f"{BASE}/events/ws",
                        headers={"Authorization": f"Bearer {tokens['sue']}"}) as answer:
        assert answer.status == 426
        assert (await answer.json())["error"] == "upgrade-required"
    # A logged-out token no longer opens a socket.
    token = server.login("ada", "ada-pw-1")
    status, _ = server.request("POST", "/auth/logout", token=token)
    assert status == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{BASE}/events/ws?token={token}")
    assert refused.value.status == 401
