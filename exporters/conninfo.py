"""Connection strings read the way the libraries that use them read them: libpq, redis-py, urllib.

Reads: a DSN or URL (PostgreSQL keyword/value or URI, ``redis://``, ``rediss://``, ``unix://``, ``http(s)://``).
Publishes: ``kind()`` (which parser applies), ``passwords()`` (every string that one of those parsers, or a
more lenient reading, would take for a password), ``target()`` (``host:port`` without credentials, for error
messages) and ``parse_error()`` (a one-line, secret-free reason why the library refuses the string).

The libraries disagree on corner cases: libpq ends the user information at the first ``@`` before any ``/``
and accepts ``?`` inside it, urllib ends the authority at ``?`` and splits at the last ``@``; both decode
``%``-escapes in query keys (``?%70assword=``). Callers that decide whether a password is present take the
union of every reading, so no reading can smuggle one through.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

Kind = Literal["postgres", "redis", "http", "other"]

_SCHEME = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.\-]*)://")
_PG_SCHEMES = ("postgresql", "postgres")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
# a libpq keyword/value string: "host=... password=..." (keywords are letters and underscores)
_KEYWORD_FORM = re.compile(r"^\s*[A-Za-z_]+\s*=")


def kind(text: str) -> Kind:
    m = _SCHEME.match(text)
    scheme = m.group(1).lower() if m else ""
    if scheme in _PG_SCHEMES or (not m and _KEYWORD_FORM.match(text)):
        return "postgres"
    if scheme in _REDIS_SCHEMES:
        return "redis"
    if scheme in ("http", "https"):
        return "http"
    return "other"


def _libpq(text: str) -> dict[str, str] | None:
    try:
        from psycopg.conninfo import conninfo_to_dict

        return {k: str(v) for k, v in conninfo_to_dict(text).items() if v is not None}
    except Exception:  # any refusal: the caller falls back to the lenient reading
        return None


def _redis(text: str) -> dict[str, object] | None:
    try:
        from redis.connection import parse_url

        return parse_url(text)
    except Exception:
        return None


def _lenient(text: str) -> list[str]:
    """Passwords found by hand, by every rule the libraries use (and a few they do not)."""
    found: list[str] = []
    m = _SCHEME.match(text)
    if m:
        rest = text[m.end():]
        # libpq: user information ends at the first "@" seen before any "/"
        head = re.match(r"[^@/]*@", rest)
        if head and ":" in head.group(0):
            found.append(head.group(0)[:-1].split(":", 1)[1])
        # urllib (redis-py, kombu, requests): authority ends at "/", "?" or "#", user info at the last "@"
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        if "@" in authority:
            userinfo = authority.rpartition("@")[0]
            if ":" in userinfo:
                found.append(userinfo.split(":", 1)[1])
        # both decode the query's keys: ?%70assword= is ?password=
        query = rest.split("?", 1)[1] if "?" in rest else ""
        for key, value in parse_qsl(query.split("#", 1)[0], keep_blank_values=True):
            if key.strip().lower() in ("password", "pass", "passwd", "pwd"):
                found.append(value)
    # keyword/value pairs anywhere (libpq's own form, or a password written in some other option string)
    for pm in re.finditer(r"(?i)(?:^|[\s?&;])password\s*=\s*('(?:[^'\\]|\\.)*'?|[^\s&]*)", text):
        value = pm.group(1)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:].removesuffix("'"))
        found.append(value)
    return found


def passwords(text: str) -> list[str]:
    """Every password the string carries under any library's reading (raw and decoded), unique, in order."""
    found: list[str] = []
    pg = _libpq(text) if kind(text) == "postgres" else None
    if pg and pg.get("password"):
        found.append(pg["password"])
    rd = _redis(text) if kind(text) == "redis" else None
    if rd and rd.get("password"):
        found.append(str(rd["password"]))
    for raw in _lenient(text):
        found.extend((raw, unquote(raw), unquote_plus(raw)))
    return list(dict.fromkeys(p for p in found if p))


def database(text: str) -> str:
    """Server, database and user a PostgreSQL string names (no password): what a connection reaches."""
    pg = _libpq(text) or {}
    return " ".join(f"{k}={pg.get(k, '')}" for k in ("host", "hostaddr", "port", "dbname", "user"))


def target(text: str) -> str:
    """``host:port`` (or a socket path) of the first server the string names; never a credential."""
    k = kind(text)
    if k == "postgres":
        pg = _libpq(text)
        if pg is None:
            return "the database"
        host = (pg.get("hostaddr") or pg.get("host") or "local socket").split(",")[0]
        port = (pg.get("port") or "5432").split(",")[0]
        return f"{host}:{port}" if not host.startswith("/") else f"{host}/.s.PGSQL.{port}"
    if k == "redis":
        rd = _redis(text)
        if rd is None:
            return "the broker"
        if rd.get("path"):
            return str(rd["path"])
        return f"{rd.get('host') or 'localhost'}:{rd.get('port') or 6379}"
    try:
        parts = urlsplit(text.strip())
        default = {"https": 443, "http": 80}.get(parts.scheme, 0)
        host = parts.hostname or ""
        return f"{host}:{parts.port or default}" if host else "the server"
    except ValueError:
        return "the server"


# libpq's parse errors, by their fixed prefix: the rest of such a message quotes the offending text,
# which may be a piece of the password, so only the category is ever shown
_LIBPQ_ERRORS = (
    ("invalid percent-encoded token", "invalid %-escape (write a literal % as %25)"),
    ('missing "="', "a word without '=value' (quote a value holding spaces: password='a b')"),
    ("unterminated quoted string", "an unterminated quoted string"),
    ("invalid connection option", "an unknown connection option"),
    ("invalid URI query parameter", "an unknown URI query parameter"),
    ("unexpected spaces found", "unexpected spaces (write them as %20)"),
    ("forbidden value %00", "%00 in a value"),
    ("end of string reached when looking for matching", "an unterminated [IPv6] address"),
    ("unexpected character", "an unexpected character"),
    ("invalid integer value", "an invalid number (port, timeout)"),
    ("invalid URI", "an invalid URI"),
)


def parse_error(text: str) -> str | None:
    """None if the library that will use ``text`` accepts it, else a secret-free reason."""
    k = kind(text)
    if k == "postgres":
        try:
            from psycopg.conninfo import conninfo_to_dict

            conninfo_to_dict(text)
        except Exception as exc:
            message = str(exc)
            for prefix, reason in _LIBPQ_ERRORS:
                if message.startswith(prefix) or f" {prefix}" in message:
                    return f"not a valid PostgreSQL connection string: {reason}"
            return "not a valid PostgreSQL connection string"
        return None
    if k == "redis":
        if _redis(text) is None:
            return "not a valid Redis URL (redis://, rediss:// or unix://, a numeric port, %-escaped user information)"
        return None
    return None
