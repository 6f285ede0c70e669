"""Expiry of configured API tokens that are JWTs (marketplace tokens valid 180 days, service tokens...).

Reads: each configured token from an environment variable or a file at every refresh (so a rotated token is
seen without a restart), or a `value` that must itself be `${VAR}` (a literal token in the file is a config
error); decodes the JWT payload (the middle, base64url part) and reads its ``exp`` claim. The token is never
verified, sent anywhere, logged or labelled.
Publishes: ``lookout_api_token_expiry_timestamp_seconds{name}`` for tokens with an ``exp`` claim and
``lookout_api_token_readable{name}`` (0 when the token is missing, is not a JWT or has no numeric ``exp``; the log
line names the token's configuration name and the reason, never the value).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from lookout.exporters import secrets
from lookout.exporters.binding import Duration, Secret, setting
from lookout.exporters.collector import Collector, CollectorSettings, Snapshot, gauge

log = logging.getLogger("lookout.exporters.collectors.tokens")


class TokenError(ValueError):
    """Why a token cannot be read; never contains the token."""


def jwt_expiry(token: str) -> float:
    """The ``exp`` claim (Unix seconds) of a JWT, without verifying it. Raises TokenError."""
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        raise TokenError("not a JWT (expected three dot-separated parts)")
    payload = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise TokenError("payload is not base64url-encoded JSON") from None
    if not isinstance(claims, dict):
        raise TokenError("payload is not a JSON object")
    exp = claims.get("exp")
    if exp is None:
        raise TokenError("no exp claim")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise TokenError("exp claim is not a number")
    return float(exp)


@dataclass(kw_only=True)
class TokenSource:
    name: str = setting(help="Name of the token, used as the `name` label (e.g. `wb_feedbacks`).")
    env: str | None = setting(None, help="Environment variable holding the token, read at every refresh.")
    file: str | None = setting(None, help="File holding the token, read at every refresh.")
    value: Secret | None = setting(None, help="The token itself (secret: use `${VAR}` or `value_file`).")

    def validate(self) -> None:
        if not self.name.strip():
            raise ValueError("name: must not be empty")
        given = [k for k in ("env", "file", "value") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of env, file, value (or value_file)")

    def read(self) -> str:
        if self.env is not None:
            v = os.environ.get(self.env)
            if not v:
                raise TokenError(f"environment variable {self.env} is not set")
        elif self.file is not None:
            try:
                v = Path(self.file).read_text().strip()
            except OSError as exc:
                raise TokenError(f"cannot read {self.file}: {exc.strerror}") from None
            if not v:
                raise TokenError(f"{self.file} is empty")
        else:
            v = str(self.value or "")
        secrets.register(v)
        return v


@dataclass(kw_only=True)
class TokenSettings(CollectorSettings):
    interval: Duration = setting(Duration(300), help="How often the tokens are read (local and cheap).")
    tokens: list[TokenSource] = setting([], help="The tokens to watch; each gives exactly one of env, file, value.")

    def validate(self) -> None:
        names = [t.name for t in self.tokens]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tokens: name {dupes[0]!r} is used twice")
        if not self.tokens:
            raise ValueError("tokens: list at least one token")


class TokensCollector(Collector[TokenSettings]):
    name = "tokens"
    Settings = TokenSettings
    summary = (
        "Publishes the expiry time of configured API tokens that are JWTs (read from the `exp` claim, never "
        "verified or logged), so a marketplace or service token is renewed before the sync it feeds stops."
    )
    example = """
tokens:
  tokens:
    - name: wb_feedbacks
      env: WB_FEEDBACKS_TOKEN
    - name: wb_questions
      file: /run/secrets/wb_questions_token
"""
    metrics = (
        gauge("lookout_api_token_expiry_timestamp_seconds", "Unix time of the token's exp claim.", "name"),
        gauge("lookout_api_token_readable", "1 if the token was read and is a JWT with a numeric exp claim.", "name"),
    )

    def __init__(self, settings: TokenSettings):
        super().__init__(settings)
        self._last_error: dict[str, str] = {}

    def refresh(self, snap: Snapshot) -> None:
        snap.declare("lookout_api_token_expiry_timestamp_seconds")
        for t in self.settings.tokens:
            try:
                exp = jwt_expiry(t.read())
            except TokenError as exc:
                self._report(t.name, str(exc))
                snap.add("lookout_api_token_readable", 0, name=t.name)
                continue
            self._report(t.name, "")
            snap.add("lookout_api_token_readable", 1, name=t.name)
            snap.add("lookout_api_token_expiry_timestamp_seconds", exp, name=t.name)

    def _report(self, name: str, error: str) -> None:
        """Log once per change of a token's state."""
        previous = self._last_error.get(name)
        self._last_error[name] = error
        if error and error != previous:
            log.warning("token %s cannot be read: %s", name, error)
        elif not error and previous:
            log.info("token %s is readable again", name)


COLLECTOR = TokensCollector
