"""The command line as users run it: ``check``, ``once`` and ``run`` in a subprocess, exit codes and stderr."""

from __future__ import annotations

import dataclasses
import signal
import typing

import pytest
import requests

from lookout.exporters import __version__, binding, config
from lookout.exporters.collectors import REGISTRY, collector_class
from lookout.exporters.config import Secret
from tests.support.exporter import exporter, run_cli, samples, value, write_config
from tests.support.servers import free_port

POOL = {"service": "voice-api", "server": "gunicorn", "match": "no-such-app-here:app"}
PASSWORD = "Hunter2-cli-secret"


def wp(**over) -> dict:
    return {"worker_pools": {"interval": "1s", "pools": [dict(POOL)], **over}}


def one_line_error(r, key: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert key in lines[0], lines[0]
    return lines[0]


def secret_collector() -> tuple[str, str] | None:
    """A collector with a top-level secret setting (its name and the key) and no other required key, if any."""
    found = []
    for name in REGISTRY:
        fields = dataclasses.fields(collector_class(name).Settings)
        hints = typing.get_type_hints(collector_class(name).Settings)
        required = {f.name for f in fields if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING}  # type: ignore[misc]
        for f in fields:
            if binding.is_optional(hints[f.name])[1] is Secret and required <= {f.name}:
                found.append((f.name != "dsn", name, f.name))
    return (min(found)[1], min(found)[2]) if found else None


def test_check_ok(tmp_path):
    r = run_cli("check", "--config", str(write_config(tmp_path / "c.yaml", wp())))
    assert r.returncode == 0, r.stderr
    assert "worker_pools" in r.stdout


def test_once_prints_exposition_and_exits_0(tmp_path):
    r = run_cli("once", "--config", str(write_config(tmp_path / "c.yaml", wp())))
    assert r.returncode == 0, r.stderr
    s = samples(r.stdout)
    assert value(s, "lookout_collector_up", collector="worker_pools") == 1
    assert value(s, "lookout_worker_pool_master_up", server="gunicorn", service="voice-api") == 0


def test_once_exits_1_when_a_collector_fails(tmp_path):
    r = run_cli("once", "--config", str(write_config(tmp_path / "c.yaml", wp(proc_root=str(tmp_path / "none")))))
    assert r.returncode == 1, r.stderr
    assert value(r.stdout, "lookout_collector_up", collector="worker_pools") == 0
    assert "Traceback" not in r.stderr and "worker_pools failed" in r.stderr


@pytest.mark.parametrize(
    ("collectors", "key"),
    [
        ({"worker_pools": {"pools": [{**POOL, "colour": "red"}]}}, "collectors.worker_pools.pools[0].colour"),
        ({"worker_pools": {"pools": [{**POOL, "expected_workers": "four"}]}},
         "collectors.worker_pools.pools[0].expected_workers"),
        ({"worker_pools": {"pools": [{**POOL, "server": "gunicron"}]}}, "collectors.worker_pools.pools[0].server"),
        ({"worker_pools": {"interval": "5 parsecs", "pools": [POOL]}}, "collectors.worker_pools.interval"),
        ({"worker_pools": {"pools": [POOL], "timeout": "-1s"}}, "collectors.worker_pools.timeout"),
        ({"worker_pools": {"pools": [{"server": "gunicorn"}]}}, "collectors.worker_pools.pools[0].service"),
        ({"worker_pools": {"pools": [{**POOL, "port": 70000}]}}, "collectors.worker_pools.pools[0]"),
        ({"worker_pools": {"pools": []}}, "collectors.worker_pools"),
        ({"worker_pools": {"pools": "gunicorn"}}, "collectors.worker_pools.pools"),
        ({"no_such_collector": {}}, "collectors.no_such_collector"),
        ({"worker_pools": {"pools": [{**POOL, "service": "${LOOKOUT_TEST_UNSET_VAR}"}]}},
         "collectors.worker_pools.pools[0].service"),
    ],
    ids=["unknown-key", "wrong-type", "bad-literal", "bad-duration", "negative-duration", "missing-key",
         "bad-port", "no-pools", "not-a-list", "unknown-collector", "missing-env-var"],
)
def test_bad_config_one_line_exit_2(tmp_path, collectors, key):
    path = write_config(tmp_path / "c.yaml", collectors)
    for command in ("check", "once", "run"):
        one_line_error(run_cli(command, "--config", str(path)), key)


def test_bad_top_level_and_yaml(tmp_path):
    one_line_error(run_cli("check", "--config", str(write_config(tmp_path / "a.yaml", wp(), colour=1))), "colour")
    (tmp_path / "b.yaml").write_text("collectors: [unclosed\n")
    one_line_error(run_cli("check", "--config", str(tmp_path / "b.yaml")), "b.yaml")
    one_line_error(run_cli("check", "--config", str(tmp_path / "missing.yaml")), "missing.yaml")
    path = write_config(tmp_path / "c.yaml", wp())
    one_line_error(run_cli("run", "--config", str(path), "--listen", "nowhere"), "listen")


def test_unreadable_secret_file(tmp_path):
    found = secret_collector()
    if found is None:
        pytest.skip("no collector with a secret setting is registered yet")
    name, key = found
    path = write_config(tmp_path / "c.yaml", {name: {f"{key}_file": str(tmp_path / "nope")}})
    one_line_error(run_cli("check", "--config", str(path)), f"collectors.{name}.{key}_file")


def test_passwords_never_in_stderr(tmp_path):
    # a value echoed back in a type error is a DSN: its password is masked
    path = write_config(tmp_path / "a.yaml", wp(interval=f"postgresql://app:{PASSWORD}@db:5432/x"))
    line = one_line_error(run_cli("check", "--config", str(path)), "collectors.worker_pools.interval")
    assert PASSWORD not in line
    found = secret_collector()
    if found is None:
        return
    name, key = found
    # a secret from the environment, then from a file, with an error elsewhere in the same section
    dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{free_port()}/x"
    path = write_config(tmp_path / "b.yaml", {name: {key: "${LOOKOUT_TEST_DSN}", "bogus_key": 1}})
    r = run_cli("check", "--config", str(path), env={"LOOKOUT_TEST_DSN": dsn})
    assert PASSWORD not in one_line_error(r, f"collectors.{name}.bogus_key")
    (tmp_path / "secret").write_text(dsn + "\n")
    (tmp_path / "secret").chmod(0o600)
    path = write_config(tmp_path / "c.yaml", {name: {f"{key}_file": str(tmp_path / "secret"), "interval": dsn}})
    assert PASSWORD not in one_line_error(run_cli("check", "--config", str(path)), f"collectors.{name}.interval")
    # a source that cannot be reached: the failure is logged without the password
    path = write_config(tmp_path / "d.yaml", {name: {f"{key}_file": str(tmp_path / "secret"), "timeout": "3s"}})
    r = run_cli("once", "--config", str(path), timeout=60)
    if r.returncode == 2:
        pytest.skip(f"{name} needs more settings than {key}: {r.stderr.strip()}")
    assert PASSWORD not in r.stderr and PASSWORD not in r.stdout


@pytest.mark.parametrize(
    ("collectors", "key"),
    [
        ({"deepseek": {"api_key": "sk-literal-1234567890"}}, "collectors.deepseek.api_key"),
        ({"tokens": {"tokens": [{"name": "wb", "value": "a.eyJleHAiOjF9.b"}]}}, "collectors.tokens.tokens[0].value"),
        ({"sla": {"dsn": f"postgresql://app:{PASSWORD}@db:5432/x"}}, "collectors.sla.dsn"),
        ({"sla": {"dsn": f"host=db user=app password={PASSWORD} dbname=x"}}, "collectors.sla.dsn"),
        ({"sla": {"dsn": f"${{LOOKOUT_TEST_UNSET_VAR:-postgresql://app:{PASSWORD}@db/x}}"}}, "collectors.sla.dsn"),
        ({"celery": {"broker_url": f"redis://:{PASSWORD}@db:6379/0"}}, "collectors.celery.broker_url"),
    ],
    ids=["api-key", "token", "dsn-url-password", "dsn-keyword-password", "password-in-default", "broker-password"],
)
def test_literal_secrets_are_config_errors(tmp_path, collectors, key):
    line = one_line_error(run_cli("check", "--config", str(write_config(tmp_path / "c.yaml", collectors))), key)
    assert "use ${VAR} or " in line and PASSWORD not in line and "sk-literal" not in line


def test_secrets_from_the_environment_and_passwordless_dsns_load(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_TEST_KEY", "sk-from-env-1234")
    path = write_config(tmp_path / "c.yaml", {
        "deepseek": {"api_key": "${LOOKOUT_TEST_KEY}"},
        "sla": {"dsn": "postgresql://lookout@127.0.0.1:5432/chatcenter"},  # peer/trust auth: no password
        "capacity": {"dsn": "postgresql://lookout:${LOOKOUT_TEST_KEY}@127.0.0.1:5432/chatcenter"},
        "celery": {"broker_url": "redis://127.0.0.1:6379/0"},
    })
    cfg = config.load(path)
    assert cfg.collectors["deepseek"].api_key == "sk-from-env-1234"
    assert cfg.collectors["capacity"].dsn.endswith("lookout:sk-from-env-1234@127.0.0.1:5432/chatcenter")


def test_default_listen_address(tmp_path):
    assert config.DEFAULT_LISTEN == "127.0.0.1:9808"
    assert config.load(write_config(tmp_path / "c.yaml", wp())).listen == "127.0.0.1:9808"
    assert "127.0.0.1:9808" in run_cli("run", "--help").stdout


def test_listen_override_and_sigterm_under_2s(tmp_path):
    configured = free_port()
    path = write_config(tmp_path / "c.yaml", wp(), listen=f"127.0.0.1:{configured}")
    with exporter(path) as exp:  # runs with --listen on another free port
        assert exp.port != configured
        text = exp.metrics()
        assert value(text, "lookout_exporter_build_info", version=__version__) == 1
        assert requests.get(exp.url + "/healthz", timeout=5).json()["status"] == "ok"
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{configured}/metrics", timeout=2)
        took = exp.stop(signal.SIGTERM)
        assert exp.proc.returncode == 0, exp.log()
        assert took < 2.0, f"SIGTERM took {took:.2f}s"
    assert "Traceback" not in exp.log()


def test_sigint_stops_too(tmp_path):
    with exporter(write_config(tmp_path / "c.yaml", wp())) as exp:
        took = exp.stop(signal.SIGINT)
        assert exp.proc.returncode == 0 and took < 2.0, (took, exp.log())


def test_example_config_checks_and_runs_once():
    r = run_cli("check", "--config", "examples/config.yaml")
    assert r.returncode == 0, r.stderr
    r = run_cli("once", "--config", "examples/config.yaml")
    assert r.returncode == 0, r.stderr
    assert value(r.stdout, "lookout_collector_up", collector="worker_pools") == 1
