"""Alertmanager configuration: amtool 0.25 accepts it, routes reach the intended receivers, secrets stay out."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from lookout.monitoring.catalog import routing
from tests.support.catalog import c

ROOT = Path(__file__).resolve().parents[1]
AM = ROOT / "alertmanager"
AMTOOL = shutil.which("amtool")
pytestmark = pytest.mark.skipif(not AMTOOL, reason="amtool missing: scripts/install-deps installs it")


def _cfg() -> dict:
    return yaml.safe_load((AM / "alertmanager.yml").read_text())


def test_amtool_check_config():
    r = subprocess.run([AMTOOL, "check-config", "alertmanager.yml"], cwd=AM, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 templates" in r.stdout and "SUCCESS" in r.stdout


def test_route_cases():
    cases = yaml.safe_load((AM / "tests/routes.yml").read_text())["cases"]
    sev = {(x["labels"].get("alertname"), x["labels"].get("severity")): x["receiver"] for x in cases}
    assert sev[("Watchdog", "info")] == "heartbeat"
    assert sev[("AnyAlert", "critical")] == "page"
    assert sev[("AnyAlert", "warning")] == "ticket"
    assert sev[("AnyAlert", "info")] == "blackhole"

    def run(case: dict) -> tuple[dict, subprocess.CompletedProcess[str]]:
        labels = [f"{k}={v}" for k, v in case["labels"].items()]
        return case, subprocess.run(
            [AMTOOL, "config", "routes", "test", "--config.file=alertmanager.yml",
             f"--verify.receivers={case['receiver']}", *labels],
            cwd=AM, capture_output=True, text=True, timeout=60)

    with ThreadPoolExecutor(max_workers=2) as pool:
        bad = [(case, r.stdout + r.stderr) for case, r in pool.map(run, cases) if r.returncode != 0]
    assert not bad, bad


def test_route_cases_cover_every_alert():
    cases = yaml.safe_load((AM / "tests/routes.yml").read_text())["cases"]
    routed = {x["labels"]["alertname"]: x["receiver"] for x in cases}
    for a in c.alerts:
        expected = c.receiver(a)
        assert routed[a.name] == expected, a.name


def test_receivers_grouping_inhibition_and_secrets():
    cfg = _cfg()
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert set(receivers) == {"page", "ticket", "heartbeat", "blackhole"}
    page = receivers["page"]
    assert page["pagerduty_configs"][0]["routing_key_file"].startswith("/")
    assert "routing_key" not in page["pagerduty_configs"][0] and "service_key" not in page["pagerduty_configs"][0]
    assert page["webhook_configs"] and page["telegram_configs"]
    assert receivers["ticket"]["webhook_configs"] and receivers["ticket"]["telegram_configs"]
    assert receivers["heartbeat"]["webhook_configs"][0]["url"].endswith("/heartbeat")
    for tg in page["telegram_configs"] + receivers["ticket"]["telegram_configs"]:
        assert tg["bot_token"] == routing.TELEGRAM_BOT_TOKEN_PLACEHOLDER  # a placeholder, never a real token
    assert cfg["route"]["group_by"] == ["alertname", "platform", "service"]
    inhibit = cfg["inhibit_rules"]
    sources = {r["source_matchers"][0] for r in inhibit}
    assert {'alertname="HostDown"', 'alertname="WorkerPoolMasterDown"'} <= sources


def test_templates_carry_summary_runbook_and_dashboard():
    text = (AM / "templates/lookout.tmpl").read_text()
    for needle in (".Annotations.summary", ".Annotations.runbook_url", ".Annotations.dashboard_url"):
        assert needle in text


def test_templates_render_an_alert(tmp_path):
    import html
    import json

    from lookout.monitoring.generate import annotations, dashboards_json, panel_index

    alert = c.alerts_by_name["McpServerDown"]
    ann = annotations(c, alert, panel_index(c, dashboards_json(c)))
    labels = {"alertname": alert.name, "service": "mcp-server", "severity": alert.severity}
    data = {
        "receiver": "page", "status": "firing", "externalURL": "http://alertmanager-1:9093",
        "alerts": [{"status": "firing", "labels": labels, "annotations": ann, "startsAt": "2026-01-01T00:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "1"}],
        "groupLabels": {"alertname": alert.name}, "commonLabels": labels, "commonAnnotations": ann,
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    out = {}
    for name in ("lookout.title", "lookout.text", "lookout.telegram"):
        r = subprocess.run(
            [AMTOOL, "template", "render", "--template.glob=templates/*.tmpl", f"--template.data={tmp_path}/data.json",
             f'--template.text={{{{ template "{name}" . }}}}'],
            cwd=AM, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        out[name] = r.stdout
    assert out["lookout.title"].startswith("[FIRING:1] critical McpServerDown (mcp-server)")
    for name in ("lookout.text", "lookout.telegram"):
        esc = html.escape if name == "lookout.telegram" else str
        assert all(esc(ann[k]) in out[name] for k in ("summary", "runbook_url", "dashboard_url")), name
