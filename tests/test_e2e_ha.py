"""End to end: the scale-out path (docs/scaling.md) run natively,
``python -m lookout.stack up --ha --store victoriametrics``.

One stack for the module: the demo (``--speed 20``), its exporters, two Prometheus replicas writing to
VictoriaMetrics single-node (``-dedup.minScrapeInterval``), vmalert with the generated long-window rules, two
clustered Alertmanagers and the stand-in pager. Its tests run in order on that one stack:

1. both replicas write; the store holds one series per target (the ``replica`` label dropped, one sample per
   scrape interval: deduplicated), and the Watchdog of both replicas reaches its receiver once;
2. a dashboard query returns the same value from the first replica and from the store (within a scrape);
3. replica 2 stopped for ``OUTAGE`` seconds (shortened from the issue's two minutes: what it proves is a
   sample gap, which a 2 s scrape shows within seconds) while ``stop-mcp`` and ``api-errors`` are on: the
   store's business series have no gap; McpServerDown, fired by replica 1 alone, reaches the pager;
4. the store stopped for ``STORE_DOWN`` seconds, then started again: the replicas' write-ahead logs replay the
   window (no gap), ``prometheus_remote_storage_samples_failed_total`` and ``..._dropped_total`` stay 0;
5. vmalert's long-window alert (the 30-day availability budget, its ``for`` shortened) fires from the store's
   data and reaches the ticket receiver with the same labels Prometheus' alerts carry; every alert above
   reached its receiver exactly once, after replica 2 came back and fired McpServerDown too.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import requests

from lookout.stack.native import Options, Stack
from tests.test_e2e import CHECK_SETTINGS, EXPORTER_INTERVALS, SPEED, _grafana_to_promql, _panel_queries

pytestmark = pytest.mark.slow

SCRAPE = 2  # seconds: scrape and evaluation interval (the store's dedup interval follows)
# repeat_interval beyond the module's length: "exactly once" is then a property of the deduplication alone
AM_TIMERS = {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "30m"}
OUTAGE = 75  # seconds replica 2 is down: McpServerDown's `for: 1m` fires within it
STORE_DOWN = 30  # seconds the store is down
BUDGET_ALERT = "ChatcenterApiAvailabilityBudgetExhausted"  # vmalert's, `for: 1h` shortened for the test
MAX_GAP = 2 * SCRAPE + 1.5  # seconds between two stored samples of a series scraped every SCRAPE
# the demo's business series, as our exporter exports them
BUSINESS = r"capacity_.*|credits_.*|sla_.*|marketplace_.*|llm_.*|elevenlabs_.*|celery_.*"


@pytest.fixture(scope="module")
def stack(request):
    missing = [b for b in ("prometheus", "prometheus-alertmanager", "victoria-metrics", "vmalert")
               if not shutil.which(b)]
    assert not missing, f"missing {missing}: run scripts/install-deps"
    opts = Options(
        ha=True, store="victoriametrics", ruler_for={BUDGET_ALERT: "10s"},
        scrape_interval=f"{SCRAPE}s", evaluation_interval=f"{SCRAPE}s", alertmanager_timers=AM_TIMERS,
        demo_args=["--speed", str(SPEED), "--call-rate", "12", "--user-rate", "120"],
        exporter_intervals=EXPORTER_INTERVALS, beat_speed=SPEED, check_settings=CHECK_SETTINGS, start_timeout=240,
    )
    with Stack(opts) as s:
        s.t0 = time.time()
        s.report = {"notes": s.notes, "started_in_s": round(s.started_in, 1)}
        yield s
        where = os.environ.get("LOOKOUT_E2E_REPORT_DIR") or os.environ.get("PYTEST_DEBUG_TEMPROOT") or s.run_dir.parent
        path = Path(where) / "lookout-test_e2e_ha-report.json"
        path.write_text(json.dumps(s.report, indent=2, default=str))
        print(f"\ne2e report: {path}\n{json.dumps(s.report, indent=2, default=str)}")


def _wait(what: str, fn, timeout: float, interval: float = 1.0):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _value(result: list[dict]) -> float:
    return float(result[0]["value"][1]) if result else float("nan")


def _export(s: Stack, match: str, start: float, end: float) -> dict[str, list[float]]:
    """The store's raw samples (timestamps, seconds) of the series ``match`` selects, between start and end."""
    r = requests.get(f"{s.store_url}/api/v1/export", params={"match[]": match, "start": start, "end": end},
                     timeout=30)
    r.raise_for_status()
    out = {}
    for line in r.text.splitlines():
        d = json.loads(line)
        key = ",".join(f"{k}={v}" for k, v in sorted(d["metric"].items()))
        out[key] = sorted(t / 1000 for t in d["timestamps"])
    return out


def _gaps(s: Stack, start: float, end: float) -> dict[str, float]:
    """Largest gap between stored samples in [start, end], per business series present before ``start``."""
    before = _export(s, f'{{job="lookout",__name__=~"{BUSINESS}"}}', start - 60, start)
    during = _export(s, f'{{job="lookout",__name__=~"{BUSINESS}"}}', start, end)
    out = {}
    for key in before:
        ts = [start, *during.get(key, []), end]
        out[key] = max(b - a for a, b in itertools.pairwise(ts))
    return out


def _settle_store(s: Stack) -> None:
    """Wait until both replicas have sent the store everything they appended (the queue's highest sent
    timestamp has caught up with their newest sample), so a query of the store sees it all."""
    def caught_up() -> bool:
        # replica 1 scrapes both replicas: one lag per replica
        lag = s.query("prometheus_remote_storage_highest_timestamp_in_seconds - ignoring(remote_name, url) "
                      "group_right prometheus_remote_storage_queue_highest_sent_timestamp_seconds")
        return len(lag) == 2 and all(float(r["value"][1]) <= 2 * SCRAPE for r in lag)
    _wait("the replicas' remote-write queues to catch up", caught_up, 120)
    time.sleep(2 * SCRAPE)  # the store's export reads what arrived (no -search.latencyOffset there)


def test_both_replicas_write_and_the_store_deduplicates(stack: Stack) -> None:
    s = stack
    for i in (1, 2):
        _wait(f"replica {i} to send samples", lambda i=i: _value(s.query(
            "sum(prometheus_remote_storage_samples_total)", s.replica_url(i))) > 0, 90)
    targets = {(t["labels"]["job"], t["labels"]["instance"]) for t in s.targets()}
    _wait("the store to hold every target", lambda: len(s.query("up", s.store_url)) >= len(targets), 90)
    # one series per target, whichever replica sent it
    doubled = s.query("count by (job, instance) (up) > 1", s.store_url)
    assert not doubled, doubled
    by_replica = s.query("count by (replica) (up)", s.store_url)
    assert [r["metric"] for r in by_replica] == [{}], by_replica  # the label is dropped on ingestion
    stored = {(r["metric"]["job"], r["metric"]["instance"]) for r in s.query("up", s.store_url)}
    assert stored == targets
    # deduplicated: one sample per scrape interval, not one per replica and interval
    # (20 s of samples, read 35 s back: the store shows samples -search.latencyOffset, 30 s, after they arrive)
    window = 20

    def samples() -> float:
        return _value(s.query(f'count_over_time(up{{job="lookout"}}[{window}s])', s.store_url, time=time.time() - 35))
    per_window = _wait("20 s of samples in the store", lambda: samples() >= window / SCRAPE - 1 and samples(), 90)
    assert per_window <= window / SCRAPE + 1, per_window
    # both replicas send the Watchdog to both Alertmanagers: the pager gets it once
    _wait("the Watchdog", lambda: s.recorder.received("Watchdog"), 60)
    s.report["dedup"] = {"targets": len(targets), "samples_in_20s_lookout_up": per_window}


def test_a_dashboard_query_gives_the_same_value_from_prometheus_and_the_store(stack: Stack) -> None:
    s = stack
    at = time.time() - 45  # older than the store's -search.latencyOffset
    compared, differ = [], []
    for where, expr, _ in _panel_queries(s):
        if "[" in expr or "$" in expr or "offset" in expr:
            continue  # gauges read as they are: rates differ by design (MetricsQL does not extrapolate)
        q = _grafana_to_promql(expr)
        local = s.query(q, time=at)
        if len(local) != 1:
            continue
        # the store's value is the sample of either replica's last scrape before `at`: within one scrape
        window = [float(v) for i in (1, 2) for r in s.api(
            "/api/v1/query_range", s.replica_url(i), query=q, start=at - SCRAPE, end=at + SCRAPE, step=1)["result"]
            for _, v in r["values"]]
        stored = _value(s.query(q, s.store_url, time=at))
        compared.append(where)
        if not (min(window) - 1e-9 <= stored <= max(window) + 1e-9):
            differ.append((where, q, stored, min(window), max(window)))
    s.report["same_value"] = {"compared": len(compared), "differ": differ}
    assert len(compared) >= 3, compared
    assert not differ, differ


def test_replica_outage_leaves_no_gap_and_alerts_once(stack: Stack) -> None:
    s = stack
    s.outage_start = time.time()
    s.procs["prometheus-2"].stop()
    s.fault("stop-mcp", True)
    s.fault("api-errors", True, 0.5)
    # McpServerDown (`for: 1m`) is fired by replica 1 alone while replica 2 is down
    _wait("McpServerDown at the pager", lambda: s.recorder.received("McpServerDown", since=s.outage_start),
          OUTAGE + 30)
    rest = OUTAGE - (time.time() - s.outage_start)
    if rest > 0:
        time.sleep(rest)
    s.outage_end = time.time()
    s.procs["prometheus-2"].start()
    _wait("replica 2 ready", lambda: _ok(f"{s.replica_url(2)}/-/ready"), 60)
    _settle_store(s)
    gaps = _gaps(s, s.outage_start, s.outage_end)
    s.report["replica_outage"] = {"seconds": round(s.outage_end - s.outage_start), "series": len(gaps),
                                  "max_gap_s": max(gaps.values(), default=None)}
    assert len(gaps) >= 5, gaps
    assert max(gaps.values()) <= MAX_GAP, {k: v for k, v in gaps.items() if v > MAX_GAP}


def test_store_restart_is_filled_from_the_write_ahead_logs(stack: Stack) -> None:
    s = stack
    vm = s.procs["victoriametrics"]
    down_at = time.time()
    vm.stop()
    time.sleep(STORE_DOWN)
    up_at = time.time()
    vm.start()
    _wait("the store back", lambda: _ok(f"{s.store_url}/health"), 60, 0.5)
    _settle_store(s)
    gaps = _gaps(s, down_at, up_at)
    counters = {name: _value(s.query(f"sum(prometheus_remote_storage_samples_{name}_total)"))
                for name in ("failed", "dropped", "retried")}
    s.report["store_restart"] = {"seconds_down": round(up_at - down_at), "series": len(gaps),
                                 "max_gap_s": max(gaps.values(), default=None), **counters}
    assert len(gaps) >= 5, gaps
    assert max(gaps.values()) <= MAX_GAP, {k: v for k, v in gaps.items() if v > MAX_GAP}
    assert counters["failed"] == 0 and counters["dropped"] == 0, counters


def test_vmalert_long_window_alert_routes_like_the_others_and_each_alert_reaches_once(stack: Stack) -> None:
    s = stack
    got = _wait(f"{BUDGET_ALERT} from vmalert at the pager", lambda: s.recorder.received(BUDGET_ALERT), 120)
    assert {n.receiver for n in got} == {"ticket"}, got
    rules = requests.get(f"{s.ruler_url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    health = {r["name"]: (r.get("health"), r.get("lastError")) for g in rules for r in g["rules"]}
    assert all(h == "ok" for h, _ in health.values()), health
    # the alert as vmalert sent it carries the labels a Prometheus alert carries, no `alertgroup`, no `replica`
    alerts = requests.get(f"{s.alertmanager_url(1)}/api/v2/alerts", params={"filter": f"alertname={BUDGET_ALERT}"},
                          timeout=10).json()
    assert alerts, alerts
    labels = alerts[0]["labels"]
    assert labels["site"] == s.site.name and labels["cluster"] == s.site.name, labels
    assert "alertgroup" not in labels and "replica" not in labels, labels
    # replica 2, back, fires McpServerDown too: still one notification (both Alertmanagers, both replicas)
    _wait("replica 2 firing McpServerDown", lambda: "McpServerDown" in s.firing(s.replica_url(2)), 120)
    time.sleep(10)  # group_wait + group_interval + delivery, several times over
    s.fault("stop-mcp", False)
    s.fault("api-errors", False)
    # once per integration of the receiver (the page receiver posts to PagerDuty, Telegram and a webhook)
    once = {a: {} for a in ("Watchdog", "McpServerDown", BUDGET_ALERT)}
    for a, kinds in once.items():
        for n in s.recorder.received(a):
            if n.received_at >= s.t0:
                kinds[f"{n.receiver}/{n.kind}"] = kinds.get(f"{n.receiver}/{n.kind}", 0) + 1
    s.report["notifications"] = once
    assert all(kinds and set(kinds.values()) == {1} for kinds in once.values()), once
    # no alert of Prometheus names the replica it came from
    for n in s.recorder.snapshot():
        assert not re.search(r'"replica"\s*:', json.dumps(n.body)), n.body
