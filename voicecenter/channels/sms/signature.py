"""Webhook signatures: HMAC-SHA256 of the raw body with the shared secret.

The provider (or the gateway in front of it) sends
`X-Voicecenter-Signature: sha256=<hex>`; anything else is refused, and the
comparison takes the same time whatever the signature, so it leaks nothing.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Voicecenter-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    if not secret or not signature:
        return False
    return hmac.compare_digest(sign(secret, body), signature.strip())
