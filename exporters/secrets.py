"""Keeps secrets out of logs and error messages.

Reads: every secret value loaded by the configuration (registered here).
Publishes: ``redact()`` for any text, ``redact_dsn()`` for connection strings, and a logging filter
installed on the root logger that applies ``redact()`` to every record.
"""

from __future__ import annotations

import logging
import re
import threading

_lock = threading.Lock()
_values: set[str] = set()

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@")
_KV_PASSWORD = re.compile(r"(?i)\b(password|passwd|pwd|token|api_key|secret)\s*=\s*('[^']*'|\S+)")


def register(value: str) -> None:
    """Remember a secret value so that it is masked wherever it would be logged."""
    if value and len(value) >= 4:
        with _lock:
            _values.add(value)


def redact_dsn(text: str) -> str:
    """Mask the password of URLs (``scheme://user:pw@host``) and libpq ``password=`` pairs."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _KV_PASSWORD.sub(lambda m: f"{m.group(1)}=***", text)


def redact(text: str) -> str:
    """Mask every registered secret and any password embedded in a DSN."""
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for v in values:
        if v in text:
            text = text.replace(v, "***")
    return redact_dsn(text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(msg), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
