"""SMS: the signed webhook, the HTTP provider, flows and agents over SMS, profiles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.test_chat import Harness, make_harness, until
from voicecenter.channels.sms.gateway import SmsGateway
from voicecenter.channels.sms.signature import HEADER, sign
from voicecenter.settings import SmsSettings

SECRET = "test-secret"


class Provider:
    """A local stand-in for an SMS provider's HTTP API."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []
        self.arrived = asyncio.Event()
        app = web.Application()
        app.router.add_post("/messages", self.post)
        self.server = TestServer(app, host="127.0.0.1")

    async def post(self, request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer tok"
        self.sent.append(dict(await request.post()))  # type: ignore[arg-type]
        self.arrived.set()
        return web.json_response({"id": f"m{len(self.sent)}"})

    async def next_body(self, containing: str, timeout: float = 10.0) -> str:
        async with asyncio.timeout(timeout):
            while True:
                for sms in self.sent:
                    if containing in sms["Body"]:
                        self.sent.remove(sms)
                        return sms["Body"]
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def sms(tmp_path: Path) -> AsyncIterator[tuple[Harness, Provider]]:
    provider = Provider()
    await provider.server.start_server()
    made, stops = await make_harness(tmp_path, {"sms": "main_line"}, offer_timeout_s=3.0)
    settings = SmsSettings(webhook_secret=SECRET, provider="http", provider_token="tok",
                           provider_url=str(provider.server.make_url("/messages")),
                           from_number="+15550000", per_sender_per_minute=10)
    gateway = SmsGateway(made.hub, settings)
    made.services.extras["sms"] = gateway
    yield made, provider
    for stop in stops:
        await stop()
    await gateway.close()
    await provider.server.close()


async def text(h: Harness, sender: str, body: str, secret: str = SECRET,
               **extra: str) -> tuple[int, dict]:
    data = urlencode({"From": sender, "To": "+15550000", "Body": body, **extra}).encode()
    response = await h.client.post("/sms/inbound", data=data, headers={
        HEADER: sign(secret, data), "Content-Type": "application/x-www-form-urlencoded"})
    return response.status, await response.json()


async def test_bad_webhooks_get_clear_errors_and_others_still_get_through(
        sms: tuple[Harness, Provider]) -> None:
    h, _ = sms
    data = urlencode({"From": "+15551111", "To": "x", "Body": "hi"}).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    unsigned = await h.client.post("/sms/inbound", data=data, headers=form)
    assert unsigned.status == 401 and (await unsigned.json())["error"] == "signature-missing"
    assert (await text(h, "+15551111", "hi", secret="wrong"))[1]["error"] == "bad-signature"
    missing = urlencode({"To": "x", "Body": "hi"}).encode()
    bad = await h.client.post("/sms/inbound", data=missing,
                              headers={**form, HEADER: sign(SECRET, missing)})
    assert bad.status == 400 and (await bad.json())["error"] == "invalid-request"
    status, body = await text(h, "+15551111", "x" * 1601)
    assert status == 413 and body["error"] == "message-too-large"
    statuses = [(await text(h, "+15552222", f"flood {n}"))[0] for n in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
    status, body = await text(h, "+15553333", "hello")
    assert status == 200 and body["seq"] == 1
    # A provider retrying the same message id: kept once.
    again = [await text(h, "+15553333", "once", MessageSid="SM1") for _ in range(2)]
    assert again[0][1]["seq"] == again[1][1]["seq"]


async def test_sms_runs_the_flow_reaches_an_agent_and_merges_the_profile(
        sms: tuple[Harness, Provider]) -> None:
    h, provider = sms
    agent = await h.agent("bob", {"support": 5, "language_en": 5})
    status, opened = await text(h, "+15554444", "hello, I need help")
    assert status == 200
    conversation = opened["conversation"]
    menu = await provider.next_body("For English")
    assert "1) english" in menu and "2) spanish" in menu
    await text(h, "+15554444", "1")
    await provider.next_body("account number")
    await text(h, "+15554444", "100001")
    await provider.next_body("PIN")
    await text(h, "+15554444", "1234")
    await provider.next_body("For sales")
    await text(h, "+15554444", "support")
    offer = await until(agent, "offer", timeout=15)
    assert offer["channel"] == "sms" and offer["address"] == "+15554444"
    await agent.send_json({"type": "accept", "conversation": conversation})
    await provider.next_body("chatting with bob")
    await agent.send_json({"type": "message", "conversation": conversation,
                           "text": "Hi, Bob here"})
    assert "Bob here" in await provider.next_body("Bob here")
    await text(h, "+15554444", "thanks")
    assert (await until(agent, "message", "thanks"))["from"] == "customer"
    assert h.distribution.router.agent("bob").load["sms"] == 1

    # The flow authenticated account 100001: the phone's profile holds the account now,
    # and a chat visitor authenticating the same account joins that profile.
    hub = h.hub
    profile = hub.conversations[conversation].customer
    assert profile is not None
    await asyncio.sleep(0.2)
    record = await h.store.identities.profile(profile)
    assert record is not None
    kinds = {(i["kind"], i["value"]) for i in record["identities"]}
    assert {("phone", "+15554444"), ("account", "100001")} <= kinds
    chat_profile = await h.store.identities.resolve("chat", "visitor-xyz1")
    merged = await h.store.identities.link(chat_profile, "account", "100001")
    assert merged == profile
    record = await h.store.identities.profile(profile)
    assert record is not None and ("chat", "visitor-xyz1") in \
        {(i["kind"], i["value"]) for i in record["identities"]}
    assert conversation in [i["id"] for i in record["interactions"]]
