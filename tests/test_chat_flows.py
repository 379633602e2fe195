"""Flows on text: what `flows check` says about voice-only nodes, and the text call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from voicecenter.channels.text_call import TextCall, TextPrompts
from voicecenter.flows.checker import check_all
from voicecenter.flows.context import CallEnded
from voicecenter.flows.loader import load_flows

ROOT = Path(__file__).resolve().parent.parent


def test_voice_only_nodes_are_reported_for_flows_chat_runs() -> None:
    flows, errors = load_flows(ROOT / "ivr_flows")
    assert not errors
    assert check_all(flows, ROOT / "sounds") == []
    found = check_all(flows, ROOT / "sounds", ["main_line"])
    assert len(found) == 1 and "main_line.yaml:" in found[0]
    assert "'voicemail' (voicemail) works on calls only" in found[0]


async def test_text_call_turns_prompts_into_lines_and_lines_into_input() -> None:
    sent: list[tuple[str, list[dict[str, str]] | None]] = []

    async def send(text: str, replies: list[dict[str, str]] | None) -> None:
        sent.append((text, replies))

    async def record(kind: str, data: dict[str, object]) -> None:
        return None

    prompts = TextPrompts()
    call = TextCall("c1", send, record, prompts, input_timeout_s=0.2, hold_repeat_s=0.1)
    call.offer_options({"1": {"goto": "a", "phrases": ["sales"]}, "2": {"goto": "b"}})
    await call.play([await prompts.text("Pick one"), ROOT / "sounds" / "beep.wav"])
    assert sent == [("Pick one\n[beep]", [{"key": "1", "label": "sales"},
                                          {"key": "2", "label": "2"}])]
    call.inbox.put_nowait("Sales")
    assert (await call.collect(1, 100, 100, "")).digits == "1"
    call.inbox.put_nowait(" 1000 01# ")
    assert (await call.collect(6, 100, 100, "#")).digits == "100001"
    assert (await call.collect(4, 100, 100, "#")).reason == "timeout"
    # The same prompt again (a hold prompt in a loop) is not sent twice.
    for _ in range(3):
        await call.play([await prompts.text("Please wait")])
    assert [text for text, _ in sent].count("Please wait") == 1
    await call.hangup()
    with pytest.raises(CallEnded):
        await asyncio.wait_for(call.collect(1, 100, 100, ""), 1)
