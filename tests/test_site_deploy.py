"""The three ways of deploying read the files generated from one site file: compose (LOOKOUT_SITE_DIR),
systemd (/etc/lookout/generated) and the demo's committed files (compose's defaults)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from tests.test_compose import compose_binary

ROOT = Path(__file__).resolve().parents[1]


def _compose_config(env: dict[str, str]) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_", "LOOKOUT_"))}
    r = subprocess.run([str(compose_binary()), "config", "--format", "json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60, env={**base, "COMPOSE_DISABLE_ENV_FILE": "1", **env})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _mounts(cfg: dict, service: str) -> dict[str, str]:
    return {v["target"]: v["source"] for v in cfg["services"][service].get("volumes", []) if v["type"] == "bind"}


SITE_MOUNTS = {  # service -> container path -> path inside the generated directory
    "prometheus": {"/etc/prometheus": "prometheus"},
    "alertmanager-1": {"/etc/alertmanager/alertmanager.yml": "alertmanager/alertmanager.yml",
                       "/etc/alertmanager/templates": "alertmanager/templates"},
    "alertmanager-2": {"/etc/alertmanager/alertmanager.yml": "alertmanager/alertmanager.yml",
                       "/etc/alertmanager/templates": "alertmanager/templates"},
    "grafana": {"/etc/grafana/provisioning": "grafana/provisioning",
                "/var/lib/lookout-dashboards": "dashboards/json", "/usr/share/grafana/public/runbooks": "runbooks"},
    "exporters": {"/etc/lookout/exporters.yaml": "exporters.yaml"},
}
# the same container paths, unset: the demo's generated files where the repository keeps them
DEMO_MOUNTS = {"prometheus": "prometheus", "alertmanager/alertmanager.yml": "alertmanager/alertmanager.yml",
               "alertmanager/templates": "alertmanager/templates",
               "grafana/provisioning": "deploy/grafana/provisioning", "dashboards/json": "dashboards/json",
               "exporters.yaml": "deploy/compose/exporters.yaml", "runbooks": "runbooks"}


def test_one_switch_points_every_compose_service_at_the_generated_directory(tmp_path):
    gen = tmp_path / "generated"
    cfg = _compose_config({"LOOKOUT_SITE_DIR": str(gen), "COMPOSE_FILE": "compose.yaml:deploy/compose/real.yaml"})
    demo = _compose_config({})
    for service, wanted in SITE_MOUNTS.items():
        mounts, demo_mounts = _mounts(cfg, service), _mounts(demo, service)
        for target, rel in wanted.items():
            assert mounts[target] == str(gen / rel), (service, target)
            assert demo_mounts[target] == str(ROOT / DEMO_MOUNTS[rel]), (service, target)
    # nothing else of the monitoring side still reads a repository file that a site would generate
    generated_in_repo = [str(ROOT / p) for p in DEMO_MOUNTS.values()]
    for service in cfg["services"]:
        for target, source in _mounts(cfg, service).items():
            assert not source.startswith(tuple(generated_in_repo)), (service, target, source)


def test_compose_defaults_are_the_demo_sites_retention():
    from lookout.monitoring.site import load_site

    s = load_site(ROOT / "examples" / "demo.yaml")
    cmd = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["prometheus"]["command"]
    assert f"--storage.tsdb.retention.time=${{PROMETHEUS_RETENTION_TIME:-{s.retention.time}}}" in cmd
    assert f"--storage.tsdb.retention.size=${{PROMETHEUS_RETENTION_SIZE:-{s.retention.size}}}" in cmd
    # the links in notifications: the demo site's loopback URLs, what compose publishes
    assert f"--web.external-url=${{PROMETHEUS_EXTERNAL_URL:-{s.prometheus_external_url}}}" in cmd
    am = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["alertmanager-1"]
    assert f"--web.external-url=${{ALERTMANAGER_EXTERNAL_URL:-{s.alertmanager_external_url}}}" in am["command"]
    assert am["environment"]["TZ"] == f"${{LOOKOUT_TIMEZONE:-{s.alerting.timezone}}}"
    # the garbage collector's target (monitoring.gogc), on every Prometheus and Alertmanager
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    for name in ("prometheus", "prometheus-2"):
        assert services[name]["environment"]["GOGC"] == f"${{PROMETHEUS_GOGC:-{s.monitoring.gogc.prometheus}}}"
    for name in ("alertmanager-1", "alertmanager-2"):
        assert services[name]["environment"]["GOGC"] == f"${{ALERTMANAGER_GOGC:-{s.monitoring.gogc.alertmanager}}}"


def test_systemd_units_read_the_generated_directory():
    units = ROOT / "deploy" / "systemd"
    text = "\n".join(p.read_text() for p in units.rglob("*") if p.is_file())
    for path in ("/etc/lookout/generated/exporters.yaml", "/etc/lookout/generated/prometheus/prometheus.yml",
                 "/etc/lookout/generated/alertmanager/alertmanager.yml", "/etc/lookout/generated/lookout.env"):
        assert path in text
    # GOGC from the generated lookout.env, which both drop-ins read
    for unit, var in (("prometheus", "PROMETHEUS_GOGC"), ("prometheus-alertmanager", "ALERTMANAGER_GOGC")):
        dropin = (units / f"{unit}.service.d" / "lookout.conf").read_text()
        assert "EnvironmentFile=/etc/lookout/generated/lookout.env" in dropin
        assert f"ExecStart=/usr/bin/env GOGC=${{{var}}} /usr/bin/{unit} " in dropin
    install = (ROOT / "docs" / "install.md").read_text()
    assert "lookout generate --site /etc/lookout/lookout.yaml --out /etc/lookout/generated" in install
    assert "stack render" not in install.split("## Bare VPS under systemd")[1].split("## Native")[0]
