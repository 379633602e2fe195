"""Web chat end to end, over real WebSockets: flows, agents, reconnects, transcript."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from voicecenter.api.app import create_app
from voicecenter.api.sessions import SessionService
from voicecenter.channels.hub import ConversationHub, HubConfig
from voicecenter.distribution.service import DistributionService
from voicecenter.flows.runtime import FlowRuntime
from voicecenter.server import Services
from voicecenter.settings import PathSettings, Settings, StoreSettings
from voicecenter.store import Store, open_store
from voicecenter.store.customers_identity import IdentityRepository

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Harness:
    client: TestClient
    hub: ConversationHub
    store: Store
    distribution: DistributionService
    services: Services

    async def visitor(self, visitor: str, last_seq: int = 0) -> aiohttp.ClientWebSocketResponse:
        return await self.client.ws_connect(f"/chat/ws?visitor={visitor}&last_seq={last_seq}")

    async def login(self, name: str) -> str:
        answer = await self.client.post("/auth/login", json={"name": name, "password": "pw"})
        assert answer.status == 200, await answer.text()
        return str((await answer.json())["token"])

    async def agent(self, name: str, skills: dict[str, int] | None = None,
                    ) -> aiohttp.ClientWebSocketResponse:
        await self.store.agents.add(name, "pw", skills or {}, "127.0.0.1")
        ws = await self.client.ws_connect(f"/agents/{name}/ws?token={await self.login(name)}")
        assert (await ws.receive_json())["type"] == "hello"
        await ws.send_json({"type": "state", "state": "available"})
        assert (await ws.receive_json(timeout=5))["state"] == "available"
        return ws


async def make_harness(tmp_path: Path, entry_points: dict[str, str],
                       **config: Any) -> tuple[Harness, list[Any]]:
    settings = Settings(store=StoreSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'vc.db'}"),
                        paths=PathSettings(data_dir=tmp_path, sounds=ROOT / "sounds",
                                           flows=ROOT / "ivr_flows",
                                           recordings=tmp_path / "rec"))
    store = await open_store(settings)
    runtime = FlowRuntime(settings.paths.flows, settings.paths.sounds, tmp_path,
                          tmp_path / "rec", {}, store)
    await runtime.start()
    distribution = DistributionService(store, None, "", tmp_path)  # type: ignore[arg-type]
    await distribution.start()
    hub = ConversationHub(store, runtime, distribution,
                          HubConfig(entry_points=entry_points, **config),
                          IdentityRepository(store))
    await hub.start()
    services = Services(settings=settings, store=store, voice=None,  # type: ignore[arg-type]
                        distribution=distribution,
                        extras={"conversations": hub,
                                "sessions": SessionService(store, settings)})
    client = TestClient(TestServer(create_app(services)))
    await client.start_server()
    stops = [client.close, hub.stop, distribution.stop, runtime.stop, store.close]
    return Harness(client, hub, store, distribution, services), stops


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    made, stops = await make_harness(tmp_path, {"chat": "main_line"}, offer_timeout_s=3.0)
    yield made
    for stop in stops:
        await stop()


async def until(ws: aiohttp.ClientWebSocketResponse, kind: str, text: str = "",
                timeout: float = 10.0) -> dict[str, Any]:
    """The next frame of `kind` whose text contains `text` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await ws.receive_json()
            if frame["type"] == kind and text in frame.get("text", ""):
                return frame


async def test_chat_runs_the_main_line_and_reaches_an_agent(harness: Harness) -> None:
    agent = await harness.agent("alice", {"sales": 5, "language_en": 5})
    ws = await harness.visitor("visitor-0001")
    welcome = await until(ws, "welcome")
    conversation = welcome["conversation"]
    await until(ws, "message", "Welcome to Voice Center")
    menu = await until(ws, "message", "For English")
    assert [r["label"] for r in menu["quick_replies"]] == ["english", "spanish"]
    await ws.send_json({"type": "message", "text": "english", "client_id": "c1"})
    assert (await until(ws, "ack"))["client_id"] == "c1"
    await until(ws, "message", "six digit account")
    await ws.send_json({"type": "message", "text": "100001", "client_id": "c2"})
    await until(ws, "message", "PIN")
    await ws.send_json({"type": "message", "text": "1234", "client_id": "c3"})
    menu = await until(ws, "message", "For sales")
    assert [r["label"] for r in menu["quick_replies"]] == ["sales", "support", "billing"]
    await ws.send_json({"type": "message", "text": "1", "client_id": "c4"})

    offer = await until(agent, "offer", timeout=15)
    assert offer["conversation"] == conversation and offer["channel"] == "chat"
    assert any(line["text"] == "100001" for line in offer["lines"])
    await agent.send_json({"type": "accept", "conversation": conversation})
    await until(ws, "message", "chatting with alice")
    assert harness.distribution.router.agent("alice").load["chat"] == 1

    await ws.send_json({"type": "typing", "on": True})
    typing = await until(agent, "typing")
    assert typing["on"] is True and typing["from"] == "customer"
    await ws.send_json({"type": "message", "text": "I want to buy", "client_id": "c5"})
    got = await until(agent, "message", "I want to buy")
    await agent.send_json({"type": "message", "conversation": conversation, "text": "Sure!"})
    line = await until(ws, "message", "Sure!")
    assert line["from"] == "agent" and line["agent"] == "alice" and line["seq"] > got["seq"]

    await agent.send_json({"type": "close", "conversation": conversation})
    assert (await until(ws, "ended"))["reason"] == "closed by agent"
    await harness.hub.writer.flush()
    timeline = await harness.store.interactions.timeline(conversation)
    kinds = [e.kind for e in timeline]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.ended"
    texts = [e.data["text"] for e in timeline if e.kind.startswith("chat.")]
    assert texts.index("100001") < texts.index("1234") < texts.index("Sure!")
    assert "customer.authenticated" in kinds and "interaction.assigned" in kinds
    pin = next(e for e in timeline if e.kind == "flow.input" and e.data.get("node") ==
               "authenticate" and e.data.get("digits") not in (None, "100001"))
    assert pin.data["digits"] == "***"
    assert harness.distribution.router.agent("alice").load["chat"] == 0


async def test_reconnect_resumes_and_resent_lines_are_kept_once(harness: Harness) -> None:
    ws = await harness.visitor("visitor-0002")
    conversation = (await until(ws, "welcome"))["conversation"]
    await until(ws, "message", "For English")
    await ws.send_json({"type": "message", "text": "english", "client_id": "k1"})
    ack = await until(ws, "ack")
    await ws.close()
    # While away, the flow asked for the account number.
    await asyncio.sleep(0.3)
    ws = await harness.visitor("visitor-0002", last_seq=ack["seq"])
    welcome = await until(ws, "welcome")
    assert welcome["conversation"] == conversation
    missed = await until(ws, "message", "six digit account")
    assert missed["seq"] == ack["seq"] + 1
    # A line whose ack was lost is resent with its client id: kept once.
    await ws.send_json({"type": "message", "text": "english", "client_id": "k1"})
    assert (await until(ws, "ack"))["seq"] == ack["seq"]
    lines = harness.hub.conversations[conversation].lines
    assert [line.text for line in lines].count("english") == 1
    assert [line.seq for line in lines] == list(range(1, len(lines) + 1))


async def test_bad_frames_and_floods_get_clear_errors(harness: Harness) -> None:
    status = await harness.client.get("/chat/ws?visitor=x")
    assert status.status == 400 and (await status.json())["error"] == "invalid-request"
    ws = await harness.visitor("visitor-0003")
    await until(ws, "welcome")
    await ws.send_str("not json")
    assert (await until(ws, "error"))["error"] == "invalid-frame"
    await ws.send_json({"type": "message", "text": "x" * 5000, "client_id": "big"})
    assert (await until(ws, "error"))["error"] == "invalid-message"
    for n in range(30):
        await ws.send_json({"type": "message", "text": f"spam {n}", "client_id": f"s{n}"})
    answers = [await until(ws, "ack") if n < 20 else await until(ws, "error")
               for n in range(30)]
    assert answers[-1]["error"] == "rate-limited"
    other = await harness.visitor("visitor-0004")
    await until(other, "welcome")
    await other.send_json({"type": "message", "text": "hello", "client_id": "o1"})
    assert (await until(other, "ack"))["client_id"] == "o1"
    nobody = await harness.client.get("/agents/nobody/ws")
    assert nobody.status == 401
    await harness.agent("dave")
    other = await harness.client.get(
        f"/agents/nobody/ws?token={await harness.login('dave')}",
        headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert other.status == 403


async def test_widget_page_and_script_are_served(harness: Harness) -> None:
    page = await harness.client.get("/chat")
    html = await page.text()
    assert page.status == 200 and "/chat/widget.js" in html and "http" not in html
    script = await harness.client.get("/chat/widget.js")
    assert script.status == 200 and "last_seq" in await script.text()
    assert (await harness.client.get("/chat/other.js")).status == 404



async def test_without_a_flow_a_chat_goes_to_an_agent_who_can_reconnect(
        tmp_path: Path) -> None:
    made, stops = await make_harness(tmp_path, {}, offer_timeout_s=3.0)
    try:
        agent = await made.agent("carol")
        ws = await made.visitor("visitor-0005")
        conversation = (await until(ws, "welcome"))["conversation"]
        await until(agent, "offer")
        await agent.send_json({"type": "accept", "conversation": conversation})
        await until(agent, "assigned")
        await agent.close()
        again = await made.client.ws_connect(f"/agents/carol/ws?token={await made.login('carol')}")
        hello = await again.receive_json()
        assert [c["conversation"] for c in hello["conversations"]] == [conversation]
        await ws.send_json({"type": "message", "text": "still there?", "client_id": "r1"})
        await until(again, "message", "still there?")
        await again.send_json({"type": "history", "conversation": conversation, "since": 0})
        history = await until(again, "history")
        assert [line["seq"] for line in history["lines"]] == [1, 2]

        carol = {"Authorization": f"Bearer {await made.login('carol')}"}
        page = await made.client.get(f"/conversations/{conversation}", headers=carol)
        assert (await page.json())["agent"] == "carol"
        timeline = await (await made.client.get(f"/conversations/{conversation}/timeline",
                                                headers=carol)).json()
        assert "chat.message_received" in [e["kind"] for e in timeline["items"]]
        customer = made.hub.conversations[conversation].customer
        # Profiles are for supervisors and QA; agents see customers through their offers.
        assert (await made.client.get(f"/profiles/{customer}", headers=carol)).status == 403
        await made.store.users.add("sam", "supervisor", "sam-password")
        answer = await made.client.post("/auth/login",
                                        json={"name": "sam", "password": "sam-password"})
        sam = {"Authorization": f"Bearer {(await answer.json())['token']}"}
        profile = await (await made.client.get(f"/profiles/{customer}", headers=sam)).json()
        assert profile["identities"] == [{"kind": "chat", "value": "visitor-0005"}]
        assert [i["id"] for i in profile["interactions"]] == [conversation]
        assert (await made.client.get("/profiles/nobody", headers=sam)).status == 404
        # An agent is not told whether a conversation that is not theirs exists.
        assert (await made.client.get("/conversations/nothing", headers=carol)).status == 403
        made.client.session.cookie_jar.clear()
        assert (await made.client.get(f"/conversations/{conversation}")).status == 401
    finally:
        for stop in stops:
            await stop()


async def test_the_customer_may_ask_for_a_call_once_an_agent_has_the_chat(
        tmp_path: Path) -> None:
    made, stops = await make_harness(tmp_path, {}, offer_timeout_s=3.0)
    asked: list[tuple[str, str, Any]] = []

    async def escalate(conversation: Any, agent: str, uri: Any) -> None:
        if uri == "sip:bad@example.com":
            raise ValueError("the dial plan does not allow calling it")
        asked.append((conversation.id, agent, uri))

    try:
        agent = await made.agent("dora")
        ws = await made.visitor("visitor-0006")
        conversation = (await until(ws, "welcome"))["conversation"]
        await ws.send_json({"type": "call_me", "uri": "sip:me@127.0.0.1"})
        assert (await until(ws, "error"))["error"] == "no-agent"
        await until(agent, "offer")
        await agent.send_json({"type": "accept", "conversation": conversation})
        await until(ws, "message", "chatting with dora")
        await ws.send_json({"type": "call_me", "uri": "sip:me@127.0.0.1"})
        assert (await until(ws, "error"))["error"] == "no-agent"  # no voice service here
        made.hub.escalate = escalate
        await ws.send_json({"type": "call_me", "uri": "sip:bad@example.com"})
        assert (await until(ws, "error"))["error"] == "invalid-escalation"
        await ws.send_json({"type": "call_me", "uri": "sip:me@127.0.0.1"})
        await until(ws, "calling")
        assert (await until(agent, "call_requested"))["conversation"] == conversation
        assert asked == [(conversation, "dora", "sip:me@127.0.0.1")]
    finally:
        for stop in stops:
            await stop()
