"""Keeps secrets out of logs, error messages, ``/healthz`` and CLI output.

Reads: every secret value loaded by the configuration (registered here).
Publishes: ``register()``, ``redact()`` for any text, ``redact_dsn()`` for connection strings, and a logging
filter installed on the root logger that applies ``redact()`` to every record.

A secret can reach a message in another spelling than the one configured: a library decodes the ``%``-escapes
of a URL's password before quoting it, ``repr()`` escapes quotes and backslashes, JSON escapes non-ASCII, a
``bytes`` repr shows UTF-8 as ``\\xc3\\xa9``. ``register()`` records every such form of the value and of each
password the value carries as a connection string (as libpq, redis-py or urllib would read it), so
``redact()`` masks all of them.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from lookout.exporters import conninfo

_lock = threading.Lock()
_values: set[str] = set()
MIN_LENGTH = 4  # shorter values would mask ordinary words; such a secret is still never printed by design

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@")
_KV_PASSWORD = re.compile(r"(?i)\b(password|passwd|pwd|token|api_key|secret)\s*=\s*('[^']*'|\S+)")


def forms(value: str) -> set[str]:
    """The spellings under which ``value`` may appear in a message."""
    out = {value, value.strip()}
    for v in list(out):
        out.update((unquote(v), unquote_plus(v), quote(v, safe=""), quote_plus(v, safe=""), quote(v)))
    for v in list(out):
        out.update((
            repr(v)[1:-1],
            json.dumps(v)[1:-1],
            json.dumps(v, ensure_ascii=False)[1:-1],
            v.replace("\\", "\\\\").replace("'", "\\'"),  # libpq's quoting of keyword values
            repr(v.encode("utf-8", "surrogateescape"))[2:-1],
        ))
    return {f for f in out if len(f) >= MIN_LENGTH}


def register(value: str) -> None:
    """Remember a secret value (and every password inside it) so that it is masked wherever it would show."""
    if not value:
        return
    found = forms(value)
    for password in conninfo.passwords(value):
        found |= forms(password)
    with _lock:
        _values.update(found)


def redact_dsn(text: str) -> str:
    """Mask the password of URLs (``scheme://user:pw@host``) and libpq ``password=`` pairs."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _KV_PASSWORD.sub(lambda m: f"{m.group(1)}=***", text)


def redact(text: str) -> str:
    """Mask every registered secret (in every registered form) and any password embedded in a DSN."""
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
