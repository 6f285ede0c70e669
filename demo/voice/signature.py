"""ElevenLabs webhook signatures: ``ElevenLabs-Signature: t=<unix>,v0=<hex HMAC-SHA256(secret, "<t>.<body>")>``.

Pure functions shared by the Flask app (verify) and the traffic generator and tests (sign); no Flask import,
so the supervisor stays small.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE = 30 * 60  # seconds; ElevenLabs' SDK accepts signatures up to 30 minutes old


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def verify_signature(header: str | None, body: bytes, secret: str, now: float | None = None) -> None:
    if not header:
        raise BadRequest(401, "missing ElevenLabs-Signature header")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, val = part.strip().partition("=")
        fields.setdefault(key, []).append(val)
    try:
        ts = int(fields["t"][0])
    except (KeyError, ValueError) as exc:
        raise BadRequest(401, "malformed signature header") from exc
    if abs((now or time.time()) - ts) > TOLERANCE:
        raise BadRequest(401, "signature timestamp outside tolerance")
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, v) for v in fields.get("v0", [])):
        raise BadRequest(401, "signature mismatch")


def sign(body: bytes, secret: str, ts: int | None = None) -> str:
    """The header value ElevenLabs would send for ``body`` (used by the traffic generator and tests)."""
    ts = int(ts if ts is not None else time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v0={mac}"
