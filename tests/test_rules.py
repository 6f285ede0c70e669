"""Prometheus rules and scrape config: promtool lint, unit tests, and the mixtool-style alert rules."""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from lookout.demo.fault_alerts import FAULT_ALERTS
from lookout.monitoring.catalog.scrape import watched_jobs
from tests.support.catalog import c

ROOT = Path(__file__).resolve().parents[1]
PROM = ROOT / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM / "tests").glob("*.yml"))
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(not PROMTOOL, reason="promtool missing: scripts/install-deps installs it")


def _groups() -> list[dict]:
    return [g for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"]]


def _alerts() -> list[dict]:
    return [r for g in _groups() for r in g["rules"] if "alert" in r]


def test_promtool_check_rules_lint_fatal():
    r = subprocess.run([PROMTOOL, "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_check_config():
    r = subprocess.run([PROMTOOL, "check", "config", "prometheus.yml"], cwd=PROM, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(RULE_FILES)} rule files found" in r.stdout + r.stderr


def test_promtool_unit_tests_pass():
    def run(f: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
        return f, subprocess.run([PROMTOOL, "test", "rules", f.name], cwd=f.parent, capture_output=True, text=True,
                                 timeout=120)

    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [(f.name, r.stdout + r.stderr) for f, r in pool.map(run, TEST_FILES) if r.returncode != 0]
    assert not failed, "\n".join(f"{name}:\n{out}" for name, out in failed)


def test_scrape_config_uses_the_contract_hostnames_and_jobs():
    cfg = yaml.safe_load((PROM / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    targets = {j: [t for sc in cfg.get("static_configs", []) for t in sc["targets"]] for j, cfg in jobs.items()}
    assert targets["lookout"] == ["exporters:9808"]
    assert targets["node"] == ["node-exporter:9100"]
    assert targets["postgres"] == ["postgres-exporter:9187"]
    assert targets["redis"] == ["redis-exporter:9121"]
    assert targets["nginx"] == ["nginx-log-exporter:4040"]
    assert targets["chatcenter_api"] == ["demo-chat:8001"] and jobs["chatcenter_api"]["metrics_path"] == "/api/metrics"
    assert set(targets["blackbox_http"]) == {"http://demo-voice:5002/health", "http://demo-voice:5556/health",
                                             "http://demo-chat:8001/api/health"}
    assert "blackbox_tls" not in jobs  # the demo serves no HTTPS: no TLS target, no empty job
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager-1:9093",
                                                                                   "alertmanager-2:9093"]
    for job in jobs.values():
        for sc in job["static_configs"]:
            assert sc["labels"]["platform"] in {"voice", "chatcenter", "shared"}, job["job_name"]
    assert set(watched_jobs(c.ctx)) <= set(jobs)


def test_at_most_20_rules_per_group_and_unique_names():
    groups = _groups()
    names = [g["name"] for g in groups]
    assert len(names) == len(set(names))
    for g in groups:
        assert len(g["rules"]) <= 20, g["name"]
    alerts = [a["alert"] for a in _alerts()]
    assert len(alerts) == len(set(alerts))


def test_alerts_follow_the_mixin_rules():
    runbooks = (ROOT / "docs/runbooks.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in
               re.findall(r"^#+ (.+)$", runbooks, re.M)}
    boards = {p.stem for p in (ROOT / "dashboards/json").glob("*.json")}
    import json

    panel_ids = {(d, p["id"]) for d in boards for p in
                 json.loads((ROOT / f"dashboards/json/{d}.json").read_text())["panels"]}
    for a in _alerts():
        name, ann, labels = a["alert"], a["annotations"], a["labels"]
        assert re.fullmatch(r"[A-Z][a-zA-Z0-9]*", name) and len(name) <= 40, name
        assert labels["severity"] in {"critical", "warning", "info"}, name
        summary = ann["summary"]
        assert "{{" not in summary and summary.endswith(".") and summary.count(". ") == 0, name
        assert "{{" in ann["description"], f"{name}: description must be templated"
        url = urlparse(ann["runbook_url"])
        assert url.fragment in anchors, f"{name}: runbook anchor #{url.fragment} missing in docs/runbooks.md"
        d = urlparse(ann["dashboard_url"])
        assert ann["dashboard_url"].startswith(c.site.alerting.grafana_url + "/d/"), name
        uid = d.path.split("/")[2]
        panel = int(re.fullmatch(r"viewPanel=(\d+)(&var-[a-z_]+=\{\{ \$labels\.[a-z_]+ \| urlquery \}\})*",
                                 d.query).group(1))
        assert (uid, panel) in panel_ids, f"{name}: dashboard_url points at no panel"


def test_every_alert_has_a_firing_and_a_silent_case():
    fire, silent, exprs = set(), set(), set()
    for f in TEST_FILES:
        for t in yaml.safe_load(f.read_text())["tests"]:
            for at in t.get("alert_rule_test", []):
                (fire if at["exp_alerts"] else silent).add(at["alertname"])
            for pe in t.get("promql_expr_test", []):
                exprs.add(pe["expr"])
    alerts = {a["alert"] for a in _alerts()}
    assert alerts - fire == set()
    assert alerts - silent == {"Watchdog"}  # always fires: no silent case can exist
    records = {(r["record"], tuple(sorted(r.get("labels", {}).items()))) for g in _groups() for r in g["rules"]
               if "record" in r}
    for record, labels in records:
        assert any(record in e and all(f'{k}="{v}"' in e for k, v in labels) for e in exprs), \
            f"recording rule {record} {dict(labels)} has no promql_expr_test"


def test_fault_driven_alerts_wait_at_most_5_minutes():
    by_name = {a.name: a for a in c.alerts}
    for exp in FAULT_ALERTS.values():
        for_ = by_name[exp.alert].for_
        assert int(for_.rstrip("m")) <= 5, (exp.alert, for_)


def test_rules_read_recordings_of_their_own_group_only():
    """Groups run concurrently: a rule reading another group's recording sees it one interval late."""
    owner = {}
    for g in _groups():
        for r in g["rules"]:
            if "record" in r:
                owner.setdefault(r["record"], set()).add(g["name"])
    for g in _groups():
        for r in g["rules"]:
            for name in re.findall(r"[a-z_]+:[a-z0-9_:]+", r["expr"]):
                if name in owner:
                    who = r.get("alert") or r.get("record")
                    assert g["name"] in owner[name], f"{who} reads {name} of {owner[name]}"
