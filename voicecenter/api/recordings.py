"""/recordings/{call_id}: a conversation's stereo recording, streamed with Range support.

The QA page's <audio> element seeks by asking for byte ranges, so the file
is served by aiohttp's FileResponse (206 Partial Content, Accept-Ranges).
Only files under the configured recordings directory are ever served,
whatever path the timeline holds. Every request is written to the access
log: who listened to which call is what privacy audits ask, and a seek is
a request like any other, so nothing can be fetched unlogged.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from aiohttp import web

from .auth import allow, audit
from .errors import ApiError, bad_request, not_found
from .keys import SERVICES

log = logging.getLogger("voicecenter.api.recordings")
routes = web.RouteTableDef()

CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TYPES = {".wav": "audio/wav", ".opus": "audio/ogg", ".ogg": "audio/ogg", ".mp3": "audio/mpeg"}


def _locate(path: Path, root: Path, call_id: str) -> Path:
    """The file, if it is under the recordings directory and still there."""
    path, root = path.resolve(), root.resolve()
    if not path.is_relative_to(root):
        log.error("call=%s recording %s is outside %s: not served", call_id, path, root)
        raise ApiError(403, "outside-recordings", "the recording is outside the "
                       "recordings directory and is not served")
    if not path.is_file():
        raise not_found("recording-missing", f"the recording file of call {call_id} is gone")
    return path


@routes.get("/recordings/{call_id}")
@allow("qa", "supervisor")
async def recording(request: web.Request) -> web.StreamResponse:
    """The call's stereo WAV (caller left, agent right), or ?format=compressed."""
    call_id = request.match_info["call_id"]
    if not CALL_ID.match(call_id):
        raise bad_request("call id must be 1-64 letters, digits, - or _")
    wanted = request.query.get("format", "wav")
    if wanted not in ("wav", "compressed"):
        raise bad_request("format must be wav or compressed", {"format": wanted})
    services = request.app[SERVICES]
    data = await services.store.reviews.recording(call_id)
    if data is None:
        raise not_found("no-such-recording", f"call {call_id} has no completed recording")
    raw = data.get("compressed") if wanted == "compressed" else data.get("path")
    if not raw:
        raise not_found("no-such-recording", f"call {call_id} has no {wanted} recording")
    path = _locate(Path(str(raw)), services.settings.paths.recordings, call_id)
    await audit(request, "recording.read", call_id)
    kind = TYPES.get(path.suffix, "application/octet-stream")
    return web.FileResponse(path, headers={"Content-Type": kind, "Cache-Control": "private"})
