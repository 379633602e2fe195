"""Drive one real media worker process over its protocol, without the control plane.

Tests talk to the worker exactly as the pool does (TCP, JSON lines), so the
worker's handling of commands, bad input and media is tested on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WorkerHarness:
    def __init__(self) -> None:
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self.process: asyncio.subprocess.Process | None = None
        self.sip_port = free_port()
        self.next_id = 0
        self.results: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.connected.set()
        while line := await reader.readline():
            message = json.loads(line)
            if message["type"] == "result" and message["id"] in self.results:
                self.results.pop(message["id"]).set_result(message)
            elif message["type"] != "heartbeat":
                await self.events.put(message)

    def send_raw(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    async def command(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.results[self.next_id] = future
        self.send_raw(json.dumps({"type": kind, "id": self.next_id, **fields}).encode() + b"\n")
        return await asyncio.wait_for(future, 5)

    async def event(self, kind: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
        """The next event of `kind` whose fields match (others are dropped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.events.get()
                if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                    return message


@contextlib.asynccontextmanager
async def running_worker() -> AsyncIterator[WorkerHarness]:
    harness = WorkerHarness()
    server = await asyncio.start_server(harness._accept, "127.0.0.1", 0)
    control_port = server.sockets[0].getsockname()[1]
    harness.process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicecenter.media.worker", "--worker", "0",
        "--control", f"127.0.0.1:{control_port}", "--sip-port", str(harness.sip_port),
        "--rtp-port", str(free_port() & ~1), "--rtp-range", "20",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await asyncio.wait_for(harness.connected.wait(), 10)
        yield harness
    finally:
        if harness.process.returncode is None:
            harness.process.terminate()
            await asyncio.wait_for(harness.process.wait(), 10)
        server.close()
        await server.wait_closed()
