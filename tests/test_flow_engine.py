"""The flow engine on a scripted call: the real runner and nodes, no SIP."""

from pathlib import Path
from typing import Any

import pytest

from voicecenter.flows.context import CallEnded, CollectResult, FlowContext
from voicecenter.flows.loader import load_flow, load_flows
from voicecenter.flows.model import FlowError
from voicecenter.flows.runner import run_flow

ROOT = Path(__file__).resolve().parent.parent


class ScriptedCall:
    """A caller who types the given digits, or hangs up at a given node type."""

    call_id = "c1"

    def __init__(self, digits: str, hang_up_on: str = "") -> None:
        self.digits = digits
        self.hang_up_on = hang_up_on
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.played: list[list[str]] = []
        self.answered = self.hung_up = False

    async def answer(self) -> None:
        self.answered = True

    async def play(self, files: list[Path], barge_in: bool = False) -> str:
        if self.hang_up_on == "play":
            raise CallEnded("caller hung up")
        for file in files:
            assert file.is_file(), file
        self.played.append([f.relative_to(ROOT / "sounds").as_posix() for f in files])
        return "finished"

    async def collect(self, max_digits: int, timeout_ms: int, inter_digit_ms: int,
                      terminator: str, flush: bool = False) -> CollectResult:
        digits = self.digits.split(terminator)[0][:max_digits] if terminator else self.digits
        return CollectResult(digits, "max_digits" if digits else "timeout")

    async def hangup(self) -> None:
        self.hung_up = True

    async def record_event(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))


def steps(call: ScriptedCall) -> list[str]:
    return [d["node"] for k, d in call.events if k == "flow.step"]


async def test_digits_demo_says_the_digits_back() -> None:
    flow = load_flow(ROOT / "ivr_flows" / "digits_demo.yaml")
    call = ScriptedCall("4711")
    outcome = await run_flow(flow, FlowContext(call=call, sounds=ROOT / "sounds"))
    assert outcome == "completed"
    assert steps(call) == ["answer", "welcome", "digits", "say_back", "goodbye", "bye"]
    assert call.played[1] == ["you_entered.wav", "digits/4.wav", "digits/7.wav",
                              "digits/1.wav", "digits/1.wav"]
    assert ("flow.input", {"node": "digits", "digits": "4711", "reason": "max_digits"}) \
        in call.events
    assert call.answered and call.hung_up


async def test_no_digits_takes_the_no_input_branch() -> None:
    call = ScriptedCall("")
    await run_flow(load_flow(ROOT / "ivr_flows" / "digits_demo.yaml"),
                   FlowContext(call=call, sounds=ROOT / "sounds"))
    assert steps(call) == ["answer", "welcome", "digits", "nothing", "goodbye", "bye"]


async def test_caller_hanging_up_ends_the_flow() -> None:
    call = ScriptedCall("12", hang_up_on="play")
    outcome = await run_flow(load_flow(ROOT / "ivr_flows" / "digits_demo.yaml"),
                             FlowContext(call=call, sounds=ROOT / "sounds"))
    assert outcome == "caller-hung-up"
    assert call.events[-1] == ("flow.ended", {"flow": "digits_demo", "outcome": "caller-hung-up"})


def test_sample_flows_load() -> None:
    flows, errors = load_flows(ROOT / "ivr_flows")
    assert errors == []
    assert "digits_demo" in flows


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("start: a\nnodes:\n  a:\n    type: teleport\n", ":4: node 'a': unknown type 'teleport'"),
        ("start: a\nnodes:\n  a:\n    type: play\n    next: b\n", ":3: node 'a' (play): "
         "missing parameter 'prompt'"),
        ("start: a\nnodes:\n  a:\n    type: answer\n    next: nowhere\n",
         ":5: node 'a': next goes to unknown node 'nowhere'"),
        ("start: x\nnodes:\n  a:\n    type: hangup\n", ":1: start node 'x' does not exist"),
        ("nodes: [1, 2\n", "invalid YAML"),
        ("start: a\nnodes:\n  a:\n    type: collect\n    into: d\n    max_digits: four\n"
         "    next: a\n", "parameter 'max_digits' must be int"),
    ],
)
def test_flow_errors_point_at_file_and_line(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(FlowError) as err:
        load_flow(path)
    assert f"{path}" in str(err.value)
    assert message in str(err.value)


def test_prompts_cannot_escape_the_sounds_directory() -> None:
    ctx = FlowContext(call=ScriptedCall(""), sounds=ROOT / "sounds")
    with pytest.raises(ValueError, match="outside"):
        ctx.sound("../pyproject.toml")
