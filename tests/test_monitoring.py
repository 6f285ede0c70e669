"""The catalog and its generators: committed output, stability, thresholds written once, metric sources."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lookout.demo import site_facts
from lookout.demo.fault_alerts import FAULT_ALERTS
from lookout.monitoring import build
from lookout.monitoring.model import Alert, Expr, Threshold, above, at_least, at_most, below, promql
from lookout.monitoring.promql import metric_names
from lookout.monitoring.standard_metrics import names as standard_names
from lookout.monitoring.templating import humanize, humanize_duration, humanize_percentage, render
from tests.support.catalog import DEMO, c

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return build.demo_repo_files()


def test_generated_files_are_committed_and_fresh(files):
    assert build.stale(files) == [], "run: python -m lookout.monitoring generate"


def test_output_is_stable_across_runs(files):
    assert build.demo_repo_files() == files


def test_check_fails_on_drift(files, tmp_path):
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    assert build.stale(files, tmp_path) == []
    rule = tmp_path / "prometheus/rules/host.yml"
    rule.write_text(rule.read_text().replace("severity: critical", "severity: warning", 1))
    (tmp_path / "dashboards/json/old-board.json").write_text("{}")
    assert build.stale(files, tmp_path) == ["prometheus/rules/host.yml", "dashboards/json/old-board.json"]
    build.write_dir(files, tmp_path)
    assert build.stale(files, tmp_path) == []


def test_cli_check_exit_code():
    r = subprocess.run([sys.executable, "-m", "lookout.monitoring", "generate", "--check"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


POOLS = {"voice-api": ("gunicorn", 4, 5002), "chat-api": ("uvicorn", 2, 8001), "celery-worker": ("celery", 2, None)}
PERIODIC_TASKS = {"sync_all_sellers": 30, "analyze_pending_chats": 120, "check_sla_escalation": 300,
                  "auto_close_inactive_chats": 86400}
CAPACITY = {"active_sellers": 100, "chats_per_day": 10_000, "concurrent_users": 1_000}


def test_seed_numbers_are_in_the_demo_site():
    """The seeds' facts live in examples/demo.yaml, not in Python."""
    assert {s.name: (s.pool_server, s.workers, s.port) for s in DEMO.pools} == POOLS
    assert DEMO.periodic_tasks == PERIODIC_TASKS
    assert DEMO.capacity_thresholds == CAPACITY
    # the demo plays the same facts, read from the same file (lookout.demo.site_facts)
    assert site_facts.task_intervals() == DEMO.periodic_tasks
    assert site_facts.capacity_thresholds() == DEMO.capacity_thresholds
    h = DEMO.host("vps-1")
    assert (h.vcpus, h.memory_bytes, h.disk_bytes) == (2, 4 * 1024**3, 20 * 10**9)
    assert DEMO.monthly_budget_usd("deepseek") == 10
    assert c.thresholds.llm_daily_budget_usd.value == 1.0  # three times the monthly budget / 30
    assert c.thresholds.pool_memory_bytes.value == 2 * 1024**3  # half the host's memory


def _shipped_exporter_config(monkeypatch) -> dict:
    """deploy/compose/exporters.yaml with every ``${VAR:-default}`` rendered to its default by the loader's own
    expansion (variables without a default, such as DSNs, become empty)."""
    import yaml

    from lookout.exporters.binding import _ENV_RE, expand_env

    text = (ROOT / "deploy/compose/exporters.yaml").read_text()
    for name, default in _ENV_RE.findall(text):
        monkeypatch.delenv(name, raising=False)
        if not default:
            monkeypatch.setenv(name, "")

    def render(v):
        if isinstance(v, dict):
            return {k: render(x) for k, x in v.items()}
        if isinstance(v, list):
            return [render(x) for x in v]
        return expand_env(v, "exporters.yaml") if isinstance(v, str) else v

    return render(yaml.safe_load(text))


def test_shipped_exporter_config_and_demo_match_the_catalog(monkeypatch):
    """The alerts read these numbers at run time from the exporter (lookout_worker_pool_workers_expected,
    lookout_celery_periodic_task_interval_seconds, lookout_capacity_threshold): they must be the catalog's."""
    from lookout.exporters.config import Duration

    collectors = _shipped_exporter_config(monkeypatch)["collectors"]
    pools = {p["service"]: (p["server"], p["expected_workers"]) for p in collectors["worker_pools"]["pools"]}
    assert pools == {name: (server, n) for name, (server, n, _) in POOLS.items()}
    ports = {p["service"]: int(p["port"]) for p in collectors["worker_pools"]["pools"] if "port" in p}
    assert ports == {name: port for name, (_, _, port) in POOLS.items() if port is not None}
    intervals = {k: Duration.parse(v) for k, v in collectors["celery"]["periodic_tasks"].items()}
    assert intervals == PERIODIC_TASKS
    assert collectors["capacity"]["thresholds"] == CAPACITY

    from lookout.demo import settings
    assert site_facts.capacity_thresholds() == CAPACITY  # what the grow-capacity fault grows towards
    assert settings.TASK_INTERVALS == PERIODIC_TASKS
    s = settings.Settings()
    assert (s.gunicorn_workers, s.uvicorn_workers, s.celery_concurrency) == tuple(n for _, n, _ in POOLS.values())


def test_every_threshold_is_in_an_alert_and_on_a_panel():
    """Each product threshold guards something in some site (the examples, and the demo watching its containers),
    and wherever an alert uses one, a panel of that site draws it."""
    import dataclasses

    from lookout.dashboards import boards
    from lookout.monitoring.catalog import build
    from lookout.monitoring.catalog.thresholds import DEFAULTS
    from lookout.monitoring.site import load_site
    from tests.support.catalog import EXAMPLES

    sites = [load_site(p) for p in EXAMPLES]
    sites.append(dataclasses.replace(DEMO, monitoring=dataclasses.replace(DEMO.monitoring, watch_containers=True)))
    used_anywhere: set[str] = set()
    for site in sites:
        cat = build(site)
        on_panels = {t.key for _, panels in boards(cat.ctx) for p in panels for t in p.thresholds}
        in_alerts = {t.key for a in cat.alerts for t in a.thresholds} | {t.key for s in cat.slos for t in s.thresholds}
        assert in_alerts <= on_panels, f"{site.name}: thresholds drawn on no panel: {in_alerts - on_panels}"
        used_anywhere |= in_alerts
    assert set(DEFAULTS) <= used_anywhere, f"thresholds used by no alert: {set(DEFAULTS) - used_anywhere}"


def test_alert_thresholds_are_the_ones_its_expression_was_built_with():
    """A threshold enters an alert only through the builders (above, below, promql ...): the alert's thresholds
    are read from its expression, so none can be declared without being written into the PromQL."""
    for a in c.alerts:
        assert isinstance(a.expr, Expr) or not a.thresholds, a.name
        assert a.thresholds == getattr(a.expr, "thresholds", ()), a.name
        for t in a.thresholds:
            assert c.thresholds[t.key] is t, f"{a.name}: {t.key} is not the catalog's threshold"
    credits = c.alerts_by_name["ElevenLabsEndEventsMissing"]
    assert [t.key for t in credits.thresholds] == ["credits_unreconciled"]


def test_expression_builders_record_what_they_use():
    t = Threshold("x", 0.5, "short", "help")
    assert above("m", t) == "m > 0.5" and above("m", t).thresholds == (t,)
    assert below("m", t) == "m < 0.5" and at_least("m", t) == "m >= 0.5" and at_most("m", t) == "m <= 0.5"
    e = promql("predict_linear(m[1d], {d} * 86400) > 1", d=t)
    assert e == "predict_linear(m[1d], 0.5 * 86400) > 1" and e.thresholds == (t,)
    with pytest.raises(ValueError, match="not used"):
        promql("m > 1", d=t)
    with pytest.raises(TypeError):
        Alert(name="A", thresholds=(t,))  # type: ignore[call-arg]


def test_alert_thresholds_are_drawn_on_the_alerts_panel():
    from lookout.dashboards import boards

    drawn = {}
    for dash, panels in boards(c.ctx):
        for p in panels:
            drawn[(dash.uid, p.obj.title)] = {t.key for t in p.thresholds}
    for a in c.alerts:
        assert a.panel in drawn, f"{a.name}: no panel {a.panel}"
        missing = {t.key for t in a.thresholds} - drawn[a.panel]
        assert not missing, f"{a.name}: panel {a.panel[1]!r} does not draw {missing}"


def _used_metrics() -> set[str]:
    import json

    used: set[str] = set()
    for a in c.alerts:
        used |= metric_names(a.expr)
    for r in c.recordings:
        used |= metric_names(r.expr)
    for f in sorted((ROOT / "dashboards/json").glob("*.json")):
        for p in json.loads(f.read_text())["panels"]:
            for t in p["targets"]:
                used |= metric_names(t["expr"])
    return used


def test_every_metric_used_is_published_by_a_known_exporter():
    from lookout.exporters.docs import all_metric_names

    used = _used_metrics()
    assert len(used) > 40
    recorded = {r.record for r in c.recordings}
    unknown = used - all_metric_names() - standard_names() - recorded
    assert not unknown, f"metrics used by panels or rules that no exporter publishes: {sorted(unknown)}"


def test_fault_alerts_cover_every_demo_fault():
    from lookout.demo.faults import FAULTS as faults
    assert set(FAULT_ALERTS) == set(faults)
    by_name = c.alerts_by_name
    for fault, exp in FAULT_ALERTS.items():
        assert exp.alert in by_name, fault
        assert c.receiver(by_name[exp.alert]) == exp.receiver, fault
        assert all(a in by_name for a in exp.also), fault


def test_go_template_ports():
    assert humanize(0.1) == "100m" and humanize(1234567) == "1.235M" and humanize(15) == "15"
    assert humanize_duration(900) == "15m 0s" and humanize_duration(90061) == "1d 1h 1m 1s"
    assert humanize_duration(5.5) == "5.5s" and humanize_percentage(0.0725) == "7.25%"
    assert render("{{ $labels.a }} at {{ $value | humanizePercentage }}", {"a": "x"}, 0.5) == "x at 50%"
    with pytest.raises(ValueError):
        render("{{ $value | printf }}", {}, 1)


def test_promql_metric_names():
    e = 'sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) / on (job) group_left up > bool 3'
    assert metric_names(e) == {"http_requests_total", "up"}
    assert metric_names('absent(up{job="x"}) or vector(1)') == {"up"}
