"""Where a call's life is written down: the store (and, through its outbox, MQTT).

Kept as a narrow interface so the voice channel states what it records,
and the store decides how.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger("voicecenter.calls")


class CallJournal(Protocol):
    async def created(self, call_id: str, worker_id: int, info: dict[str, Any]) -> str: ...

    async def event(self, call_id: str, kind: str, data: dict[str, Any]) -> None: ...

    async def answered(self, call_id: str) -> None: ...

    async def ended(self, call_id: str, reason: str) -> None: ...

    async def ended_on_worker(self, worker_id: int, reason: str) -> list[str]: ...
