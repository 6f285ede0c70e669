"""End to end: the scale-out path (docs/scaling.md) run natively,
``python -m lookout.stack up --ha --store victoriametrics``.

One stack for the module: the demo (``--speed 20``), its exporters, two Prometheus replicas writing to
VictoriaMetrics single-node (``-dedup.minScrapeInterval``), vmalert with the generated long-window rules, two
clustered Alertmanagers and the stand-in pager. Its tests run in order on that one stack:

1. both replicas write; the store holds one series per target (the ``replica`` label dropped), and the
   Watchdog of both replicas reaches its receiver once;
2. replica 2 is stopped for ``OUTAGE`` seconds, the issue's two minutes, with ``stop-mcp`` and ``api-errors``
   on (the ``outage`` fixture). The checks that need no second replica run while it is down, so the outage
   costs the module no extra time: the store kept one sample per scrape interval of the minute before
   (deduplicated); a dashboard query returns the same value from replica 1 and from the store (within a
   scrape); McpServerDown, fired by replica 1 alone, reaches the pager; vmalert's long-window alert (the
   30-day availability budget, its ``for`` shortened) fires from the store's data and reaches the ticket
   receiver with the labels Prometheus' alerts carry. Then replica 2 is started again: the store's business
   series have no gap over the outage;
3. the store stopped for ``STORE_DOWN`` seconds, then started again: the replicas' write-ahead logs replay the
   window (no gap), ``prometheus_remote_storage_samples_failed_total`` and ``..._dropped_total`` stay 0;
4. every alert above reached its receiver exactly once and was not resolved meanwhile (vmalert's alert
   through the store restart too), after replica 2 came back and fired McpServerDown too.
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
OUTAGE = 120  # seconds replica 2 is down (the two minutes): McpServerDown's `for: 1m` fires within it
DEDUP_WINDOW = 12  # seconds of both replicas' samples, just before the outage, counted in the store
# the store answers for samples older than its -search.latencyOffset (30 s) only
STORE_LAG = 35
STORE_DOWN = 30  # seconds the store is down
BUDGET_ALERT = "ChatcenterApiAvailabilityBudgetExhausted"  # vmalert's, `for: 1h` shortened for the test
MAX_GAP = 2 * SCRAPE + 1.5  # seconds between two stored samples of a series scraped every SCRAPE
# the demo's business series, as our exporter exports them
BUSINESS = r"lookout_(capacity|credits|sla|marketplace|llm|elevenlabs|celery)_.*|celery_.*"


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


def _export(s: Stack, match: str, start: float, end: float) -> dict[tuple[tuple[str, str], ...], list[float]]:
    """The store's raw samples (timestamps, seconds) of the series ``match`` selects, between start and end, by
    label set. Raw: what arrived, without the -search.latencyOffset queries wait for."""
    r = requests.get(f"{s.store_url}/api/v1/export", params={"match[]": match, "start": start, "end": end},
                     timeout=30)
    r.raise_for_status()
    out = {}
    for line in r.text.splitlines():
        d = json.loads(line)
        key = tuple(sorted(d["metric"].items()))
        out[key] = sorted(t / 1000 for t in d["timestamps"])
    return out


def _gaps(s: Stack, start: float, end: float) -> dict[tuple[tuple[str, str], ...], float]:
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
    s.both_write_at = time.time()
    targets = {(t["labels"]["job"], t["labels"]["instance"]) for t in s.targets()}

    def stored() -> list[dict[str, str]]:
        series = [dict(k) for k in _export(s, "up", time.time() - 60, time.time())]
        return series if len(series) >= len(targets) else []
    series = _wait("the store to hold every target", stored, 90)
    # one series per target, whichever replica sent it: the `replica` label is dropped on ingestion
    assert sorted((m["job"], m["instance"]) for m in series) == sorted(targets), series
    assert not [m for m in series if "replica" in m], series
    # both replicas send the Watchdog to both Alertmanagers: the pager gets it once
    _wait("the Watchdog", lambda: s.recorder.received("Watchdog"), 60)
    s.report["dedup"] = {"targets": len(targets)}


@pytest.fixture(scope="module")
def outage(stack: Stack) -> Stack:
    """Replica 2 stopped (and ``stop-mcp``, ``api-errors`` on) once both replicas have written DEDUP_WINDOW
    seconds; the tests taking this fixture run meanwhile, test_replica_outage_leaves_no_gap ends it."""
    s = stack
    if not hasattr(s, "both_write_at"):  # run alone (-k): wait for both replicas here
        for i in (1, 2):
            _wait(f"replica {i} to send samples", lambda i=i: _value(s.query(
                "sum(prometheus_remote_storage_samples_total)", s.replica_url(i))) > 0, 90)
        s.both_write_at = time.time()
    time.sleep(max(0.0, s.both_write_at + DEDUP_WINDOW + SCRAPE - time.time()))
    s.outage_start = time.time()
    s.procs["prometheus-2"].stop()
    s.fault("stop-mcp", True)
    s.fault("api-errors", True, 0.5)
    return s


def _store_has(s: Stack, at: float) -> None:
    """Wait until the store answers for time ``at`` (its -search.latencyOffset has passed)."""
    time.sleep(max(0.0, at + STORE_LAG - time.time()))


def test_the_store_kept_one_sample_per_scrape_interval(outage: Stack) -> None:
    s = outage
    # the queries a board makes, over what both replicas wrote before the outage: one series per target, no
    # `replica` label; up{job="lookout"}, written by both every SCRAPE over the window, deduplicated: one sample
    # per interval, not one per replica and interval
    _store_has(s, s.outage_start)
    doubled = s.query("count by (job, instance) (up) > 1", s.store_url, time=s.outage_start)
    assert not doubled, doubled
    by_replica = s.query("count by (replica) (up)", s.store_url, time=s.outage_start)
    assert [r["metric"] for r in by_replica] == [{}], by_replica
    per_window = _value(s.query(f'count_over_time(up{{job="lookout"}}[{DEDUP_WINDOW}s])', s.store_url,
                                time=s.outage_start))
    s.report.setdefault("dedup", {})[f"samples_in_{DEDUP_WINDOW}s_lookout_up"] = per_window
    assert DEDUP_WINDOW / SCRAPE - 1 <= per_window <= DEDUP_WINDOW / SCRAPE + 1, per_window


def test_a_dashboard_query_gives_the_same_value_from_prometheus_and_the_store(outage: Stack) -> None:
    s = outage
    # a time inside the outage: the store's value there can only be replica 1's sample of the same scrape
    at = s.outage_start + 2 * SCRAPE + 2
    _store_has(s, at)
    compared, differ = [], []
    for where, expr, _ in _panel_queries(s):
        if "[" in expr or "$" in expr or "offset" in expr:
            continue  # gauges read as they are: rates differ by design (MetricsQL does not extrapolate)
        q = _grafana_to_promql(expr)
        local = s.query(q, time=at)
        if len(local) != 1:
            continue
        # the store's value is the sample of replica 1's last scrape before `at`: within one scrape
        window = [float(v) for r in s.api("/api/v1/query_range", s.replica_url(1), query=q, start=at - SCRAPE,
                                            end=at + SCRAPE, step=1)["result"] for _, v in r["values"]]
        stored = _value(s.query(q, s.store_url, time=at))
        compared.append(where)
        if not (min(window) - 1e-9 <= stored <= max(window) + 1e-9):
            differ.append((where, q, stored, min(window), max(window)))
    s.report["same_value"] = {"compared": len(compared), "differ": differ}
    assert len(compared) >= 3, compared
    assert not differ, differ


def test_an_alert_during_the_outage_reaches_the_pager(outage: Stack) -> None:
    s = outage
    # McpServerDown (`for: 1m`) is fired by replica 1 alone while replica 2 is down
    got = _wait("McpServerDown at the pager", lambda: s.recorder.received("McpServerDown", since=s.outage_start),
                OUTAGE)
    s.report["mcp_down_at_pager_after_s"] = round(min(n.received_at for n in got) - s.outage_start, 1)


def test_vmalert_long_window_alert_routes_like_the_others(outage: Stack) -> None:
    s = outage
    got = _wait(f"{BUDGET_ALERT} from vmalert at the pager", lambda: s.recorder.received(BUDGET_ALERT), 120)
    s.report["budget_alert_at_pager_after_s"] = round(min(n.received_at for n in got) - s.outage_start, 1)
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


def test_replica_outage_leaves_no_gap(outage: Stack) -> None:
    s = outage
    s.report["checked_during_outage_s"] = round(time.time() - s.outage_start, 1)
    time.sleep(max(0.0, s.outage_start + OUTAGE - time.time()))
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


def test_each_alert_reached_its_receiver_exactly_once(outage: Stack) -> None:
    s = outage
    # replica 2, back, fires McpServerDown too: still one notification (both Alertmanagers, both replicas)
    _wait("replica 2 firing McpServerDown", lambda: "McpServerDown" in s.firing(s.replica_url(2)), 120)
    time.sleep(10)  # group_wait + group_interval + delivery, several times over
    s.fault("stop-mcp", False)
    s.fault("api-errors", False)
    # once per integration of the receiver (the page receiver posts to PagerDuty, Telegram and a webhook), and
    # never resolved meanwhile: vmalert's alert outlived the store restart (-rule.resendDelay)
    once = {a: {} for a in ("Watchdog", "McpServerDown", BUDGET_ALERT)}
    for a, kinds in once.items():
        for n in s.recorder.received(a):
            if n.received_at >= s.t0:
                key = f"{n.receiver}/{n.kind}/{n.alerts.get(a, n.status)}"
                kinds[key] = kinds.get(key, 0) + 1
    s.report["notifications"] = once
    assert all(kinds and set(kinds.values()) == {1} for kinds in once.values()), once
    # no alert of Prometheus names the replica it came from
    for n in s.recorder.snapshot():
        assert not re.search(r'"replica"\s*:', json.dumps(n.body)), n.body
