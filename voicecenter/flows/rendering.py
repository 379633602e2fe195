"""A flow's graph as SVG for web pages, drawn by Graphviz without blocking the server.

graph.svg() runs `dot` synchronously, which is right for the CLI and wrong
inside the control plane's event loop: here `dot` runs as an asyncio
subprocess with a time limit, and each (flow, version) is drawn once, since
a version is a hash of the YAML and its picture never changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections import OrderedDict

from .graph import dot
from .model import Flow

TIMEOUT_S = 10.0
_CACHE_SIZE = 128
_cache: OrderedDict[tuple[str, str], str] = OrderedDict()


class GraphvizMissing(RuntimeError):
    """`dot` is not installed (Debian: apt-get install graphviz)."""


class GraphFailed(RuntimeError):
    """`dot` ran but gave no picture (timed out, or refused the input)."""


async def flow_svg(flow: Flow, timeout_s: float = TIMEOUT_S) -> str:
    key = (flow.name, flow.version)
    cached = _cache.get(key)
    if cached is not None:
        _cache.move_to_end(key)
        return cached
    program = shutil.which("dot")
    if program is None:
        raise GraphvizMissing("Graphviz is not installed on the server (apt-get install "
                              "graphviz); `voicecenter flows graph --format mermaid` works "
                              "without it")
    process = await asyncio.create_subprocess_exec(
        program, "-Tsvg", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(dot(flow).encode()), timeout_s)
    except TimeoutError as exc:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise GraphFailed(f"dot took longer than {timeout_s:g} s on flow {flow.name!r}") \
            from exc
    if process.returncode != 0 or not out:
        raise GraphFailed(f"dot failed on flow {flow.name!r}: "
                          f"{err.decode(errors='replace').strip()[:500]}")
    svg = out.decode()
    _cache[key] = svg
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return svg
