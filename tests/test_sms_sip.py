"""Fast checks: SIP MESSAGE parsing and answers, call-in codes, chat capacity settings."""

from __future__ import annotations

import asyncio

from voicecenter.channels.call_in import CallInCodes
from voicecenter.channels.sms.sip import Answer, SipMessage, SipMessageEndpoint, parse, uri_user
from voicecenter.distribution.service import DistributionService
from voicecenter.edge.kamailio_config import _features
from voicecenter.routing.model import Channel
from voicecenter.settings import Settings


def test_parse_expands_compact_headers_and_cuts_the_body() -> None:
    message = parse(b"MESSAGE sip:5000@edge SIP/2.0\r\nf: <sip:+4930@x>;tag=1\r\n"
                    b"t: <sip:5000@edge>\r\ni: abc\r\nc: text/plain\r\nl: 2\r\n\r\nhi--")
    assert message.is_request and message.method == "MESSAGE"
    assert uri_user(message.get("from") or "") == "+4930"
    assert message.get("call-id") == "abc" and message.body == b"hi"


async def test_endpoint_answers_once_and_repeats_the_answer_to_a_retransmission() -> None:
    handled: list[SipMessage] = []

    async def on_message(message: SipMessage) -> Answer:
        handled.append(message)
        return Answer(202, "Accepted")

    endpoint = SipMessageEndpoint("127.0.0.1", ("127.0.0.1", 9), "example.org")
    endpoint.on_message = on_message
    port = await endpoint.open(0)
    loop = asyncio.get_running_loop()
    answers: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            answers.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Client, local_addr=("127.0.0.1", 0))
    request = (b"MESSAGE sip:5000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKa"
               b"\r\nFrom: <sip:+1@x>;tag=1\r\nTo: <sip:5000@y>\r\nCall-ID: c1\r\n"
               b"CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")
    try:
        transport.sendto(request, ("127.0.0.1", port))
        first = await asyncio.wait_for(answers.get(), 2)
        transport.sendto(request, ("127.0.0.1", port))
        second = await asyncio.wait_for(answers.get(), 2)
        assert first.startswith(b"SIP/2.0 202 Accepted") and first == second
        assert len(handled) == 1
        transport.sendto(request.replace(b"MESSAGE sip", b"INVITE sip")
                         .replace(b"c1", b"c2"), ("127.0.0.1", port))
        assert (await asyncio.wait_for(answers.get(), 2)).startswith(b"SIP/2.0 405")
    finally:
        transport.close()
        await endpoint.close()


def test_call_in_codes_by_code_and_by_number_within_the_window() -> None:
    now = [0.0]
    codes = CallInCodes("1500", 600, clock=lambda: now[0])
    ticket = codes.issue("conv-1", "alice", "+1 555 0101")
    assert codes.by_code(ticket.code) == ticket
    assert codes.by_phone("+15550101") == ticket
    assert codes.by_code("000000" if ticket.code != "000000" else "111111") is None
    again = codes.issue("conv-1", "alice", "+15550101")
    assert codes.by_code(ticket.code) is None or ticket.code == again.code
    now[0] = 601
    assert codes.by_code(again.code) is None and codes.by_phone("+15550101") is None
    assert not codes.pending()


def test_chat_capacity_is_a_routing_setting() -> None:
    settings = Settings.model_validate({"routing": {"chat_capacity": 5, "sms_capacity": 2}})
    assert settings.routing.agent_capacity() == {"voice": 1, "chat": 5, "sms": 2}
    assert "chat_capacity" not in settings.routing.router_config()
    service = DistributionService.__new__(DistributionService)
    service.agent_capacity = settings.routing.agent_capacity()
    agent = service._agent("alice", {})
    assert agent.capacity[Channel.CHAT] == 5 and agent.capacity[Channel.VOICE] == 1


def test_sms_provider_sip_and_the_edge_feature() -> None:
    settings = Settings.model_validate({"sms": {"provider": "sip", "sip_port": 7191}})
    assert "WITH_SMS_SIP" in _features(settings, None)
    assert "WITH_SMS_SIP" not in _features(Settings(), None)
