"""Hostile configurations: every one is refused with one line and exit 2, and the line carries no secret.

Covers docs/security.md: the literal-secret rule (defaults, suffixes, query-string and %-encoded passwords,
read as libpq and redis-py read them), secret files (world-readable, FIFO, device, directory, size,
non-UTF-8), durations (0, negative, NaN, infinite, absurd), duplicate keys, non-UTF-8 and deeply nested
YAML, multi-statement SQL overrides, and the redaction of every spelling of a secret.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest

from lookout.exporters import config, conninfo, secrets
from lookout.exporters.collectors._sql import statements
from tests.support.exporter import run_cli

KEY = "sk-sec-test-0123456789"


def one_line_error(r, *needles: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def load_text(tmp_path: Path, text: str | bytes) -> config.Config:
    p = tmp_path / "c.yaml"
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return config.load(p)


def refused(tmp_path: Path, text: str | bytes, *needles: str) -> str:
    with pytest.raises(config.ConfigError) as err:
        load_text(tmp_path, text)
    message = str(err.value)
    assert "\n" not in message
    for n in needles:
        assert n in message, message
    return message


# --- the literal-secret rule -------------------------------------------------------------------------------

@pytest.mark.parametrize(("section", "secret"), [
    ("deepseek:\n    api_key: '${LOOKOUT_SEC_UNSET:-sk-literal-123456}'", "sk-literal-123456"),
    ("deepseek:\n    api_key: 'sk-literal-123456${LOOKOUT_SEC_UNSET:-}'", "sk-literal-123456"),
    ("deepseek:\n    api_key: 'Bearer ${LOOKOUT_SEC_KEY}'", "Bearer"),
    ("credits:\n    dsn: 'postgresql://u@127.0.0.1/db?password=hunter2x'", "hunter2x"),
    ("credits:\n    dsn: 'postgresql://u@127.0.0.1/db?%70assword=hunter2x'", "hunter2x"),
    ("credits:\n    dsn: 'postgresql://u@127.0.0.1/db?%70%61ssword=hunter2x&sslmode=disable'", "hunter2x"),
    # libpq ends the user information at the first "@" and accepts "?" in it; urllib stops at "?"
    ("credits:\n    dsn: 'postgresql://u:hun?ter2x@127.0.0.1/db'", "hun?ter2x"),
    ("credits:\n    dsn: 'postgresql://u:${LOOKOUT_SEC_KEY}x2hunter@127.0.0.1/db'", "x2hunter"),
    ("credits:\n    dsn: \"host=127.0.0.1 password='hunter 2x' dbname=db\"", "hunter 2x"),
    ("credits:\n    dsn: '${LOOKOUT_SEC_UNSET:-postgresql://u:hunter2x@h/db}'", "hunter2x"),
    ("celery:\n    broker_url: 'redis://127.0.0.1:6379/0?password=hunter2x'", "hunter2x"),
    ("celery:\n    broker_url: 'redis://127.0.0.1:6379/0?%70assword=hunter2x'", "hunter2x"),
    ("celery:\n    broker_url: 'redis://:hunter2x@127.0.0.1:6379/0'", "hunter2x"),
    # a variable that holds the start of the URL does not make the literal password after it secret
    ("celery:\n    broker_url: '${LOOKOUT_SEC_HEAD}:hunter2x@127.0.0.1:6379/0'", "hunter2x"),
], ids=["default", "suffix", "prefix", "query", "pct-key", "pct-key-2", "libpq-userinfo-?", "var-plus-literal",
        "keyword-quoted", "dsn-default", "redis-query", "redis-pct-key", "redis-userinfo", "var-holds-head"])
def test_literal_secrets_refused(tmp_path, monkeypatch, section, secret):
    monkeypatch.setenv("LOOKOUT_SEC_KEY", KEY)
    monkeypatch.setenv("LOOKOUT_SEC_HEAD", "redis://u")
    monkeypatch.delenv("LOOKOUT_SEC_UNSET", raising=False)
    message = refused(tmp_path, f"collectors:\n  {section}\n", "given as a literal in the file", "use ${VAR} or ")
    assert secret not in message


def test_secrets_from_variables_load(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_SEC_KEY", KEY)
    monkeypatch.setenv("LOOKOUT_SEC_PW", "p@ss/w?rd é")
    monkeypatch.setenv("LOOKOUT_SEC_PWQ", quote("p@ss/w?rd é", safe=""))
    monkeypatch.setenv("LOOKOUT_SEC_KWDSN", "host=127.0.0.1 port=5 password='it\\'s a \"pw\"' dbname=db")
    monkeypatch.setenv("LOOKOUT_SEC_DSN", f"postgresql://u:{quote('p@ss/w?rd é', safe='')}@127.0.0.1:5/db")
    cfg = load_text(tmp_path, """collectors:
  deepseek: {api_key: '${LOOKOUT_SEC_KEY}'}
  credits: {dsn: '${LOOKOUT_SEC_DSN}'}
  sla: {dsn: 'postgresql://u@127.0.0.1:5/db?password=${LOOKOUT_SEC_PWQ}'}
  capacity: {dsn: "host=127.0.0.1 port=5 user=u password='${LOOKOUT_SEC_PW}' dbname=db"}
  celery: {broker_url: 'redis://:${LOOKOUT_SEC_KEY}@127.0.0.1:6379/0'}
  llm_spend: {dsn: '${LOOKOUT_SEC_KWDSN}'}
""")
    assert cfg.collectors["deepseek"].api_key == KEY
    assert conninfo.target(cfg.collectors["credits"].dsn) == "127.0.0.1:5"


@pytest.mark.parametrize(("dsn", "reason"), [
    ("postgresql://u:pw%ZZhunter2x@127.0.0.1/db", "invalid %-escape"),
    ("host=127.0.0.1 password=hunter 2x", "a word without '=value'"),
    ("host=127.0.0.1 password='hunter2x", "unterminated quoted string"),
])
def test_invalid_dsn_from_a_variable_is_one_line_without_libpq_text(tmp_path, dsn, reason):
    p = tmp_path / "c.yaml"
    p.write_text("collectors:\n  credits:\n    dsn: ${LOOKOUT_SEC_DSN}\n")
    line = one_line_error(run_cli("check", "--config", str(p), env={"LOOKOUT_SEC_DSN": dsn}), reason)
    assert "hunter" not in line


def test_invalid_redis_url_never_quotes_the_password(tmp_path):
    # redis-py (urllib) reads "p/ss" as the port here and says "Port could not be cast to integer value as 'p'"
    p = tmp_path / "c.yaml"
    p.write_text("collectors:\n  celery:\n    broker_url: ${LOOKOUT_SEC_URL}\n")
    for url in ("redis://:hunter/2x@127.0.0.1:6379/0", "redis://:hunter?2x@127.0.0.1:6379/0"):
        line = one_line_error(run_cli("check", "--config", str(p), env={"LOOKOUT_SEC_URL": url}),
                              "not a valid Redis URL")
        assert "hunter" not in line and "2x" not in line


# --- secret files --------------------------------------------------------------------------------------------

def _file_config(tmp_path: Path, file: str) -> str:
    return f"collectors:\n  deepseek:\n    api_key_file: {file}\n"


def test_secret_file_rules(tmp_path):
    good = tmp_path / "good"
    good.write_text(KEY + "\n")
    good.chmod(0o600)
    assert load_text(tmp_path, _file_config(tmp_path, str(good))).collectors["deepseek"].api_key == KEY
    good.chmod(0o640)  # group-readable is the usual "secret shared with the service's group"
    assert load_text(tmp_path, _file_config(tmp_path, str(good))).collectors["deepseek"].api_key == KEY

    world = tmp_path / "world"
    world.write_text(KEY)
    world.chmod(0o644)
    assert KEY not in refused(tmp_path, _file_config(tmp_path, str(world)), "readable by every user", str(world))

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    refused(tmp_path, _file_config(tmp_path, str(fifo)), "is a FIFO, not a regular file")
    refused(tmp_path, _file_config(tmp_path, "/dev/zero"), "is a device, not a regular file")
    refused(tmp_path, _file_config(tmp_path, str(tmp_path)), "is a directory, not a regular file")

    big = tmp_path / "big"
    big.write_text("x" * (config.SECRET_FILE_MAX + 1))
    big.chmod(0o600)
    refused(tmp_path, _file_config(tmp_path, str(big)), f"larger than {config.SECRET_FILE_MAX} bytes")

    latin = tmp_path / "latin"
    latin.write_bytes(b"p\xe4ssword")
    latin.chmod(0o600)
    refused(tmp_path, _file_config(tmp_path, str(latin)), "is not UTF-8 text")


def test_fifo_and_dev_zero_as_secret_file_exit_2_at_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    for file in (str(fifo), "/dev/zero"):
        p = tmp_path / "c.yaml"
        p.write_text(_file_config(tmp_path, file))
        one_line_error(run_cli("check", "--config", str(p), timeout=20), "not a regular file")


# --- durations -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "0s", "-5s", "-1", ".nan", ".inf", "-.inf", "1e400",
                                   "99999999999999999999d", "400d", "10ms", "2d", "100000000000000000000"])
def test_bad_intervals_refused(tmp_path, monkeypatch, value):
    monkeypatch.setenv("LOOKOUT_SEC_KEY", KEY)
    refused(tmp_path, f"collectors:\n  deepseek:\n    api_key: ${{LOOKOUT_SEC_KEY}}\n    interval: {value}\n",
            "collectors.deepseek.interval")


@pytest.mark.parametrize(("key", "value"), [
    ("timeout", "0"), ("timeout", ".inf"), ("timeout", "2d"), ("read_timeout", "0s"), ("connect_timeout", ".nan"),
    ("retry_after_cap", "-1"), ("retry_after_cap", "99999999999999999999d"),
])
def test_bad_timeouts_refused(tmp_path, monkeypatch, key, value):
    monkeypatch.setenv("LOOKOUT_SEC_KEY", KEY)
    refused(tmp_path, f"collectors:\n  deepseek:\n    api_key: ${{LOOKOUT_SEC_KEY}}\n    {key}: {value}\n",
            f"collectors.deepseek.{key}")


def test_durations_in_lists_and_maps_and_floats(tmp_path):
    refused(tmp_path, "collectors:\n  celery:\n    periodic_tasks: {beat: .inf}\n", "periodic_tasks.beat")
    refused(tmp_path, "collectors:\n  celery:\n    periodic_tasks: {beat: 0}\n", "periodic_tasks.beat")
    refused(tmp_path, "collectors:\n  celery:\n    heartbeat_expire_factor: .nan\n", "heartbeat_expire_factor")
    refused(tmp_path, "collectors:\n  celery:\n    runtime_buckets: [1, .inf]\n", "runtime_buckets[1]")
    # 0 stays valid where it means "none"
    cfg = load_text(tmp_path, "collectors:\n  credits:\n    dsn: postgresql://u@h/db\n    charge_grace: 0\n")
    assert cfg.collectors["credits"].charge_grace == 0


# --- YAML ----------------------------------------------------------------------------------------------------

def test_duplicate_keys_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_SEC_KEY", KEY)
    refused(tmp_path, "collectors:\n  deepseek:\n    api_key: ${LOOKOUT_SEC_KEY}\n"
                      "  deepseek:\n    api_key: ${LOOKOUT_SEC_KEY}\n    interval: 1s\n",
            "duplicate key 'deepseek' (first at line 2)", "line 4")
    refused(tmp_path, "collectors:\n  deepseek:\n    api_key: ${LOOKOUT_SEC_KEY}\n    interval: 1m\n    interval: 5m\n",
            "duplicate key 'interval'")
    # a YAML merge key is not a duplicate
    cfg = load_text(tmp_path, "collectors:\n  deepseek:\n    <<: {api_key: '${LOOKOUT_SEC_KEY}', interval: 1m}\n"
                              "    interval: 2m\n")
    assert cfg.collectors["deepseek"].interval == 120


def test_unreadable_yaml_exit_2(tmp_path):
    bad = {
        "latin1.yaml": b"collectors:\n  deepseek:\n    provider: \xff\xfe\n",
        "deep.yaml": b"a: " + b"[" * 20000 + b"]" * 20000 + b"\n",
        "deep-map.yaml": b"a: " + b"{a: " * 20000 + b"1" + b"}" * 20000 + b"\n",
        "big.yaml": b"# " + b"x" * (config.CONFIG_MAX + 10) + b"\n",
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(config.ConfigError, match=name):
            config.load(tmp_path / name)
    # and as users run it: one line, exit 2
    one_line_error(run_cli("check", "--config", str(tmp_path / "deep.yaml")), "nested deeper than 50 levels")
    one_line_error(run_cli("check", "--config", "/dev/zero"), "/dev/zero")


def test_disabled_collector_needs_no_variable_or_file(tmp_path, monkeypatch):
    monkeypatch.delenv("LOOKOUT_SEC_UNSET", raising=False)
    cfg = load_text(tmp_path, "collectors:\n  deepseek:\n    enabled: false\n    api_key: ${LOOKOUT_SEC_UNSET}\n"
                              "  elevenlabs:\n    enabled: false\n    api_key_file: /nonexistent\n"
                              "  credits:\n    dsn: postgresql://u@h/db\n")
    assert list(cfg.collectors) == ["credits"]
    refused(tmp_path, "collectors:\n  deepseek:\n    enabled: false\n    colour: red\n"
                      "  credits:\n    dsn: postgresql://u@h/db\n", "collectors.deepseek.colour: unknown key")


# --- SQL overrides -------------------------------------------------------------------------------------------

def test_statement_counter():
    assert statements("SELECT 1") == 1
    assert statements("SELECT 1;\n-- done\n") == 1
    assert statements("SELECT ';', \"a;b\", $$;$$, $t$ ; $t$, E'\\'; x' /* ; /* ; */ ; */") == 1
    assert statements("SELECT 1; SELECT 2") == 2
    assert statements("COMMIT; SET statement_timeout = 0; CREATE TABLE x (a int)") == 3
    assert statements("SELECT 'a''b'; SELECT 2") == 2


def test_multi_statement_override_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_SEC_KEY", KEY)
    p = tmp_path / "c.yaml"
    p.write_text("collectors:\n  credits:\n    dsn: postgresql://u@127.0.0.1/db\n    queries:\n"
                 "      negative_balance: 'COMMIT; SET statement_timeout = 0; CREATE TABLE x (a int)'\n")
    one_line_error(run_cli("check", "--config", str(p)), "queries.negative_balance: 3 SQL statements")
    refused(tmp_path, "collectors:\n  elevenlabs:\n    api_key: ${LOOKOUT_SEC_KEY}\n    conversations:\n"
                      "      dsn: postgresql://u@127.0.0.1/db\n"
                      "      query: 'SELECT 1 WHERE %(ids)s IS NULL; DROP TABLE conversations'\n",
            "collectors.elevenlabs.conversations: query: 2 SQL statements")


# --- redaction -----------------------------------------------------------------------------------------------

def test_every_spelling_of_a_secret_is_redacted():
    pw = "Zq9'\"%41 @/?é-пароль"
    secrets.register(f"postgresql://u:{quote(pw, safe='')}@127.0.0.1:5432/db")
    spellings = [pw, quote(pw, safe=""), quote(pw), repr(pw)[1:-1], json.dumps(pw)[1:-1],
                 repr(pw.encode())[2:-1], pw.replace("'", "\\'")]
    for s in spellings:
        out = secrets.redact(f"error near {s} here")
        assert "Zq9" not in out and "пароль" not in out and "%D0%BF" not in out, (s, out)
    # a plain setting holding a URL with credentials is masked too (base_url: http://user:pw@host)
    cfg_pw = "Yb7@p/ss?"
    config.convert(f"http://user:{quote(cfg_pw, safe='')}@127.0.0.1:1/", str, "collectors.deepseek.base_url")
    assert "Yb7" not in secrets.redact(f"GET http://user:{quote(cfg_pw, safe='')}@127.0.0.1:1/x failed; {cfg_pw}")


def test_config_errors_stay_one_line(tmp_path):
    # found by the property test: a key holding a carriage return split the error over two lines
    message = refused(tmp_path, 'collectors:\n  "dee\\rpseek\\nx": {}\n', "collectors.dee\\rpseek\\nx")
    assert "\r" not in message


@pytest.mark.parametrize("key", ["prepared_statements", "connect_timeout", "statement_timeout"])
def test_a_huge_refused_value_keeps_the_line_bounded(tmp_path, key):
    message = refused(tmp_path, f"collectors:\n  capacity:\n    dsn: postgresql://u@127.0.0.1/x\n"
                                f"    {key}: {'a' * 100_000}\n", f"collectors.capacity.{key}: expected",
                      "(100,")
    assert len(message) < 1100, len(message)


def test_runtime_records_classified_redacted_errors():
    """The boundary: whatever a collector raises, ``last_error`` (/healthz, log, once) is classified or redacted."""
    import dataclasses

    import redis

    from lookout.exporters.collector import Collector
    from lookout.exporters.runtime import Runtime
    from tests.support.servers import free_port

    secret = "Wq5 p@ss/é-runtime"
    port = free_port()

    @dataclasses.dataclass
    class S(config.CollectorSettings):
        broker_url: str = ""

    class Leaky(Collector):
        name = "leaky"

        def refresh(self, snap):
            raise ValueError(f"bad value {secret!r}, {quote(secret)} and {json.dumps(secret)}")

    class Broker(Collector):
        name = "broker"

        def refresh(self, snap):
            redis.Redis.from_url(self.settings.broker_url, socket_connect_timeout=1).ping()

    url = f"redis://:{quote(secret, safe='')}@127.0.0.1:{port}/0"
    secrets.register(url)
    rt = Runtime([Leaky(S()), Broker(S(broker_url=url))])
    for r in rt.runners:
        assert r.refresh_once() is False
    health = rt.health()
    assert health["broker"]["last_error"] == f"127.0.0.1:{port}: connection refused"
    assert health["leaky"]["last_error"].startswith("ValueError: bad value ")
    assert "Wq5" not in health["leaky"]["last_error"], health
