"""Control plane <-> media worker protocol, version 1 (see docs/worker-protocol.md).

One JSON object per line over TCP, in both directions. Every message has a
`type`; commands carry an `id` the worker echoes in its `result`. The worker
owns media only, so every message names the call by the worker's own call
number (`call`); the control plane maps it to its interaction.

Both ends validate what they read: a worker must survive a buggy control
plane and the control plane must survive a confused worker, so a malformed
line becomes a ProtocolError the reader reports and skips.
"""

from __future__ import annotations

import json
from typing import Any

PROTOCOL_VERSION = 1
MAX_LINE = 64 * 1024


class ProtocolError(ValueError):
    """A line that is not a valid protocol message."""


# Fields every message of a type must carry, with their JSON types.
_STR, _INT, _BOOL, _LIST = str, int, bool, list

COMMANDS: dict[str, dict[str, type]] = {
    "answer": {"id": _INT, "call": _INT},
    "ring": {"id": _INT, "call": _INT},
    "reject": {"id": _INT, "call": _INT, "code": _INT},
    "play": {"id": _INT, "call": _INT, "files": _LIST},
    "stop_play": {"id": _INT, "call": _INT},
    "collect": {"id": _INT, "call": _INT, "max_digits": _INT},
    "record": {"id": _INT, "call": _INT, "path": _STR},
    "stop_record": {"id": _INT, "call": _INT},
    "stats": {"id": _INT, "call": _INT},
    "hangup": {"id": _INT, "call": _INT},
    "dial": {"id": _INT, "to": _STR},
    "bridge": {"id": _INT, "call": _INT, "other": _INT},
    "unbridge": {"id": _INT, "call": _INT, "other": _INT},
    "listen": {"id": _INT, "call": _INT, "url": _STR},
    "stop_listen": {"id": _INT, "call": _INT},
    "shutdown": {"id": _INT},
}

EVENTS: dict[str, dict[str, type]] = {
    "hello": {"v": _INT, "worker": _INT, "pid": _INT, "capacity": _INT, "sip_port": _INT},
    "heartbeat": {"calls": _INT},
    "result": {"id": _INT, "ok": _BOOL},
    "call.incoming": {"call": _INT, "sip_call_id": _STR, "from": _STR, "to": _STR},
    "call.state": {"call": _INT, "state": _STR},
    "call.media": {"call": _INT, "active": _BOOL},
    "dtmf": {"call": _INT, "digit": _STR, "method": _STR},
    "call.refer": {"call": _INT, "to": _STR},
    "play.done": {"call": _INT, "play": _INT, "reason": _STR},
    "collect.done": {"call": _INT, "collect": _INT, "digits": _STR, "reason": _STR},
    "record.stopped": {"call": _INT, "path": _STR},
    "media.stats": {"call": _INT},
    "speech.started": {"call": _INT, "listen": _INT},
    "speech.partial": {"call": _INT, "listen": _INT, "text": _STR},
    "speech.final": {"call": _INT, "listen": _INT, "text": _STR, "reason": _STR},
    "speech.error": {"call": _INT, "listen": _INT, "error": _STR},
    "log": {"level": _STR, "message": _STR},
}

DTMF_DIGITS = frozenset("0123456789*#ABCD")


def encode(message: dict[str, Any]) -> bytes:
    """Serialize one message as a line."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def decode(line: bytes, schema: dict[str, dict[str, type]]) -> dict[str, Any]:
    """Parse and check one line against COMMANDS or EVENTS."""
    if len(line) > MAX_LINE:
        raise ProtocolError(f"line of {len(line)} bytes exceeds {MAX_LINE}")
    try:
        message = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("message is not an object")
    kind = message.get("type")
    if kind not in schema:
        raise ProtocolError(f"unknown message type {kind!r}")
    for field, expected in schema[kind].items():
        value = message.get(field)
        # bool is an int in Python; an int field must not accept True/False.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ProtocolError(f"{kind}: field {field!r} must be {expected.__name__}")
    return message
