"""Waiting for the first of several things to happen to calls."""

from __future__ import annotations

import asyncio


async def first_set(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Return when any event is set or the timeout passes (the caller checks which)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
