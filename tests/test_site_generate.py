"""`lookout generate` on every example site, validated by the real tools: promtool check config / check rules /
test rules, amtool check-config and routes, the exporter's own check, and the dashboards' schema basics. Also:
the demo's generated files are the ones committed where compose reads them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from lookout.monitoring import build

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [p for p in sorted((ROOT / "examples").glob("*.yaml")) if p.name != "config.yaml"]
PROMTOOL = shutil.which("promtool") or "promtool"
AMTOOL = shutil.which("amtool") or "amtool"


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=180,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.stem)
def generated(request, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp(request.param.stem)
    r = _run([str(Path(sys.executable).with_name("lookout")), "generate", "--site", str(request.param),
              "--out", str(out)], ROOT)
    assert r.returncode == 0, r.stderr
    return out


def test_prometheus_config_and_rules_pass_promtool(generated: Path) -> None:
    prom = generated / "prometheus"
    r = _run([PROMTOOL, "check", "config", "prometheus.yml"], prom)
    assert r.returncode == 0, r.stdout + r.stderr
    rules = sorted((prom / "rules").glob("*.yml"))
    assert rules
    r = _run([PROMTOOL, "check", "rules", "--lint=all", "--lint-fatal", *map(str, rules)], prom)
    assert r.returncode == 0, r.stdout + r.stderr

    def test(f: Path) -> tuple[str, subprocess.CompletedProcess[str]]:
        return f.name, _run([PROMTOOL, "test", "rules", f.name], f.parent)

    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [(n, r.stdout + r.stderr) for n, r in pool.map(test, sorted((prom / "tests").glob("*.yml")))
                  if r.returncode != 0]
    assert not failed, failed


def test_alertmanager_config_passes_amtool_and_routes(generated: Path) -> None:
    am = generated / "alertmanager"
    r = _run([AMTOOL, "check-config", "alertmanager.yml"], am)
    assert r.returncode == 0, r.stdout + r.stderr
    cases = yaml.safe_load((am / "tests" / "routes.yml").read_text())["cases"]
    for case in cases[:6]:  # one per severity and the heartbeat; every alert's route: tests/test_alertmanager.py
        labels = [f"{k}={v}" for k, v in case["labels"].items()]
        r = _run([AMTOOL, "config", "routes", "test", "--config.file=alertmanager.yml",
                  f"--verify.receivers={case['receiver']}", *labels], am)
        assert r.returncode == 0, (case, r.stdout + r.stderr)


def test_exporter_configs_pass_the_exporters_check(generated: Path, tmp_path: Path) -> None:
    secrets = {"deepseek_api_key", "elevenlabs_api_key", "voice_dsn"}
    for name in secrets:
        (tmp_path / name).write_text("postgresql://ro@127.0.0.1/x\n" if name.endswith("dsn") else "k" * 24 + "\n")
        (tmp_path / name).chmod(0o600)  # secret files readable by their owner only
    env = {"VOICE_DATABASE_URL": "postgresql://ro@127.0.0.1/v", "CHATCENTER_DATABASE_URL": "postgresql://ro@127.0.0.1/c",
           "REDIS_PASSWORD": "x", "DEEPSEEK_API_KEY_FILE": str(tmp_path / "deepseek_api_key"),
           "ELEVENLABS_API_KEY_FILE": str(tmp_path / "elevenlabs_api_key")}
    files = sorted(generated.glob("exporters*.yaml"))
    assert files
    for f in files:
        text = f.read_text().replace("/etc/lookout/secrets/", f"{tmp_path}/")
        (tmp_path / f.name).write_text(text)
        r = _run([sys.executable, "-m", "lookout.exporters", "check", "--config", str(tmp_path / f.name)], ROOT, env)
        assert r.returncode == 0, r.stdout + r.stderr


def test_dashboards_and_grafana_provisioning(generated: Path) -> None:
    boards = sorted((generated / "dashboards" / "json").glob("*.json"))
    assert boards
    for f in boards:
        d = json.loads(f.read_text())
        assert d["uid"] == f.stem and d["schemaVersion"] >= 36 and d["panels"]
    ds = yaml.safe_load((generated / "grafana/provisioning/datasources/lookout.yaml").read_text())
    uids = [x["uid"] for x in ds["datasources"]]
    # a site with a long-term store offers it too, as a second Prometheus-type datasource every board can pick
    assert uids in (["prometheus", "alertmanager"], ["prometheus", "long-term-store", "alertmanager"])
    env = (generated / "lookout.env").read_text()
    assert "PROMETHEUS_RETENTION_TIME=" in env and "PROMETHEUS_RETENTION_SIZE=" in env
    assert "\nPROMETHEUS_GOGC=" in env and "\nALERTMANAGER_GOGC=" in env


def test_generate_check_reports_a_stale_directory(generated: Path) -> None:
    site = next(p for p in EXAMPLES if p.stem == generated.name.rstrip("0123456789"))
    lookout = str(Path(sys.executable).with_name("lookout"))
    assert _run([lookout, "generate", "--site", str(site), "--out", str(generated), "--check"], ROOT).returncode == 0
    (generated / "exporters.yaml").write_text("edited by hand\n")
    r = _run([lookout, "generate", "--site", str(site), "--out", str(generated), "--check"], ROOT)
    assert r.returncode == 1 and "exporters.yaml" in r.stderr
    assert _run([lookout, "generate", "--site", str(site), "--out", str(generated)], ROOT).returncode == 0


def test_the_demos_generated_files_are_committed_where_compose_reads_them() -> None:
    bad = build.stale(build.demo_repo_files())
    assert not bad, f"stale (run `python -m lookout.monitoring generate`): {bad}"
