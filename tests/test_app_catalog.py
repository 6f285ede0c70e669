"""The catalog side of exceptions and deploys: the deploy note every alert description ends with, rendered by
promtool against release series (the generated unit tests have none, so there it renders empty), the deploy
annotation on every board, and the site keys reaching the exporter configuration."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from lookout.monitoring.exporter_config import exporter_configs
from lookout.monitoring.generate import render
from lookout.monitoring.site import load_site
from lookout.monitoring.templating import render as render_template

ROOT = Path(__file__).resolve().parents[1]
X = 'job="lookout",instance="exporters:9808",host="vps-1"'


def test_notification_names_the_deploy_that_preceded_the_alert(tmp_path: Path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-deps"
    shutil.copy(ROOT / "prometheus" / "rules" / "app.yml", tmp_path / "app.yml")
    rules = yaml.safe_load((tmp_path / "app.yml").read_text())
    rule = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "AppImportError")
    labels = {"service": "voice-api", "exception": "ModuleNotFoundError"}
    ann = {k: render_template(v, labels, 3) for k, v in rule["annotations"].items()}  # as Prometheus renders them
    base = "voice-api raised 3 ModuleNotFoundError in 5 minutes."
    ann["description"] = base + " Started 2m 0s after deploy abc1234 of voice-api."
    case = {
        "rule_files": ["app.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": f'lookout_app_exceptions_total{{{X},service="voice-api",exception="ModuleNotFoundError"}}',
                 "values": "0 0 0 1 2 3 4 5 6 7 8"},
                # deployed at 180 s; another service deployed long before the alert (outside the window)
                {"series": f'lookout_app_release_timestamp_seconds{{{X},service="voice-api"}}', "values": "180x10"},
                {"series": f'lookout_app_release_info{{{X},service="voice-api",revision="abc1234"}}', "values": "1x10"},
                {"series": f'lookout_app_release_timestamp_seconds{{{X},service="chat-api"}}', "values": "-5000x10"},
                {"series": f'lookout_app_release_info{{{X},service="chat-api",revision="old0000"}}', "values": "1x10"},
            ],
            "alert_rule_test": [{"eval_time": "5m", "alertname": "AppImportError", "exp_alerts": [{
                "exp_labels": {"severity": "critical", "host": "vps-1", "service": "voice-api",
                               "exception": "ModuleNotFoundError"},
                "exp_annotations": ann}]}],
        }],
    }
    (tmp_path / "t.yml").write_text(yaml.safe_dump(case, sort_keys=False))
    r = subprocess.run([promtool, "test", "rules", "t.yml"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_board_shows_deploys_and_the_exporter_reads_the_site_keys():
    site = load_site(ROOT / "examples" / "demo.yaml")
    files = render(site)
    boards = [yaml.safe_load(t) for name, t in files.items() if name.startswith("dashboards/json/")]
    assert boards
    for b in boards:
        names = [a["name"] for a in b["annotations"]["list"]]
        assert "Deploys" in names, b["uid"]
    conf = exporter_configs(site)["exporters.yaml"]["collectors"]
    assert conf["app_exceptions"]["logs"] == [{"service": "voice-api", "path": "/srv/demo-voice/error.log"}]
    assert conf["releases"]["services"] == [{"service": "voice-api", "file": "/srv/demo-voice/REVISION"}]
