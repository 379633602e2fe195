"""OpenAPI paths of quality review (voicecenter/api/qa.py and recordings.py)."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_INTERACTION = {"name": "interaction_id", "in": "path", "required": True,
                "schema": {"type": "string"}}
_NULLABLE_STRING = {"type": ["string", "null"]}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "Invalid request", 403: "Forbidden or outside the recordings directory",
             404: "Not found"}
    return {str(code): {"description": names[code],
                        "content": {"application/json": {"schema": _ERROR}}}
            for code in codes}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "schema": schema or {"type": "string"}, "description": description}


_SNIPPET = {"type": ["object", "null"], "properties": {
    "source": {"type": "string", "enum": ["transcript", "line"]},
    "label": {"type": "string", "description": "caller/agent channel, or who wrote the line"},
    "call_id": _NULLABLE_STRING, "text": {"type": "string", "description": "redacted"},
    "start": {"type": ["number", "null"], "description": "seconds into the recording"}}}
_RESULT = {"type": "object", "properties": {
    "id": {"type": "string"}, "channel": {"type": "string"}, "state": {"type": "string"},
    "started_at": {"type": "string", "format": "date-time"},
    "ended_at": {"type": ["string", "null"], "format": "date-time"},
    "duration_s": {"type": ["number", "null"]}, "agent": _NULLABLE_STRING,
    "queue": _NULLABLE_STRING, "disposition": _NULLABLE_STRING,
    "score": {"type": ["number", "null"], "description": "latest scorecard total, 0-100"},
    "snippet": _SNIPPET}}
_SCORE = {"type": "object", "properties": {
    "id": {"type": "integer"}, "interaction_id": {"type": "string"},
    "reviewer": {"type": "string"}, "answers": {"type": "object"},
    "questions": {"type": "array", "items": {"type": "object"}},
    "comment": {"type": "string"}, "total": {"type": "number"},
    "created_at": {"type": "string", "format": "date-time"}}}
_QUESTION = {"type": "object", "properties": {
    "id": {"type": "string"}, "text": {"type": "string"}, "weight": {"type": "number"},
    "max": {"type": "integer"}}}

QA_PATHS: dict[str, Any] = {
    "/interactions/search": {"get": {
        "summary": "Find interactions to review (qa, supervisor), newest first; every "
                   "filter given must match. Searching words is recorded in the access log",
        "parameters": [
            _query("from", "ISO 8601 date or date-time (UTC if no zone); created at or after"),
            _query("to", "ISO 8601 date or date-time; before it (a bare date: through "
                   "that day)"),
            _query("agent", "an agent the interaction was assigned to"),
            _query("queue", "the queue it waited in"),
            _query("disposition", "the disposition the agent set"),
            _query("channel", "voice, chat or sms",
                   {"type": "string", "enum": ["voice", "chat", "sms"]}),
            _query("q", "words (up to 5, all must occur) said in a transcript or written in "
                   "a chat or SMS line; 4+ digits in a row are refused"),
            _query("limit", "1-200, default 50", {"type": "integer", "minimum": 1,
                                                  "maximum": 200}),
            _query("offset", "0-100000, default 0", {"type": "integer", "minimum": 0,
                                                     "maximum": 100000})],
        "responses": {"200": _ok("Matching interactions", {"type": "object", "properties": {
            "items": {"type": "array", "items": _RESULT}, "total": {"type": "integer"},
            "limit": {"type": "integer"}, "offset": {"type": "integer"}}}),
            **_errors(400)}}},
    "/interactions/{interaction_id}/review": {"get": {
        "summary": "Everything to review one interaction (qa, supervisor): recordings with "
                   "their URLs, transcripts per speaker with word times, chat lines, events "
                   "and spoken phrases on one timeline, with card numbers, PINs and secret "
                   "inputs redacted; plus the scorecard and the scores given. Recorded in the "
                   "access log as transcript.read per call",
        "parameters": [_INTERACTION],
        "responses": {"200": _ok("The review", {"type": "object", "properties": {
            "interaction": {"type": "object"}, "summary": {"type": "object"},
            "calls": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}},
            "recordings": {"type": "array", "items": {"type": "object"}},
            "transcripts": {"type": "array", "items": {"type": "object"}},
            "timeline": {"type": "array", "items": {"type": "object"}},
            "scorecard": {"type": "array", "items": _QUESTION},
            "scores": {"type": "array", "items": _SCORE}}}), **_errors(404)}}},
    "/recordings/{call_id}": {"get": {
        "summary": "The call's stereo recording (caller left, agent right) as audio/wav, or "
                   "compressed with ?format=compressed; supports Range requests for seeking "
                   "(qa, supervisor). Every request is recorded in the access log",
        "parameters": [
            {"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}},
            _query("format", "wav (default) or compressed",
                   {"type": "string", "enum": ["wav", "compressed"]})],
        "responses": {
            "200": {"description": "The audio", "content": {
                "audio/wav": {"schema": {"type": "string", "format": "binary"}}}},
            "206": {"description": "The range asked for"},
            **_errors(400, 403, 404)}}},
    "/scorecard": {"get": {
        "summary": "The scorecard's questions (settings qa.scorecard): id, text, weight, max",
        "responses": {"200": _ok("Questions", {"type": "object", "properties": {
            "questions": {"type": "array", "items": _QUESTION}}})}}},
    "/interactions/{interaction_id}/scores": {
        "post": {
            "summary": "Score the interaction (qa, supervisor): an integer 0..max for every "
                       "question; the total is the weighted percentage, computed by the "
                       "server; the reviewer is the user logged in",
            "parameters": [_INTERACTION],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["answers"], "properties": {
                    "answers": {"type": "object", "additionalProperties": {"type": "integer"},
                                "description": "question id -> value"},
                    "comment": {"type": "string", "maxLength": 4000}}}}}},
            "responses": {"201": _ok("The score as stored", _SCORE), **_errors(400, 404)}},
        "get": {
            "summary": "Every score the interaction was given, oldest first",
            "parameters": [_INTERACTION],
            "responses": {"200": _ok("Scores", {"type": "object", "properties": {
                "items": {"type": "array", "items": _SCORE}}}), **_errors(404)}}},
}
