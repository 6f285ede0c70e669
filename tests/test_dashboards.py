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

from monitoring import catalog as c
from monitoring.promql import range_functions

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
        assert ds["current"]["value"] == c.DATASOURCE_UID
        others = [v for v in d["templating"]["list"] if v["type"] == "query"]
        assert others, f"{d['uid']}: needs an instance/service variable"
        for path, v in _walk(d):
            if path.endswith(".datasource"):
                assert isinstance(v, dict) and v.get("uid"), f"{d['uid']}{path}: datasource must be an object"
                assert v["uid"] in {"${datasource}", c.DATASOURCE_UID, "-- Grafana --"}, f"{d['uid']}{path}"
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


def test_board_variables_are_used(dashes):
    for d in dashes:
        names = [v["name"] for v in d["templating"]["list"] if v["type"] == "query"]
        exprs = " ".join(t["expr"] for p in d["panels"] for t in p["targets"])
        for n in names:
            assert f"${n}" in exprs, f"{d['uid']}: variable ${n} unused"


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
