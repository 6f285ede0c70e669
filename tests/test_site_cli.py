"""The `lookout` command: check (exit 2 and one line on a bad file), probe (real targets), generate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOOKOUT = Path(sys.executable).with_name("lookout")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LOOKOUT), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


def test_console_script_checks_every_example():
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        if path.name == "config.yaml":
            continue
        r = run("check", "--site", str(path))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().endswith(")") and r.stderr == ""


def test_bad_site_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "site.yaml"
    bad.write_text((ROOT / "examples" / "chat-center.yaml").read_text()
                   .replace("    workers: 2\n    health_url", "    wokers: 2\n    health_url"))
    r = run("check", "--site", str(bad))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"lookout: {bad}: services[0].wokers: unknown key (known keys: ")

    bad.write_text((ROOT / "examples" / "chat-center.yaml").read_text()
                   .replace("dsn: ${CHATCENTER_DATABASE_URL}", "dsn: postgresql://ro:s3cr3t-pw@127.0.0.1/chat"))
    r = run("generate", "--site", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "s3cr3t-pw" not in r.stderr + r.stdout
    assert r.stderr == (f"lookout: {bad}: databases[0].dsn: password given as a literal in the file; "
                        "use ${VAR} or dsn_file\n")
    assert not (tmp_path / "out").exists()

    r = run("check", "--site", str(tmp_path / "missing.yaml"))
    assert (r.returncode, r.stderr) == (2, f"lookout: {tmp_path / 'missing.yaml'}: cannot read the site file: "
                                           "No such file or directory\n")
    bad.write_text("name: [unclosed\n")
    r = run("check", "--site", str(bad))
    assert r.returncode == 2 and r.stderr.startswith(f"lookout: {bad}: invalid YAML at line 2")


def test_python_module_entry_works_too():
    r = subprocess.run([sys.executable, "-m", "lookout.monitoring.cli", "check", "--site", "examples/demo.yaml"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def health_server():
    from lookout.stack.httpd import LocalServer, QuietHandler

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            code = 200 if self.path in ("/health", "/metrics") else 503
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"ok\n")

    with LocalServer(Handler) as srv:
        yield srv.port


def test_probe_tries_every_target_and_prints_no_secret(pg, redis_srv, health_server, tmp_path):
    from tests.support.servers import free_port

    closed = free_port()
    key = tmp_path / "deepseek_api_key"
    key.write_text("sk-probe-secret-0001\n")
    key.chmod(0o600)
    site = tmp_path / "site.yaml"
    site.write_text(f"""
name: probe
hosts:
  - name: app-1
    address: 127.0.0.1
    exporters: {{node: "127.0.0.1:{health_server}", lookout: "127.0.0.1:{closed}", postgres: "127.0.0.1:{closed}",
                redis: "127.0.0.1:{closed}"}}
services:
  - name: api
    host: app-1
    kind: gunicorn
    platform: shop
    port: {health_server}
    health_url: http://127.0.0.1:{health_server}/health
    metrics: {{path: /metrics}}
  - name: down
    host: app-1
    kind: http
    platform: shop
    health_url: http://127.0.0.1:{health_server}/broken
    tls_host: 127.0.0.1:{closed}
databases:
  - {{name: shop, host: app-1, platform: shop, dsn: "${{PROBE_DSN}}"}}
redis:
  - {{name: cache, host: app-1, url: "${{PROBE_REDIS}}"}}
providers:
  deepseek: {{api_key_file: {key}}}
alerting:
  receivers:
    page: {{pagerduty: {{routing_key_file: {tmp_path}/missing_key}}}}
    ticket: {{webhooks: [{{url: "http://127.0.0.1:{closed}/ticket"}}]}}
""")
    dsn = pg.dsn("postgres").replace("postgresql://postgres@", "postgresql://postgres:probe-pw-9@")
    r = run("check", "--site", str(site), "--probe", env={"PROBE_DSN": dsn, "PROBE_REDIS": redis_srv.url})
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "probe-pw-9" not in out and "sk-probe-secret" not in out
    rows = [line.split(maxsplit=3) for line in r.stdout.splitlines()[1:-1]]

    def result(target: str, check: str) -> str:
        return next(row[3] for row in rows if row[:2] == [target, check])

    assert result("hosts.app-1.node", "tcp") == "ok: connected"
    assert result("hosts.app-1.lookout", "tcp") == "FAIL: Connection refused"
    assert result("databases.shop", "postgres").startswith("ok: connected read-only, PostgreSQL ")
    assert "WARNING: a superuser" in result("databases.shop", "postgres")
    assert result("redis.cache", "redis") == "ok: PONG"
    api = [row[3] for row in rows if row[:2] == ["services.app-1/api", "http"]]
    assert api == ["ok: HTTP 200", "ok: HTTP 200"]  # health URL and metrics endpoint
    assert result("services.app-1/down", "http") == "FAIL: HTTP 503"
    assert result("services.app-1/down", "tls").startswith("FAIL: ")
    assert result("providers.deepseek", "file") == "ok: readable"
    assert result("alerting.receivers.page", "file") == "FAIL: No such file or directory"
    assert r.stdout.splitlines()[-1].endswith("targets answer")


def test_check_refuses_a_threshold_the_catalog_does_not_know(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text((ROOT / "examples" / "chat-center.yaml").read_text() + "thresholds: {disk_free_warnin: 0.2}\n")
    r = run("check", "--site", str(site))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"lookout: {site}: thresholds.disk_free_warnin: unknown threshold"), r.stderr
    site.write_text((ROOT / "examples" / "chat-center.yaml").read_text() + "thresholds: {disk_free_warning: 0.2}\n")
    assert run("check", "--site", str(site)).returncode == 0


def test_python_m_monitoring_generate_takes_a_site_too(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lookout.monitoring", "generate", "--site", "examples/chat-center.yaml",
                        "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "exporters.yaml").exists() and (tmp_path / "prometheus" / "prometheus.yml").exists()
