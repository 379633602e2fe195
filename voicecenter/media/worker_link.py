"""The control plane's end of one worker connection: commands out, events in."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import protocol

log = logging.getLogger("voicecenter.media.link")

# A dead worker is noticed by its exit, its socket or its heartbeats; this only
# bounds a command on a live but overloaded worker, which must not end calls early.
COMMAND_TIMEOUT_S = 10.0


class WorkerUnavailable(Exception):
    """The worker is gone or did not answer; maps to 503 worker-unavailable."""


class CommandFailed(Exception):
    """The worker refused a command; `code` is its stable error id."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class WorkerLink:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 ids: itertools.count[int]) -> None:
        self.reader = reader
        self.writer = writer
        self.ids = ids
        self.worker_id = -1
        self.capacity = 0
        self.active_calls = 0
        self.last_seen = time.monotonic()
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.closed = False

    async def read_hello(self) -> dict[str, Any]:
        line = await self.reader.readline()
        if not line:
            raise ConnectionError("closed before hello")
        message = protocol.decode(line, protocol.EVENTS)
        if message["type"] != "hello":
            raise ValueError(f"expected hello, got {message['type']}")
        if message["v"] != protocol.PROTOCOL_VERSION:
            raise ValueError(f"worker speaks protocol v{message['v']}, "
                             f"control plane v{protocol.PROTOCOL_VERSION}")
        self.worker_id = message["worker"]
        self.capacity = message["capacity"]
        self.last_seen = time.monotonic()
        return message

    async def read_events(
        self, handler: Callable[[WorkerLink, dict[str, Any]], Awaitable[None]]
    ) -> None:
        """Dispatch events until the connection closes."""
        while True:
            try:
                line = await self.reader.readline()
            except (ConnectionError, asyncio.LimitOverrunError, ValueError):
                break
            if not line:
                break
            self.last_seen = time.monotonic()
            try:
                message = protocol.decode(line, protocol.EVENTS)
            except protocol.ProtocolError as exc:
                log.error("worker=%d sent a bad event: %s", self.worker_id, exc)
                continue
            kind = message["type"]
            if kind == "heartbeat":
                self.active_calls = message["calls"]
            elif kind == "result":
                future = self.pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif kind == "log":
                log.warning("worker=%d says: %s", self.worker_id, message["message"])
            else:
                try:
                    await handler(self, message)
                except Exception:
                    log.exception("worker=%d event handler failed on %s", self.worker_id, kind)
        self.close("connection closed")

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            raise WorkerUnavailable(f"worker {self.worker_id} is gone")
        self.writer.write(protocol.encode(message))

    def next_id(self) -> int:
        return next(self.ids)

    async def command(self, kind: str, timeout: float = COMMAND_TIMEOUT_S,
                      **fields: Any) -> dict[str, Any]:
        """Send a command and wait for its result; raise on refusal or silence."""
        command_id = fields.pop("id", None) or self.next_id()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[command_id] = future
        try:
            self.send({"type": kind, "id": command_id, **fields})
            await self.writer.drain()
            result = await asyncio.wait_for(future, timeout)
        except (ConnectionError, TimeoutError) as exc:
            raise WorkerUnavailable(f"worker {self.worker_id}: {kind} got no answer") from exc
        finally:
            self.pending.pop(command_id, None)
        if not result["ok"]:
            raise CommandFailed(result.get("error", "failed"), result.get("message", ""))
        return result

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        for future in self.pending.values():
            if not future.done():
                future.set_exception(WorkerUnavailable(f"worker {self.worker_id}: {reason}"))
        self.pending.clear()
        self.writer.close()
