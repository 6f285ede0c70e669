"""The catalog for every example site: Grafana's dashboard schema, alerts with panels and runbooks, and what a site
has (no voice rules for a chat center, both hosts scraped, one capacity value in three places, merged thresholds).
promtool and amtool run on every example in tests/test_site_generate.py."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest
import yaml

from lookout.monitoring import exporter_config, generate
from lookout.monitoring.catalog import build
from lookout.monitoring.catalog.thresholds import DEFAULTS
from lookout.monitoring.site import Site, SiteError, load_site
from tests.support.catalog import DEMO, EXAMPLES, ROOT


def _grafana_schema() -> Path:
    """Grafana's published dashboard schema, kept beside the project (never copied into it)."""
    for base in (ROOT, *ROOT.parents):
        path = base / "shared" / "reference" / "grafana-dashboard.jsonschema.json"
        if path.exists():
            return path
    pytest.fail("shared/reference/grafana-dashboard.jsonschema.json not found beside the checkout")


def _write(files: dict[str, str], root: Path) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.stem)
def generated(request, tmp_path_factory) -> tuple[Site, dict[str, str], Path]:
    site = load_site(request.param)
    files = generate.render(site)
    return site, files, _write(files, tmp_path_factory.mktemp(request.param.stem))


def test_dashboards_validate_against_grafanas_schema(generated):
    _, files, _ = generated
    schema = json.loads(_grafana_schema().read_text())
    validator = jsonschema.Draft7Validator({**schema, "$ref": "#/definitions/Dashboard"})
    boards = [json.loads(t) for p, t in files.items() if p.startswith("dashboards/json/")]
    assert boards
    for board in boards:
        errors = sorted(validator.iter_errors(board), key=lambda e: list(e.path))
        assert not errors, f"{board['uid']}: {errors[0].message} at {list(errors[0].path)}"


def test_every_alert_has_its_panel_and_runbook_section(generated):
    site, files, _ = generated
    cat = build(site)
    runbooks = files["docs/runbooks.md"]
    for a in cat.alerts:
        assert f"\n## {a.name}\n" in runbooks, a.name
    # with a long-term store, the rules needing more history run in vmalert (lookout.monitoring.store)
    rules = "".join(t for p, t in files.items() if p.startswith(("prometheus/rules/", "vmalert/rules/")))
    assert rules.count("- alert: ") == len(cat.alerts)


def _rules(files: dict[str, str]) -> list[dict]:
    return [r for p, t in files.items() if p.startswith("prometheus/rules/")
            for g in yaml.safe_load(t)["groups"] for r in g["rules"]]


def test_chat_center_only_site_has_no_voice_rules_boards_or_jobs():
    files = generate.render(load_site(ROOT / "examples" / "chat-center.yaml"))
    # the runbooks' table (and its HTML page) lists every threshold key
    text = "\n".join(t for p, t in files.items() if p not in ("docs/runbooks.md", "runbooks/index.html"))
    for voice in ("nginx_http_response_count_total", "credits_", "elevenlabs_", "mcp-server", "Voice", "voice"):
        assert voice not in text, voice
    assert "prometheus/rules/voice-platform.yml" not in files
    assert "\n## Voice" not in files["docs/runbooks.md"] and "\n## Credits" not in files["docs/runbooks.md"]
    assert "dashboards/json/lookout-billing.json" not in files
    prom = yaml.safe_load(files["prometheus/prometheus.yml"])
    jobs = {j["job_name"] for j in prom["scrape_configs"]}
    assert "nginx" not in jobs
    absent = next(r for r in _rules(files) if r.get("alert") == "TargetAbsent")["expr"]
    assert absent.count("absent(") == len(jobs - {"prometheus", "alertmanager"})
    assert all(f'job="{j}"' in absent for j in jobs - {"prometheus", "alertmanager"})
    # while the demo, with both platforms, has them
    demo = generate.render(DEMO)
    assert "prometheus/rules/voice-platform.yml" in demo and "dashboards/json/lookout-billing.json" in demo


def test_two_host_site_scrapes_both_hosts_and_repeats_host_panels():
    site = load_site(ROOT / "examples" / "two-host.yaml")
    files = generate.render(site)
    prom = yaml.safe_load(files["prometheus/prometheus.yml"])
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    hosts = {j: {sc["labels"]["host"] for sc in job["static_configs"]} for j, job in jobs.items()}
    assert hosts["node"] == {"app-1", "app-2", "db-1"}
    assert hosts["lookout"] >= {"app-1", "app-2"}  # the worker-pool collector runs where the pools are
    assert hosts["postgres"] == hosts["redis"] == {"db-1"}
    assert hosts["chatcenter_api"] == {"app-1", "app-2"}
    node_targets = {t for sc in jobs["node"]["static_configs"] for t in sc["targets"]}
    assert node_targets == {"127.0.0.1:9100", "app-2.example.internal:9100", "db-1.example.internal:9100"}
    board = json.loads(files["dashboards/json/lookout-host.json"])
    repeated = {p["title"] for p in board["panels"] if p.get("repeat") == "host"}
    assert {"Host up", "Disk free", "Memory available", "Load per vCPU"} <= repeated
    # one VPS: no repetition
    one = json.loads(generate.render(DEMO)["dashboards/json/lookout-host.json"])
    assert not any("repeat" in p for p in one["panels"])


def _with_capacity(site: Site, thresholds: dict[str, float]) -> Site:
    dbs = []
    for db in site.databases:
        if db.checks.capacity is not None:
            checks = dataclasses.replace(db.checks, capacity={**db.checks.capacity, "thresholds": thresholds})
            db = dataclasses.replace(db, checks=checks)
        dbs.append(db)
    return dataclasses.replace(site, databases=tuple(dbs))


def _capacity_places(site: Site) -> tuple[str, set[float], dict[str, float]]:
    files = generate.render(site)
    expr = next(r for r in _rules(files) if r.get("alert") == "CapacityThresholdReached")["expr"]
    board = json.loads(files["dashboards/json/lookout-capacity.json"])
    volumes = next(p for p in board["panels"] if p["title"] == "Volumes")
    lines = {s["value"] for s in volumes["fieldConfig"]["defaults"]["thresholds"]["steps"][1:]}
    exporter = exporter_config.exporter_configs(site)[exporter_config.MONITORING_FILE]
    return expr, lines, exporter["collectors"]["capacity"]["thresholds"]


def test_a_capacity_threshold_changes_the_alert_the_panel_line_and_the_exporter_together():
    expr, lines, exported = _capacity_places(DEMO)
    assert 'lookout_capacity_usage{resource="active_sellers"} / 100 ' in expr and 100.0 in lines
    assert exported["active_sellers"] == 100
    expr, lines, exported = _capacity_places(_with_capacity(DEMO, {"active_sellers": 250}))
    assert 'lookout_capacity_usage{resource="active_sellers"} / 250 ' in expr and 250.0 in lines and 100.0 not in lines
    assert exported["active_sellers"] == 250
    # a partial map keeps the other two thresholds, in the alert, on the panel and in the exporter
    assert 'lookout_capacity_usage{resource="chats_per_day"} / 10000 ' in expr
    assert 'lookout_capacity_usage{resource="concurrent_users"} / 1000)' in expr
    assert {10000.0, 1000.0} <= lines
    assert exported["chats_per_day"] == 10000 and exported["concurrent_users"] == 1000


def test_a_partial_threshold_map_merges_with_the_defaults():
    site = dataclasses.replace(DEMO, thresholds={"listen_queue": 25, "disk_free_warning": 0.2})
    cat, default = build(site), build(DEMO)
    assert cat.thresholds.listen_queue.value == 25 and cat.thresholds.disk_free_warning.value == 0.2
    changed = {k for k in default.thresholds if cat.thresholds[k].value != default.thresholds[k].value}
    assert changed == {"listen_queue", "disk_free_warning"}
    assert cat.alerts_by_name["WorkerPoolListenQueueSaturated"].expr == "lookout_worker_pool_listen_queue_length > 25"
    assert cat.alerts_by_name["HostDiskSpaceLow"].expr == "instance:node_filesystem_avail:ratio < 0.2"
    assert cat.alerts_by_name["HostDiskSpaceCritical"].expr == "instance:node_filesystem_avail:ratio < 0.05"


def test_an_unknown_threshold_key_is_refused_naming_it():
    with pytest.raises(SiteError, match=r"^thresholds\.listen_queu: unknown threshold \(known: "):
        build(dataclasses.replace(DEMO, thresholds={"listen_queu": 25}))


def test_thresholds_derive_from_the_site():
    """Memory thresholds follow the hosts, the LLM budget the providers, the latency bound the SLO."""
    two = build(load_site(ROOT / "examples" / "two-host.yaml"))
    assert two.thresholds.pool_memory_bytes.value == 4 * 1024**3  # half of 8 GiB
    assert two.thresholds.llm_daily_budget_usd.value == 3.0  # 30 USD a month, x3 / 30
    assert "lookout_worker_pool_workers_resident_memory_bytes > 4294967296" in [
        a.expr for a in two.alerts if a.name == "WorkerPoolMemoryHigh"]


def _overridden() -> dict[str, float]:
    """Every product threshold moved off its default, within its range."""
    out = {}
    for key, t in build(DEMO).thresholds.items():
        if key.startswith("capacity_") and key not in DEFAULTS:
            continue  # the capacity check's own thresholds (test above)
        v = float(t.value)
        if t.unit == "percentunit":
            out[key] = min(round(v * 1.2, 6), 0.95) if v else 0.1
        else:
            out[key] = round(v * 1.2, 6) if v else 1.0
    return out


def test_promtool_cases_follow_overridden_thresholds(tmp_path):
    """The generated unit tests fire and stay silent around the site's thresholds, not the defaults'."""
    site = dataclasses.replace(DEMO, thresholds=_overridden())
    cat = build(site)
    assert all(cat.thresholds[k].value == v for k, v in site.thresholds.items())
    files = generate.render(site)
    root = _write(files, tmp_path)
    tests = sorted(root / p for p in files if p.startswith("prometheus/tests/"))

    def run(f: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
        return f, subprocess.run([shutil.which("promtool") or "promtool", "test", "rules", f.name], cwd=f.parent,
                                 capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [f"{f.name}:\n{r.stdout}{r.stderr}" for f, r in pool.map(run, tests) if r.returncode != 0]
    assert not failed, "\n".join(failed)
