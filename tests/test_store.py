"""The scale-out generation (lookout.monitoring.store): HA replicas' prometheus.yml, the store's and vmalert's files,
validated by promtool and vmalert's own dry run; and the site keys' refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lookout.monitoring import build, store
from lookout.monitoring.site import SiteError, load_site

ROOT = Path(__file__).resolve().parents[1]
HA = ROOT / "examples" / "ha.yaml"


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ha")
    build.write_dir(build.site_files(load_site(HA)), d)
    return d


def test_each_replica_has_its_labels_drops_them_from_alerts_and_writes_to_the_store(out: Path) -> None:
    confs = [yaml.safe_load((out / "prometheus" / f).read_text()) for f in ("prometheus.yml", "prometheus-2.yml")]
    assert [c["global"]["external_labels"]["replica"] for c in confs] == ["prometheus-1", "prometheus-2"]
    assert {c["global"]["external_labels"]["cluster"] for c in confs} == {"demo-ha"}
    for c in confs:
        assert c["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]
        (rw,) = c["remote_write"]
        assert rw["url"] == "http://victoriametrics:8428/api/v1/write"
        assert rw["queue_config"]["max_shards"] <= 4  # a 2-vCPU host
        prom_job = next(j for j in c["scrape_configs"] if j["job_name"] == "prometheus")
        assert prom_job["static_configs"][0]["targets"] == ["prometheus:9090", "prometheus-2:9090"]
    # but for the replica label, the two files are the same
    confs[1]["global"]["external_labels"]["replica"] = "prometheus-1"
    assert confs[0] == confs[1]
    for f in ("prometheus.yml", "prometheus-2.yml"):
        r = subprocess.run([shutil.which("promtool") or "promtool", "check", "config", f], cwd=out / "prometheus",
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr


def test_long_window_rules_move_to_vmalert_and_pass_its_dry_run(out: Path) -> None:
    moved = {r.get("record") or r.get("alert") for f in (out / "vmalert" / "rules").glob("*.yml")
             for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]}
    assert moved == {"slo:sli_error:ratio_rate30d", "slo:period_error_budget_remaining:ratio",
                     "ChatcenterApiAvailabilityBudgetExhausted", "ChatcenterApiLatencyBudgetExhausted",
                     "resource:lookout_capacity_usage:predict_linear4w_30d"}
    local = "".join(f.read_text() for f in (out / "prometheus" / "rules").glob("*.yml"))
    assert "[30d]" not in local and "[4w]" not in local and "slo:sli_error:ratio_rate5m" in local
    args = store.read_args((out / "vmalert" / "vmalert.args").read_text())
    assert "-notifier.url=http://alertmanager-1:9093" in args and "-notifier.url=http://alertmanager-2:9093" in args
    assert "-datasource.url=http://victoriametrics:8428" in args and "-disableAlertgroupLabel" in args
    # a firing alert survives a store outage of minutes (expires 4 x max(interval, resend delay) after a send)
    assert "-rule.resendDelay=1m" in args
    rules = [a for a in args if a.startswith("-rule=")]
    r = subprocess.run([shutil.which("vmalert") or "vmalert", "-dryRun", *rules], cwd=out, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    vm = store.read_args((out / "victoriametrics" / "victoria-metrics.args").read_text())
    assert "-dedup.minScrapeInterval=15s" in vm and "-relabelConfig=victoriametrics/relabel.yml" in vm


def _panels(panels: list[dict]) -> list[dict]:
    """Panels, rows' panels included."""
    return [q for p in panels for q in (p, *_panels(p.get("panels", [])))]


def test_grafana_offers_the_store_beside_prometheus(out: Path) -> None:
    ds = yaml.safe_load((out / "grafana/provisioning/datasources/lookout.yaml").read_text())["datasources"]
    lts = next(d for d in ds if d["uid"] == store.STORE_DATASOURCE_UID)
    assert lts["type"] == "prometheus" and lts["url"] == "http://victoriametrics:8428"
    assert next(d for d in ds if d["uid"] == "prometheus")["isDefault"]
    # selectable on every board: each board's `datasource` variable lists every datasource of the store's type
    # (no regex narrowing it) and every query reads that variable
    boards = sorted((out / "dashboards" / "json").glob("*.json"))
    assert boards
    for f in boards:
        board = json.loads(f.read_text())
        var = next(v for v in board["templating"]["list"] if v["name"] == "datasource")
        assert var["type"] == "datasource" and var["query"] == lts["type"] and not var.get("regex"), (f.name, var)
        queries = [p["datasource"]["uid"] for p in _panels(board["panels"]) if "targets" in p]
        assert queries and set(queries) == {"${datasource}"}, (f.name, set(queries))


def test_a_plain_site_is_unchanged() -> None:
    files = build.site_files(load_site(ROOT / "examples" / "demo.yaml"))
    prom = yaml.safe_load(files["prometheus/prometheus.yml"])
    assert "replica" not in prom["global"]["external_labels"] and "remote_write" not in prom
    assert not [p for p in files if p.startswith(("vmalert/", "victoriametrics/", "prometheus/prometheus-"))]


@pytest.mark.parametrize(("edit", "message"), [
    ("prometheus_replicas: 2\n", "monitoring.prometheus_peers: prometheus_replicas: 2 needs 1 address"),
    ("long_term_store: {kind: mimir}\n", "long_term_store.kind"),
    ("long_term_store: {kind: victoriametrics, url: 'ftp://x'}\n", "long_term_store.url"),
    ("long_term_store: {kind: victoriametrics, retention: forever}\n", "long_term_store.retention"),
])
def test_bad_keys_are_refused_naming_the_key(tmp_path: Path, edit: str, message: str) -> None:
    site = tmp_path / "site.yaml"
    site.write_text((ROOT / "examples" / "demo.yaml").read_text() + edit)
    with pytest.raises(SiteError, match=message.replace("(", r"\(")):
        load_site(site)
