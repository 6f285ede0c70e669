"""Secrets never leave the process, against real PostgreSQL (password authentication) and Redis (ACL users).

Passwords hold ``%``, quotes, spaces, ``@``, ``/``, ``?`` and non-ASCII, given through ``${VAR}`` and
``*_file``; the exporter's log, ``/healthz``, ``/metrics`` and the ``check`` and ``once`` output are searched
for every distinctive piece of them. Errors are classified at the boundary: ``host:port: authentication
failed``, ``connection refused``, ``timed out``, ``TLS handshake failed``, ``invalid DSN``, ``HTTP status N``.
Also the SQL guardrails: an override can neither leave the read-only transaction nor lift the timeout.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import redis
import requests
from psycopg import sql
from redis.backoff import NoBackoff
from redis.retry import Retry

from lookout.exporters import source_errors
from lookout.exporters.collectors._pg import PgSettings, PgSource, QueryError
from lookout.exporters.config import Duration, Secret
from lookout.stack.httpd import LocalServer, QuietHandler
from tests.support.exporter import exporter, run_cli, value, write_config
from tests.support.pg_scenarios import make, refresh, schema
from tests.support.servers import free_port, redis_server

# every piece (4+ characters) is searched for in every output
GOOD_PW = "Gq7% 'Kx\"9@/?Wv-пароль"
BAD_PW = "Bz4%ZZ 'Lm\"2@/?Yt-密码密码"
REDIS_PW = "Rk8%41 'Jn\"5@/?Hs-ñandú"
HTTP_PW = "Hp3%2F@/?Qr 'Ux\"-kJq"
API_KEY = "sk-Ak6%Tt 'Vw9\"@/?-cle"  # HTTP headers are Latin-1: provider keys are ASCII
PIECES = ("Gq7%", "'Kx", "9@/?Wv", "пароль", "Bz4%", "%ZZ", "'Lm", "2@/?Yt", "密码", "Rk8%", "%41 ", "'Jn",
          "5@/?Hs", "ñandú", "Hp3%", "2F@/", "Qr '", "Ux\"-kJq", "Ak6%", "'Vw9", "@/?-cle",
          *(quote(pw, safe="")[:12] for pw in (GOOD_PW, BAD_PW, REDIS_PW, HTTP_PW)))


def assert_clean(where: str, text: str) -> None:
    found = [p for p in PIECES if p in text]
    assert not found, f"{where} shows {found}: {text[:2000]}"


def libpq_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.fixture(scope="module")
def pw_pg(pg) -> Iterator[dict[str, str]]:
    """Roles that must authenticate with a password (scram), on the session's server, and their databases."""
    hba = pg.datadir / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text("host all sec_good,sec_bad 127.0.0.1/32 scram-sha-256\n" + original)
    voice = pg.create_database("sec_voice", schema("voice"))
    chat = pg.create_database("sec_chat", schema("chatcenter"))
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        for role, pw in (("sec_good", GOOD_PW), ("sec_bad", "the-right-one-is-never-configured")):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(pw)))
            conn.execute(sql.SQL("GRANT pg_read_all_data TO {}").format(sql.Identifier(role)))
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.2)
    try:
        yield {"voice": voice.rsplit("/", 1)[1], "chat": chat.rsplit("/", 1)[1], "port": str(pg.port)}
    finally:
        hba.write_text(original)
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="module")
def acl_redis() -> Iterator[str]:
    with redis_server() as srv:
        r = redis.Redis(port=srv.port)
        r.execute_command("ACL", "SETUSER", "sec_user", "on", ">the-right-one-is-never-configured", "~*", "&*",
                          "+@all")
        r.close()
        yield str(srv.port)


def private(path: Path, text: str) -> str:
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


def test_no_secret_in_check_once_log_healthz_metrics(tmp_path, pw_pg, acl_redis):
    port, closed = pw_pg["port"], free_port()
    env = {
        # the right password, %-encoded in a URL: the collector is up (the parsing is right)
        "SEC_GOOD_DSN": f"postgresql://sec_good:{quote(GOOD_PW, safe='')}@127.0.0.1:{port}/{pw_pg['voice']}",
        # a wrong one in the query string, from a variable
        "SEC_BAD_PW": quote(BAD_PW, safe=""),
        "SEC_REDIS": f"redis://sec_user:{quote(REDIS_PW, safe='')}@127.0.0.1:{acl_redis}/0",
        "SEC_HTTP_PW": quote(HTTP_PW, safe=""),
    }
    # a password in a provider's base_url is refused (docs/security.md), in one line that does not show it
    bad = write_config(tmp_path / "bad.yaml", {
        "deepseek": {"api_key_file": private(tmp_path / "key0", API_KEY),
                     "base_url": f"http://lookout:${{SEC_HTTP_PW}}@127.0.0.1:{closed}"}})
    r = run_cli("check", "--config", str(bad), env=env)
    assert r.returncode == 2 and "base_url: must not contain a user or password" in r.stderr, r.stderr
    assert_clean("check", r.stdout + r.stderr)
    cfg = write_config(tmp_path / "c.yaml", {
        "credits": {"dsn": "${SEC_GOOD_DSN}", "interval": "300ms", "connect_timeout": "2s"},
        "sla": {"dsn_file": private(tmp_path / "sla_dsn", f"host=127.0.0.1 port={port} user=sec_bad "
                                    f"dbname={pw_pg['chat']} password={libpq_quote(BAD_PW)}"),
                "interval": "300ms", "connect_timeout": "2s"},
        "capacity": {"dsn": f"postgresql://sec_bad@127.0.0.1:{port}/{pw_pg['chat']}?password=${{SEC_BAD_PW}}",
                     "interval": "300ms", "connect_timeout": "2s"},
        "celery": {"broker_url": "${SEC_REDIS}", "interval": "300ms"},
        "deepseek": {"api_key_file": private(tmp_path / "key", API_KEY), "interval": "300ms",
                     "base_url": f"http://127.0.0.1:{closed}", "retries": 0},
    })
    r = run_cli("check", "--config", str(cfg), env=env)
    assert r.returncode == 0, r.stderr
    assert_clean("check", r.stdout + r.stderr)

    r = run_cli("once", "--config", str(cfg), env=env)
    assert r.returncode == 1, r.stderr
    assert_clean("once", r.stdout + r.stderr)
    assert value(r.stdout, "lookout_collector_up", collector="credits") == 1
    assert f"collector sla failed: sla: cannot connect to 127.0.0.1:{port}: authentication failed" in r.stderr
    assert f"collector capacity failed: capacity: cannot connect to 127.0.0.1:{port}: authentication failed" \
        in r.stderr
    assert f"collector celery failed: 127.0.0.1:{acl_redis}: authentication failed" in r.stderr
    assert "collector deepseek failed: " in r.stderr

    with exporter(cfg, env) as ex:
        ex.wait_for(lambda s: all((value(s, "lookout_collector_errors_total", collector=c) or 0) >= 2
                                  for c in ("sla", "capacity", "celery", "deepseek")), timeout=30)
        health = requests.get(ex.url + "/healthz", timeout=5).text
        metrics = ex.metrics()
        time.sleep(1.0)  # the celery event listener's reconnect warnings
        log = ex.log()
    assert_clean("/healthz", health)
    assert_clean("/metrics", metrics)
    assert_clean("log", log)
    errors = {name: c["last_error"] for name, c in json.loads(health)["collectors"].items()}
    assert errors["credits"] == ""
    assert errors["sla"] == f"sla: cannot connect to 127.0.0.1:{port}: authentication failed"
    assert errors["celery"] == f"127.0.0.1:{acl_redis}: authentication failed"
    assert f"127.0.0.1:{closed}" in errors["deepseek"], errors
    assert "Traceback" not in log


# --- classification -----------------------------------------------------------------------------------------

@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung server)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


@contextlib.contextmanager
def http_server(status: int) -> Iterator[int]:
    class H(QuietHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with LocalServer(H, poll_interval=0.05) as srv:
        yield srv.port


def _pg_error(dsn: str) -> str:
    settings = PgSettings(dsn=Secret(dsn), connect_timeout=Duration(1))
    with pytest.raises(QueryError) as err:
        PgSource("t", settings, {"q": "SELECT 1"}).run("q", params={})
    return str(err.value)


def test_postgres_failures_are_classified(pg, pw_pg):
    closed = free_port()
    assert _pg_error(f"postgresql://u@127.0.0.1:{closed}/db") == f"t: cannot connect to 127.0.0.1:{closed}: " \
                                                                 "connection refused"
    with silent_listener() as port:
        assert _pg_error(f"postgresql://u@127.0.0.1:{port}/db") == f"t: cannot connect to 127.0.0.1:{port}: timed out"
    assert _pg_error(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres?sslmode=require") == \
        f"t: cannot connect to 127.0.0.1:{pg.port}: TLS handshake failed"
    bad = f"postgresql://sec_bad:{quote(BAD_PW, safe='')}@127.0.0.1:{pg.port}/postgres"
    assert _pg_error(bad) == f"t: cannot connect to 127.0.0.1:{pg.port}: authentication failed"
    # a DSN libpq cannot parse (only reachable by bypassing the configuration's check)
    line = _pg_error(f"postgresql://u:{BAD_PW}@127.0.0.1:{pg.port}/db")
    assert line == "t: cannot connect to the database: invalid DSN"


NO_RETRY = Retry(NoBackoff(), 0)


def test_redis_and_http_failures_are_classified(redis_srv):
    closed = free_port()
    r = redis.Redis(port=redis_srv.port)
    r.set("sec:string", "v")
    with pytest.raises(redis.ResponseError) as err:
        r.lpush("sec:string", "x")
    r.close()
    assert source_errors.describe(err.value, "h:1") == \
        "h:1: the server refused the command: WRONGTYPE Operation against a key holding the wrong kind of value"
    with pytest.raises(redis.RedisError) as err:
        redis.Redis(port=closed, socket_connect_timeout=1, retry=NO_RETRY).ping()
    assert source_errors.describe(err.value, f"127.0.0.1:{closed}") == f"127.0.0.1:{closed}: connection refused"
    with silent_listener() as port, pytest.raises(redis.RedisError) as err:
        redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=0.5, retry=NO_RETRY).ping()
    assert source_errors.classify(err.value) == "timed out"
    with http_server(503) as port:
        resp = requests.get(f"http://127.0.0.1:{port}/", timeout=2)
        with pytest.raises(requests.HTTPError) as err:
            resp.raise_for_status()
        assert source_errors.classify(err.value) == "HTTP status 503"
        # https:// to a plain-HTTP server
        with pytest.raises(requests.RequestException) as err:
            requests.get(f"https://127.0.0.1:{port}/", timeout=2)
        assert source_errors.classify(err.value) == "TLS handshake failed"
    with pytest.raises(requests.RequestException) as err:
        requests.get(f"http://127.0.0.1:{closed}/", timeout=2)
    assert source_errors.classify(err.value) == "connection refused"
    assert source_errors.classify(socket.gaierror(-2, "Name or service not known")) == "DNS lookup failed"
    # anything else keeps its text, after redaction
    assert source_errors.describe(KeyError("balance_infos")) == "KeyError: 'balance_infos'"


# --- SQL guardrails -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def voice_dsn(pg) -> str:
    return pg.create_database("sec_sql", schema("voice"))


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_an_override_cannot_leave_the_read_only_transaction(voice_dsn):
    before = _tables(voice_dsn)
    # each a single statement (check accepts them): COMMIT, then a write that would run outside the transaction
    c = make("credits", voice_dsn, queries={"reconcile": "COMMIT", "negative_balance": "CREATE TABLE escaped (a int)"})
    with pytest.raises(QueryError, match=r"query credits.reconcile failed: it ended the read-only transaction"):
        refresh(c)
    c.stop()
    # several statements in one query (what check refuses) fail on the extended protocol at run time too
    settings = PgSettings(dsn=Secret(voice_dsn))
    source = PgSource("t", settings, {"q": "COMMIT; SET statement_timeout = 0; CREATE TABLE escaped2 (a int)"})
    with pytest.raises(QueryError, match="cannot insert multiple commands into a prepared statement"):
        source.run("q", params={})
    source.close()
    assert _tables(voice_dsn) == before


def test_an_override_cannot_lift_the_statement_timeout(voice_dsn):
    c = make("credits", voice_dsn, statement_timeout="300ms", queries={
        "reconcile": "SELECT set_config('statement_timeout', '0', false) AS lifted",
        "negative_balance": "SELECT pg_sleep(5) AS customers, 0 AS credits",
    })
    started = time.monotonic()
    with pytest.raises(QueryError, match="negative_balance failed: canceling statement due to statement timeout"):
        refresh(c)
    assert time.monotonic() - started < 4
    c.stop()
