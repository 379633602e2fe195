"""The http node against a real local aiohttp server: JSON in, timeout and 500 to fallback."""

from __future__ import annotations

import asyncio
import textwrap
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from voicecenter.flows.backends import MemoryFlowStore
from voicecenter.flows.context import FlowContext, FlowServices
from voicecenter.flows.http_client import AiohttpClient
from voicecenter.flows.loader import load_flow
from voicecenter.flows.runner import run_flow
from voicecenter.flows.simulate import ScriptedCall

ROOT = Path(__file__).resolve().parent.parent


async def crm(request: web.Request) -> web.Response:
    account = request.match_info["account"]
    if account == "500":
        return web.json_response({"error": "boom"}, status=500)
    if account == "slow":
        await asyncio.sleep(2)
    if account == "text":
        return web.Response(text="not json")
    body = await request.json() if request.can_read_body else {}
    return web.json_response({"customer": {"name": "Ada", "tier": "gold", "account": account},
                              "echo": body})


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/customers/{account}", crm)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


FLOW = """
    start: lookup
    variables: {account: "", base: ""}
    nodes:
      lookup:
        type: http
        method: POST
        url: "{base}/customers/{account}"
        body: {account: "{account}", source: ivr}
        timeout_ms: 500
        result: {crm_name: customer.name, crm_tier: customer.tier, sent: echo.source}
        next: found
        fallback: fallback
      found: {type: hangup}
      fallback: {type: hangup}
"""


async def run(tmp_path: Path, base: str, account: str) -> tuple[list[str], dict[str, Any]]:
    path = tmp_path / "crm.yaml"
    path.write_text(textwrap.dedent(FLOW))
    call = ScriptedCall(tokens=deque(), speech=False,
                        show=lambda _line: None)
    client = AiohttpClient()
    ctx = FlowContext(call=call, sounds=ROOT / "sounds",
                      services=FlowServices(store=MemoryFlowStore(), http=client),
                      variables={"account": account, "base": base})
    try:
        await run_flow(load_flow(path), ctx)
    finally:
        await client.close()
    path_taken = [d["node"] for k, d in call.events if k == "flow.step"]
    return path_taken, ctx.variables


async def test_json_answer_fills_variables(tmp_path: Path, base_url: str) -> None:
    path, variables = await run(tmp_path, base_url, "100001")
    assert path == ["lookup", "found"]
    assert (variables["crm_name"], variables["crm_tier"], variables["sent"]) == (
        "Ada", "gold", "ivr")
    assert variables["http_status"] == 200


async def test_500_takes_the_fallback(tmp_path: Path, base_url: str) -> None:
    path, variables = await run(tmp_path, base_url, "500")
    assert path == ["lookup", "fallback"]
    assert variables["http_status"] == 500


async def test_timeout_takes_the_fallback_in_time(tmp_path: Path, base_url: str) -> None:
    started = asyncio.get_running_loop().time()
    path, variables = await run(tmp_path, base_url, "slow")
    assert path == ["lookup", "fallback"]
    assert variables["http_status"] == 0
    assert asyncio.get_running_loop().time() - started < 1.5


async def test_unreachable_and_non_json_take_the_fallback(tmp_path: Path, base_url: str) -> None:
    assert (await run(tmp_path, base_url, "text"))[0] == ["lookup", "fallback"]
    assert (await run(tmp_path, "http://127.0.0.1:9", "1"))[0] == ["lookup", "fallback"]
