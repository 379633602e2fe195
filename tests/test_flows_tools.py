"""Hot reload, graph, schema, simulate and prompt synthesis: the designer's tools."""

from __future__ import annotations

import json
import os
import shutil
import wave
from pathlib import Path

import pytest

from voicecenter.cli import main
from voicecenter.flows.nodes import NODE_TYPES
from voicecenter.flows.prompts import PromptCache, is_playable
from voicecenter.flows.registry import FlowRegistry
from voicecenter.flows.schema import flow_schema

ROOT = Path(__file__).resolve().parent.parent
GOOD = """
flow: reload_demo
start: hello
nodes:
  hello: {type: play, prompt: PROMPT, next: bye}
  bye: {type: hangup}
"""


def write(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    stamp = 1_700_000_000 + bump  # a clear mtime change, whatever the clock's resolution
    os.utime(path, (stamp, stamp))


def test_registry_reloads_keeps_versions_and_refuses_bad_edits(tmp_path: Path) -> None:
    flow_file = tmp_path / "reload_demo.yaml"
    write(flow_file, GOOD.replace("PROMPT", "welcome.wav"), 1)
    registry = FlowRegistry(tmp_path, ROOT / "sounds")
    assert registry.reload() == []
    first = registry.snapshot()
    v1 = first["reload_demo"].version

    write(flow_file, GOOD.replace("PROMPT", "goodbye.wav"), 2)
    assert registry.reload() == []
    second = registry.snapshot()
    v2 = second["reload_demo"].version
    assert v1 != v2
    assert first["reload_demo"].version == v1, "a running call's snapshot never changes"
    assert set(registry.versions["reload_demo"]) == {v1, v2}

    write(flow_file, GOOD.replace("PROMPT", "missing.wav"), 3)  # a prompt that does not exist
    errors = registry.reload()
    assert errors and "missing.wav" in errors[0] and errors[0].startswith(f"{flow_file}:")
    assert registry.snapshot()["reload_demo"].version == v2, "the last good version stays"
    assert registry.errors[flow_file] == errors

    write(flow_file, "nodes: [broken", 4)
    assert registry.reload()
    assert registry.snapshot()["reload_demo"].version == v2

    assert registry.reload() == [], "nothing changed: nothing reloaded"
    flow_file.unlink()
    registry.reload()
    assert "reload_demo" not in registry.snapshot()


def test_schema_describes_every_node_type(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    schema = flow_schema()
    assert set(NODE_TYPES) <= set(schema["definitions"])
    menu = schema["definitions"]["menu"]
    assert {"prompt", "options", "retries", "failed", "error"} <= set(menu["properties"])
    assert menu["properties"]["prompt"] == {"$ref": "#/definitions/prompt"}
    assert "options" in menu["required"]
    assert main(["flows", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(schema))


def test_graph_as_mermaid_and_dot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "graph", "main_line"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart TD")
    assert "n_department_menu -->|2| n_segment" in mermaid
    assert "n_vip_check -->|case 1| n_vip_segment" in mermaid
    assert main(["flows", "graph", "1000", "--format", "dot"]) == 0
    assert '"authenticate" -> "locked" [label="locked"];' in capsys.readouterr().out
    if shutil.which("dot"):
        assert main(["flows", "graph", "main_line", "--format", "svg"]) == 0
        assert "<svg" in capsys.readouterr().out


def test_simulate_prints_each_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(
        "customers:\n  - {account: '100002', pin: '4321', name: Grace, segment: vip}\n"
        "inputs: ['1', '100002', '4321', '#']\n")
    assert main(["flows", "simulate", "main_line", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "vip_check (branch) -> case:1" in out
    assert "vip_queue (queue) -> timeout" in out
    assert "department_menu" not in out
    assert '"pin", "value": "***"' in out and "4321" not in out.split("inputs")[0]


async def test_text_prompts_are_synthesized_once_as_8k_mono(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: run make setup")
    cache = PromptCache(tmp_path)
    first = await cache.text("Hello caller", "en")
    assert is_playable(first)
    with wave.open(str(first)) as wav:
        assert wav.getnframes() > 4000  # some real speech
    stamp = first.stat().st_mtime_ns
    assert await cache.text("Hello caller", "en") == first
    assert first.stat().st_mtime_ns == stamp
    assert await cache.text("Hola", "es") != first


async def test_wav_in_another_format_is_converted(tmp_path: Path) -> None:
    source = tmp_path / "stereo.wav"
    with wave.open(str(source), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(b"\x01\x00" * 2 * 4410)
    cache = PromptCache(tmp_path / "cache")
    converted = await cache.playable(source)
    assert converted != source and is_playable(converted)
    assert await cache.playable(ROOT / "sounds" / "welcome.wav") == ROOT / "sounds" / "welcome.wav"
