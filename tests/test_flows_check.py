"""`voicecenter flows check` on broken flows: every error found, on its line.

Each fixture marks the lines where an error must be reported with
`# expect: <part of the message>`, so the expectations sit next to the YAML.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from voicecenter.cli import main
from voicecenter.flows.checker import check_all
from voicecenter.flows.loader import load_flows

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "fixtures" / "flows" / "broken"
_EXPECT = re.compile(r"#\s*expect:\s*(.+?)\s*$")


def expectations(path: Path) -> list[tuple[int, str]]:
    return [(number, match.group(1))
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if (match := _EXPECT.search(line))]


def findings(directory: Path) -> list[str]:
    flows, errors = load_flows(directory)
    return [line for error in errors for line in error.splitlines()] + \
        check_all(flows, ROOT / "sounds")


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_error_is_reported_on_its_line(path: Path, tmp_path: Path) -> None:
    (tmp_path / path.name).write_text(path.read_text())
    found = findings(tmp_path)
    expected = expectations(path)
    assert expected, f"{path} has no # expect: markers"
    for line, fragment in expected:
        matching = [f for f in found if f.startswith(f"{tmp_path / path.name}:{line}: ")
                    and fragment in f]
        assert matching, f"line {line}: {fragment!r} not in:\n" + "\n".join(found)


def test_sample_flows_are_clean() -> None:
    assert findings(ROOT / "ivr_flows") == []


def test_check_command_exits_non_zero_with_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in BROKEN.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    assert main(["flows", "check", "--flows", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'unreachable.yaml'}:7: node 'orphan' is unreachable" in out
    assert main(["flows", "check", "--flows", str(ROOT / "ivr_flows")]) == 0
