"""Generated Grafana dashboards: the rules of Grafana's dashboard schema that matter, checked without it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lookout.monitoring.catalog.slos import BURN_RATES
from lookout.monitoring.catalog.uids import DATASOURCE as DATASOURCE_UID
from lookout.monitoring.promql import range_functions
from tests.support.catalog import c

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "dashboards/json").glob("*.json"))
LEGACY = {"rows", "hideControls", "style", "sharedCrosshair", "span", "minSpan", "height", "error", "nullPointMode",
          "gnetId", "__inputs", "id_legacy", "thresholdType", "repeatDirection", "useTags", "tagsQuery",
          "tagValuesQuery", "auto", "auto_min", "auto_count", "query_legacy", "intervalFactor", "step", "metric",
          "target"}
BOARDS_REQUIRED = {"lookout-overview", "lookout-worker-pools", "lookout-celery", "lookout-billing", "lookout-llm",
                   "lookout-marketplace-sla", "lookout-capacity", "lookout-http-slo", "lookout-host"}


@pytest.fixture(scope="module")
def dashes() -> list[dict[str, Any]]:
    return [json.loads(f.read_text()) for f in FILES]


def _walk(v: Any, path: str = ""):
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _walk(x, f"{path}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _walk(x, f"{path}[{i}]")


def test_the_issue_boards_exist_with_unique_uids_and_titles(dashes):
    uids = [d["uid"] for d in dashes]
    titles = [d["title"] for d in dashes]
    assert all(uids) and all(titles)
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)
    assert set(uids) >= BOARDS_REQUIRED
    for d, f in zip(dashes, FILES, strict=True):
        assert f.stem == d["uid"] and 8 <= len(d["uid"]) <= 40


def test_modern_schema_no_legacy_keys_no_nulls(dashes):
    for d in dashes:
        assert d["schemaVersion"] >= 36
        assert {"templating", "annotations", "panels"} <= set(d)
        for path, v in _walk(d):
            assert v is not None, f"{d['uid']}{path} is null"
            if isinstance(v, dict):
                legacy = LEGACY & set(v)
                assert not legacy, f"{d['uid']}{path} has legacy keys {legacy}"


def test_panels_ids_layout_description_unit_thresholds(dashes):
    for d in dashes:
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), d["uid"]
        for p in d["panels"]:
            where = f"{d['uid']}/{p['title']}"
            assert p["type"] in {"timeseries", "stat"}, where
            assert p["description"].strip(), where
            g = p["gridPos"]
            assert 0 < g["w"] <= 24 and g["h"] > 0 and 0 <= g["x"] < 24 and g["x"] + g["w"] <= 24, where
            defaults = p["fieldConfig"]["defaults"]
            assert defaults["unit"], where
            steps = defaults["thresholds"]["steps"]
            assert steps and all(isinstance(s["value"], (int, float)) and s["color"] for s in steps), where
            assert [s["value"] for s in steps] == sorted(s["value"] for s in steps), where
            if p["type"] == "timeseries" and len(steps) > 1 and defaults["unit"] != "bool":
                assert defaults["custom"]["thresholdsStyle"]["mode"] != "off", where


def test_datasources_are_objects_with_the_provisioned_uid(dashes):
    for d in dashes:
        variables = {v["name"]: v for v in d["templating"]["list"]}
        ds = variables["datasource"]
        assert ds["type"] == "datasource" and ds["query"] == "prometheus"
        assert ds["current"]["value"] == DATASOURCE_UID
        others = [v for v in d["templating"]["list"] if v["type"] == "query"]
        assert others, f"{d['uid']}: needs an instance/service variable"
        for path, v in _walk(d):
            if path.endswith(".datasource"):
                assert isinstance(v, dict) and v.get("uid"), f"{d['uid']}{path}: datasource must be an object"
                assert v["uid"] in {"${datasource}", DATASOURCE_UID, "-- Grafana --"}, f"{d['uid']}{path}"
        for p in d["panels"]:
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            for t in p["targets"]:
                assert t["datasource"] == p["datasource"] and t["refId"] and t["expr"]


def test_rate_interval_in_every_rate(dashes):
    for d in dashes:
        for p in d["panels"]:
            for t in p["targets"]:
                for fn, rng in range_functions(t["expr"]):
                    if fn in {"rate", "irate", "increase"}:
                        assert rng == "$__rate_interval", f"{d['uid']}/{p['title']}: {fn}[{rng}]"


# Queries that cannot filter by their board's variable: the series they read lack its label.
VARIABLE_EXEMPT = {
    ("lookout-overview", "Collectors up"): "the lookout exporter serves both platforms (platform=shared)",
    ("lookout-overview", "API: 5xx share"): "SLO recording: only host and sloth_* labels",
    ("lookout-overview", "Money leaking: unreconciled seconds"): "voice billing read by the shared exporter "
                                                                 "(platform=shared)",
    ("lookout-overview", "Money leaking: LLM spend over 24 h"): "recording summed by host and provider",
    ("lookout-overview", "Firing alerts"): "counts every alert; most carry no platform label",
    ("lookout-celery", "Task failure share"): "recording summed by host and task name",
    ("lookout-llm", "Spend per day (USD)"): "recording summed by host and provider",
    ("lookout-llm", "Spend pace (USD per day, last 15 min)"): "recording summed by host and provider",
    ("lookout-llm", "Balance runway (days)"): "recording summed by host and provider",
    ("lookout-http-slo", "SLO availability: error ratio by window"): "SLO recordings: only host and sloth_* labels",
    ("lookout-http-slo", "SLO latency: error ratio by window"): "SLO recordings: only host and sloth_* labels",
    ("lookout-http-slo", "Error budget remaining (30 d)"): "SLO recordings: only host and sloth_* labels",
}


def test_every_query_uses_its_boards_variable(dashes):
    """Picking an instance/service/host must narrow every panel, or the board mixes what it shows."""
    exempt_seen = set()
    for d in dashes:
        names = [v["name"] for v in d["templating"]["list"] if v["type"] == "query"]
        for p in d["panels"]:
            key = (d["uid"], p["title"])
            if key in VARIABLE_EXEMPT:
                exempt_seen.add(key)
                continue
            for t in p["targets"]:
                missing = [n for n in names if not re.search(rf"\${{?{n}\b", t["expr"])]
                assert not missing, f"{d['uid']}/{p['title']} [{t['refId']}] ignores ${missing[0]}: {t['expr']}"
    assert set(VARIABLE_EXEMPT) <= exempt_seen, f"stale exemptions: {set(VARIABLE_EXEMPT) - exempt_seen}"


# Panels without a catalog threshold line, and why. A panel of unit ``bool`` needs none: its steps make 0 red,
# which is the ``== 0`` of the alerts that read it.
THRESHOLD_EXEMPT = {
    ("lookout-worker-pools", "Time since deploy"): "a release's age: no alert reads it (deploys are the boards' "
                                                   "annotations and the notifications' deploy note)",
    ("lookout-overview", "Serving: requests per second"): "throughput: no alert reads the request rate; a stop "
                                                           "shows in the probes and 5xx panels",
    ("lookout-overview", "Firing alerts"): "counts alerts: the thresholds are the alerts' own",
    ("lookout-worker-pools",
     "Workers vs expected"): "the line is a series: lookout_worker_pool_workers_expected, which "
                                                     "the alert compares with (the site file's workers)",
    ("lookout-worker-pools", "Busy workers"): "drawn against live workers; saturation alerts on the listen queue",
    ("lookout-worker-pools", "Worker CPU"): "no per-pool CPU alert; the host's load per vCPU carries it",
    ("lookout-http-slo", "Requests per second"): "throughput: no alert reads the request rate",
    ("lookout-llm", "Tokens by type"): "volume: the spend panels draw the budget in USD",
    ("lookout-db-ops", "Blocked sessions"): "a count: the alerts read how long the longest waiter has waited",
    ("lookout-db-ops", "Idle-in-transaction sessions"): "a count: the alert reads the oldest transaction's age",
    ("lookout-db-ops", "Backups found"): "a count: BackupMissing fires at 0, drawn on the age panel",
    ("lookout-db-ops", "WAL archiving"): "failures and a 0/1 state: the alert needs both, no level to draw",
    ("lookout-db-ops", "Last WAL file archived"): "no alert: a quiet database archives nothing for hours",
    ("lookout-celery", "Queues folded or not read"): "counts of queues: its alerts fire on any folded or unread "
                                                     "queue (> 0), not on a catalog threshold",
}


def _catalog_values() -> set[float]:
    burn = {round(factor * slo.budget, 6) for slo in c.slos for _, _, factor, _, _ in BURN_RATES}
    return {float(t.value) for t in c.thresholds.values()} | burn


def _threshold_problems(d: dict[str, Any]) -> list[str]:
    """Panels of board ``d`` with no catalog threshold line, not of unit bool and not exempted."""
    out = []
    known = _catalog_values()
    for p in d["panels"]:
        defaults = p["fieldConfig"]["defaults"]
        lines = [s["value"] for s in defaults["thresholds"]["steps"][1:]]
        if defaults["unit"] == "bool" or (d["uid"], p["title"]) in THRESHOLD_EXEMPT:
            continue
        if not lines:
            out.append(f"{d['uid']}/{p['title']}: no threshold line and no exemption")
        elif not set(lines) <= known:
            out.append(f"{d['uid']}/{p['title']}: lines {lines} are not catalog thresholds")
        elif p["type"] == "timeseries" and defaults["custom"]["thresholdsStyle"]["mode"] == "off":
            out.append(f"{d['uid']}/{p['title']}: thresholds not drawn")
    return out


def test_every_panel_draws_catalog_thresholds_or_is_exempted(dashes):
    problems = [x for d in dashes for x in _threshold_problems(d)]
    assert not problems, "\n".join(problems)
    titles = {(d["uid"], p["title"]): p for d in dashes for p in d["panels"]}
    for key, why in THRESHOLD_EXEMPT.items():
        assert key in titles and why, f"stale exemption {key}"
        assert len(titles[key]["fieldConfig"]["defaults"]["thresholds"]["steps"]) == 1, f"{key} has lines now"


def test_a_panel_without_threshold_or_exemption_fails(dashes):
    board = json.loads(json.dumps(dashes[0]))
    panel = next(p for p in board["panels"] if p["fieldConfig"]["defaults"]["unit"] != "bool")
    panel["title"] = "New panel"
    panel["fieldConfig"]["defaults"]["thresholds"]["steps"] = panel["fieldConfig"]["defaults"]["thresholds"][
        "steps"][:1]
    assert _threshold_problems(board) == [f"{board['uid']}/New panel: no threshold line and no exemption"]


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool missing: scripts/install-deps installs it")
def test_every_panel_query_parses(dashes, tmp_path):
    """promtool has no parse-only command: check the queries as recording rules (variables substituted)."""
    rules = []
    for d in dashes:
        for p in d["panels"]:
            for t in p["targets"]:
                expr = t["expr"].replace("$__rate_interval", "5m")
                expr = re.sub(r"\$\{?\w+\}?", ".*", expr)
                rules.append({"record": f"panel:{d['uid'].replace('-', '_')}:{p['id']}{t['refId']}", "expr": expr})
    f = tmp_path / "panels.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    r = subprocess.run(["promtool", "check", "rules", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
