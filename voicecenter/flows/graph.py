"""`voicecenter flows graph`: a flow as a picture (Mermaid text, Graphviz dot or SVG).

Mermaid renders in GitHub, GitLab and most editors' Markdown previews, so it
needs nothing installed; SVG needs Graphviz's `dot` (Debian: graphviz).
"""

from __future__ import annotations

import re
import shutil
import subprocess

from .model import Flow

_SHAPES = {"menu": ("{", "}"), "branch": ("{", "}"), "business_hours": ("{", "}"),
           "hangup": ("([", "])"), "subflow": ("[[", "]]"), "return": ("([", "])")}


def _mermaid_id(node_id: str) -> str:
    return "n_" + re.sub(r"\W", "_", node_id)


def _label(transition: str) -> str:
    return transition.replace("option:", "").replace("case:", "case ")


def mermaid(flow: Flow) -> str:
    lines = ["flowchart TD", f"  start(((start))) --> {_mermaid_id(flow.start)}"]
    for node in flow.nodes.values():
        left, right = _SHAPES.get(node.type, ("[", "]"))
        lines.append(f'  {_mermaid_id(node.id)}{left}"{node.id}<br/><i>{node.type}</i>"{right}')
    for node in flow.nodes.values():
        for transition, target in node.transitions.items():
            lines.append(f"  {_mermaid_id(node.id)} -->|{_label(transition)}| "
                         f"{_mermaid_id(target)}")
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    """A DOT quoted string: node ids and labels come from YAML and may hold quotes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(flow: Flow) -> str:
    shapes = {"menu": "diamond", "branch": "diamond", "business_hours": "diamond",
              "hangup": "doublecircle", "subflow": "box3d", "return": "oval"}
    lines = [f"digraph {_q(flow.name)} {{", "  rankdir=TB;", '  node [fontname="sans-serif"];',
             "  start [shape=point];", f"  start -> {_q(flow.start)};"]
    for node in flow.nodes.values():
        shape = shapes.get(node.type, "box")
        label = _q(f"{node.id}\n({node.type})").replace("\n", "\\n")
        lines.append(f"  {_q(node.id)} [shape={shape}, label={label}];")
    for node in flow.nodes.values():
        for transition, target in node.transitions.items():
            lines.append(f"  {_q(node.id)} -> {_q(target)} [label={_q(_label(transition))}];")
    return "\n".join([*lines, "}"]) + "\n"


def svg(flow: Flow) -> str:
    """SVG through Graphviz; RuntimeError when `dot` is not installed."""
    program = shutil.which("dot")
    if program is None:
        raise RuntimeError("Graphviz is not installed (apt-get install graphviz); "
                           "use --format mermaid or dot")
    result = subprocess.run([program, "-Tsvg"], input=dot(flow), capture_output=True,
                            text=True, check=True, timeout=30)
    return result.stdout
