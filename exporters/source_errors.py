"""Errors from sources, classified at the boundary: what failed and where, never the library's own words.

Reads: an exception raised while talking to a source (psycopg/libpq, redis-py, requests/urllib3, the socket
and ssl modules) and the source's address.
Publishes: ``SourceError`` (an error whose one-line message is already safe to show), ``classify()`` (the
kind of failure: ``connection refused``, ``timed out``, ``DNS lookup failed``, ``TLS handshake failed``,
``authentication failed``, ``invalid DSN``, ``HTTP status 503``...) and ``describe()``, the one line the
runtime stores as ``last_error`` and logs.

Library messages quote what they were given, and what they were given may be a password: libpq prints
``invalid percent-encoded token: "<the password>"``, urllib ``Port could not be cast to integer value as
'<part of the password>'``. So a recognised failure is reported by its kind and ``host:port`` alone, and
any other message passes ``secrets.redact()`` (every configured secret in every spelling) before it is kept.
"""

from __future__ import annotations

import socket
import ssl

from lookout.exporters import secrets


class SourceError(Exception):
    """A failure already described in one safe line (kind and address, no library text)."""


# (substring of the library message in lower case, kind); first match wins, so specific before general
_BY_MESSAGE: tuple[tuple[str, str], ...] = (
    ("password authentication failed", "authentication failed"),
    ("authentication failed", "authentication failed"),
    ("no password supplied", "authentication failed (no password given)"),
    ("wrongpass", "authentication failed"),
    ("invalid username-password", "authentication failed"),
    ("invalid password", "authentication failed"),
    ("noauth", "authentication failed (the server wants a password)"),
    ("authentication required", "authentication failed (the server wants a password)"),
    ("no pg_hba.conf entry", "authentication failed (no pg_hba.conf entry)"),
    ('role "', "authentication failed (unknown role)"),
    ('database "', "authentication failed (unknown database)"),
    ("permission denied", "permission denied"),
    ("too many connections", "refused: too many connections"),
    ("max number of clients", "refused: too many connections"),
    ("the database system is", "server not ready (starting up, shutting down or in recovery)"),
    ("loading the dataset", "server not ready (loading)"),
    ("could not translate host name", "DNS lookup failed"),
    ("name or service not known", "DNS lookup failed"),
    ("temporary failure in name resolution", "DNS lookup failed"),
    ("nodename nor servname", "DNS lookup failed"),
    ("failed to resolve", "DNS lookup failed"),
    ("certificate", "TLS handshake failed (certificate)"),
    ("ssl", "TLS handshake failed"),
    ("tls", "TLS handshake failed"),
    ("connection refused", "connection refused"),
    ("timeout expired", "timed out"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("no route to host", "network unreachable"),
    ("network is unreachable", "network unreachable"),
    ("connection reset", "connection lost"),
    ("server closed the connection", "connection lost"),
    ("connection closed", "connection lost"),
    ("broken pipe", "connection lost"),
    ("eof", "connection lost"),
)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes (requests wraps urllib3 wraps socket errors)."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 8:
        seen.append(cur)
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    for e in list(seen):  # urllib3's MaxRetryError keeps its cause in .reason
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException) and reason not in seen:
            seen.append(reason)
    return seen


def _module(exc: BaseException) -> str:
    return type(exc).__module__.split(".")[0]


def classify(exc: BaseException) -> str | None:
    """The kind of a source failure, or None when ``exc`` does not come from a source library."""
    chain = _chain(exc)
    for e in chain:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if isinstance(status, int):
            return f"HTTP status {status}"
    for e in chain:
        mod, name = _module(e), type(e).__name__
        if mod == "psycopg" and name == "ProgrammingError" and getattr(e, "pgconn", None) is None:
            return "invalid DSN"
        if mod == "redis" and name == "AuthenticationError":
            return "authentication failed"
        if mod == "redis" and name == "TimeoutError":
            return "timed out"
        if isinstance(e, ssl.SSLError | ssl.CertificateError):
            return "TLS handshake failed"
        if isinstance(e, socket.gaierror):
            return "DNS lookup failed"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, TimeoutError | socket.timeout):
            return "timed out"
    known = any(_module(e) in ("psycopg", "redis", "requests", "urllib3", "kombu", "ssl", "socket") for e in chain)
    if not known and not any(isinstance(e, OSError) for e in chain):
        return None
    text = " ".join(str(e) for e in chain).lower()
    for needle, kind in _BY_MESSAGE:
        if needle in text:
            return kind
    for e in chain:
        if _module(e) == "redis" and type(e).__name__ == "ResponseError":
            # a command the server refused (a Lua script error): its words name the command, never a credential
            return f"the server refused the command: {_one_line(str(e))[:200]}"
    return "connection failed"


def describe(exc: BaseException, target: str = "") -> str:
    """One line for ``last_error`` and the log: ``<target>: <kind>`` when classified, else a redacted message."""
    if isinstance(exc, SourceError):
        return _one_line(str(exc))
    kind = classify(exc)
    if kind is not None:
        return f"{target}: {kind}" if target else kind
    return _one_line(f"{type(exc).__name__}: {exc}")


def target_of(settings: object) -> str:
    """``host:port`` of the source a collector's settings name (its DSN, broker or API URL), or ""."""
    from lookout.exporters import conninfo

    for key in ("dsn", "broker_url", "base_url", "url"):
        value = getattr(settings, key, None)
        if isinstance(value, str) and value:
            return conninfo.target(value)
    return ""


def _one_line(text: str) -> str:
    return " ".join(secrets.redact(text).split())[:500]
