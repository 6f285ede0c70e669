"""``lookout check --probe``: try every target of a site from this machine and say what answers.

Reads: a ``Site``; the environment and the secret files it names (to connect), never printing them.
Publishes: ``probe(site) -> list[Result]`` (TCP connect to every exporter and service port, HTTP GET of
every health URL and metrics endpoint, TLS handshake of every public HTTPS host, a read-only connection
to every database, PING to every Redis, readability of every key, token and alerting secret file) and
``table(results)``. A failure says why in a few words; no DSN, URL password, key or token is printed.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lookout.exporters import secrets
from lookout.exporters.config import ConfigError, expand_env
from lookout.monitoring.site import Site
from lookout.monitoring.sitebind import FileRef

TIMEOUT = 3.0


@dataclass(frozen=True)
class Result:
    target: str  # where the site names it, e.g. `databases.voice`
    check: str  # tcp, http, tls, postgres, redis, file
    address: str  # host:port or URL without credentials
    ok: bool
    detail: str


def _hostport(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _tcp(address: str) -> str:
    host, port = _hostport(address)
    with socket.create_connection((host, port), timeout=TIMEOUT):
        return "connected"


def _tls(address: str) -> str:
    host, port = _hostport(address)
    ctx = ssl.create_default_context()
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock, \
            ctx.wrap_socket(sock, server_hostname=host) as tls:
        cert = tls.getpeercert() or {}
        days = (ssl.cert_time_to_seconds(str(cert.get("notAfter"))) - time.time()) / 86400
        return f"certificate valid, expires in {days:.0f} days"


def _http(url: str) -> str:
    import requests

    try:
        r = requests.get(url, timeout=TIMEOUT, allow_redirects=True)
    except requests.Timeout:
        raise RuntimeError(f"no answer within {TIMEOUT:g} s") from None
    except requests.exceptions.SSLError:
        raise RuntimeError("TLS error (certificate not trusted, expired or wrong name)") from None
    except requests.ConnectionError as exc:
        text = str(exc)
        why = "name not resolved" if "NameResolution" in text else \
            "connection refused" if "refused" in text else "cannot connect"
        raise RuntimeError(why) from None
    if not 200 <= r.status_code < 300:
        raise RuntimeError(f"HTTP {r.status_code}")
    return f"HTTP {r.status_code}"


def _secret_value(value: str) -> str:
    """The secret itself: from its file, or its ${VAR} expanded. Registered so that it is never shown."""
    if isinstance(value, FileRef):
        v = Path(expand_env(str(value), "file")).read_text().strip()
    else:
        v = expand_env(str(value), "value")
    secrets.register(v)
    return v


def _postgres(dsn: str) -> str:
    import psycopg

    with psycopg.connect(_secret_value(dsn), connect_timeout=int(TIMEOUT),
                         options="-c default_transaction_read_only=on") as conn:
        row = conn.execute("SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),"
                           " current_setting('server_version_num')").fetchone()
    assert row is not None
    user_is_super = bool(row[1])
    version = int(row[2]) // 10000
    note = "; WARNING: a superuser, use a read-only role" if user_is_super else ""
    return f"connected read-only, PostgreSQL {version}{note}"


def _redis(url: str) -> str:
    import redis

    client = redis.Redis.from_url(_secret_value(url), socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()
    return "PONG"


def _file(path: str) -> str:
    p = Path(expand_env(path, "file"))
    if not p.read_text().strip():
        raise RuntimeError("empty")
    return "readable"


def _public(text: str) -> str:
    """An address as it may be printed: no user or password."""
    if "://" in text:
        parts = urlsplit(text)
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"
    return text


def _address_of(ref: str) -> str:
    """host:port of a DSN or URL, for the table; files show as their path."""
    if isinstance(ref, FileRef):
        return f"file {ref}"
    try:
        return _public(expand_env(str(ref), "x"))
    except ConfigError:
        return "(variable not set)"


def _run(target: str, check: str, address: str, fn: Callable[[], str]) -> Result:
    try:
        return Result(target, check, address, True, fn())
    except Exception as exc:  # a probe never raises: the table says what failed
        text = getattr(exc, "strerror", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        return Result(target, check, address, False, secrets.redact(str(text))[:120])


def probe(site: Site) -> list[Result]:
    out: list[Result] = []
    for host in site.hosts:
        for name, addr in site.exporters_on(host).items():
            out.append(_run(f"hosts.{host.name}.{name}", "tcp", addr, lambda a=addr: _tcp(a)))
    for s in site.services:
        label = f"services.{s.host}/{s.name}"
        if s.port is not None:
            addr = f"{site.service_address(s)}:{s.port}"
            out.append(_run(label, "tcp", addr, lambda a=addr: _tcp(a)))
        if s.health_url:
            out.append(_run(label, "http", _public(s.health_url), lambda u=s.health_url: _http(u)))
        if s.metrics is not None:
            url = f"http://{site.service_address(s)}:{s.metrics_port}{s.metrics.path}"
            out.append(_run(label, "http", url, lambda u=url: _http(u)))
        if s.tls_host:
            out.append(_run(label, "tls", s.tls_host, lambda a=s.tls_host: _tls(a)))
    for db in site.databases:
        out.append(_run(f"databases.{db.name}", "postgres", _address_of(db.dsn), lambda d=db.dsn: _postgres(d)))
    for r in site.redis:
        out.append(_run(f"redis.{r.name}", "redis", _address_of(r.url), lambda u=r.url: _redis(u)))
    for name, p in site.providers.items():
        if isinstance(p.api_key, FileRef):
            out.append(_run(f"providers.{name}", "file", str(p.api_key), lambda f=p.api_key: _file(f)))
    for t in site.tokens:
        out.append(_run(f"tokens.{t.name}", "file", str(t.file), lambda f=t.file: _file(f)))
    rc = site.alerting.receivers
    for rname in ("page", "ticket", "heartbeat"):
        rcv = getattr(rc, rname)
        if rcv is None:
            continue
        files = [w.url for w in rcv.webhooks if isinstance(w.url, FileRef)]
        files += [x for x in (rcv.pagerduty and rcv.pagerduty.routing_key_file,
                              rcv.telegram and rcv.telegram.bot_token_file,
                              rcv.email and rcv.email.auth_password_file) if x]
        for f in files:
            out.append(_run(f"alerting.receivers.{rname}", "file", str(f), lambda f=f: _file(f)))
    return out


def table(results: list[Result]) -> str:
    rows = [("TARGET", "CHECK", "ADDRESS", "RESULT")]
    rows += [(r.target, r.check, r.address, ("ok: " if r.ok else "FAIL: ") + r.detail) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3] for row in rows]
    return "\n".join(lines) + "\n"
