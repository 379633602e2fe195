"""GET /events/ws: live events for web pages, filtered per user, resumable.

Frames out: ``hello`` (latest seq, who you are), then either ``reset`` (the
events missed since ``since`` cannot be given exactly: reload over REST) or
the missed ``event`` frames, then live ``event`` frames in seq order;
``pong`` answers a ``ping``. Frames in: ``{"type": "ping"}``. See
docs/page-events.md. Close codes: 4008 the page fell too far behind
(reconnect with since=), 4401 the session ended (log in again), 1001 the
server is stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from aiohttp import WSMsgType, web

from ..events.page_feed import (
    CLOSE_GOING_AWAY,
    CLOSE_TOO_SLOW,
    PageFeed,
    PageSubscriber,
    ResumePlan,
)
from ..events.page_visibility import Viewer
from .auth import TOKEN_KEY, allow, current_user
from .errors import ApiError, bad_request
from .keys import SERVICES
from .login import SESSIONS

log = logging.getLogger("voicecenter.api.events")

LINES_PER_MESSAGE = 200

routes = web.RouteTableDef()

PAGE_FEED = "page_feed"  # key of the PageFeed in Services.extras
CLOSE_SESSION_ENDED = 4401
HEARTBEAT_S = 25.0  # WebSocket pings from the server: dead pages are noticed
SESSION_CHECK_S = 30.0  # a logged-out or expired token stops its socket this fast


def _since(request: web.Request) -> int | None:
    raw = request.query.get("since")
    if raw is None or raw == "":
        return None
    try:
        since = int(raw)
    except ValueError as exc:
        raise bad_request("since must be a non-negative integer (the last seq seen)") from exc
    if since < 0:
        raise bad_request("since must be a non-negative integer (the last seq seen)")
    return since


@routes.get("/events/ws")
@allow("supervisor", "qa", "agent")
async def events_socket(request: web.Request) -> web.WebSocketResponse:
    user = current_user(request)
    since = _since(request)
    feed: PageFeed | None = request.app[SERVICES].extras.get(PAGE_FEED)
    if feed is None or not feed.running:
        raise ApiError(503, "events-unavailable", "live events are not running")
    # Per-message compression would cost a deflate per frame per page.
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=4096, compress=False)
    if not ws.can_prepare(request).ok:
        raise ApiError(426, "upgrade-required",
                       "/events/ws is a WebSocket: connect with ws:// or wss://")
    await ws.prepare(request)
    viewer = Viewer(user.name, user.role, user.agent)
    subscriber, plan = feed.attach(viewer, since)
    log.info("page events open user=%s role=%s since=%s", user.name, user.role, since)
    sender = asyncio.create_task(_send(ws, feed, subscriber, plan), name="page-events-send")
    watcher = asyncio.create_task(_watch_session(request, subscriber),
                                  name="page-events-session")
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            subscriber.push_control(_answer(msg.data, feed))
    finally:
        feed.detach(subscriber)
        for task in (watcher, sender):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
        log.info("page events closed user=%s delivered=%d reason=%s", user.name,
                 subscriber.delivered, subscriber.closed_reason or "page left")
    return ws


@routes.get("/events/stats")
@allow("supervisor")
async def events_stats(request: web.Request) -> web.Response:
    """Pages connected, events read, and the feed's latencies (to watch it in production)."""
    feed: PageFeed | None = request.app[SERVICES].extras.get(PAGE_FEED)
    if feed is None:
        raise ApiError(503, "events-unavailable", "live events are not running")
    return web.json_response(feed.figures())


def _answer(text: str, feed: PageFeed) -> str:
    try:
        frame = json.loads(text)
    except ValueError:
        frame = None
    if isinstance(frame, dict) and frame.get("type") == "ping":
        return json.dumps({"type": "pong", "seq": feed.last_seq, "id": frame.get("id")})
    return json.dumps({"type": "error", "error": "invalid-frame",
                       "message": 'the only frame a page sends is {"type": "ping"}'})


async def _send(ws: web.WebSocketResponse, feed: PageFeed, subscriber: PageSubscriber,
                plan: ResumePlan) -> None:
    """Hello, the resume (or reset), then live frames until the page or the feed closes."""
    await ws.send_str(plan.hello)
    if plan.reset is None and plan.from_table:
        older = await feed.read_back(plan)
        if older is None:
            seq = json.loads(plan.hello)["seq"]
            plan.reset = json.dumps({"type": "reset", "seq": seq,
                                     "reason": "some missed events were purged"})
        else:
            plan.backlog[:0] = older
    if plan.reset is not None:
        await ws.send_str(plan.reset)
    else:
        for start in range(0, len(plan.backlog), LINES_PER_MESSAGE):
            await ws.send_str("\n".join(plan.backlog[start:start + LINES_PER_MESSAGE]))
        subscriber.delivered += len(plan.backlog)
    while True:
        frames, queued_at = await subscriber.take()
        # What queued up while the socket was busy leaves as one message, a
        # frame per line: 500 pages x thousands of frames a second would
        # otherwise cost the event loop a WebSocket message (and a wait) each.
        for start in range(0, len(frames), LINES_PER_MESSAGE):
            await ws.send_str("\n".join(frames[start:start + LINES_PER_MESSAGE]))
        if frames:
            feed.send_lag.add((time.monotonic() - queued_at) * 1000)
        subscriber.delivered += len(frames)
        if subscriber.overflowed:
            await ws.close(code=CLOSE_TOO_SLOW, message=b"too slow: reconnect with since")
            return
        if subscriber.closed_reason is not None:
            code = (CLOSE_SESSION_ENDED if subscriber.closed_reason == "session ended"
                    else CLOSE_GOING_AWAY)
            await ws.close(code=code, message=subscriber.closed_reason.encode())
            return


async def _watch_session(request: web.Request, subscriber: PageSubscriber) -> None:
    """Close the socket once its token is logged out or expires."""
    sessions = request.app[SERVICES].extras.get(SESSIONS)
    token = request.get(TOKEN_KEY)
    if sessions is None or not token:
        return
    while True:
        await asyncio.sleep(SESSION_CHECK_S)
        if await sessions.lookup(token) is None:
            subscriber.close("session ended")
            return
