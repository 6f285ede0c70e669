"""End to end: the whole stack run natively (``lookout.stack.native``) against the live demo.

One stack for the module (modules are scheduled whole on one xdist worker): Debian's Prometheus and two
clustered Alertmanagers with the repository's configuration (addresses rewritten, intervals shortened by
configuration only), Debian's standard exporters, our exporter, the demo at ``--speed 20``, and the stand-in
pager recording what each receiver gets. In order:

1. every target is up (Prometheus scrapes no Grafana, so the native stack has a counterpart for every job);
2. no alert other than Watchdog fires on the healthy demo for 3 minutes;
3. the demo's faults, applied in compatible batches: each fault's alert (``lookout.demo.fault_alerts.FAULT_ALERTS``)
   fires and reaches its receiver within a bound derived from its ``for`` and the intervals, then resolves
   after the fault is reverted (or, for alerts looking back further than the budget, the signal they read
   is seen back to normal: ``RECOVERED``);
4. every dashboard panel's query returned data at some point of the run (report: which did not, and why).

Batch A runs here; batches B and C run on a second stack (``test_e2e_faults_bc.py``) and ``long`` on a
third (``test_e2e_faults_long.py``), each a module of its own so the three stacks run side by side.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from lookout.stack.native import Options, Stack

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

SPEED = 20  # demo time compression: beat intervals, SLA deadlines, call lengths
SCRAPE = 2  # seconds: scrape and evaluation interval
EXPORTER_INTERVALS = {"worker_pools": "1s", "celery": "1s", "credits": "2s", "capacity": "2s",
                      "marketplace_sync": "2s", "sla": "2s", "llm_spend": "2s", "deepseek": "3s",
                      "elevenlabs": "3s", "tokens": "3s", "app_exceptions": "1s", "releases": "2s", "pg_activity": "2s",
                      "backups": "2s"}
CHECK_SETTINGS = {
    # credits: a call is "missing its end" after the longest compressed call (180 s / SPEED = 9 s) plus margin,
    # and the reconciliation window is short so reverted data faults age out and the alert can resolve
    "credits": {"max_call_length": "20s", "charge_grace": "10s", "window": "60s"},
    # the fake ElevenLabs dates a call back by its nominal (uncompressed, up to 180 s) length
    "elevenlabs": {"conversations": {"grace": "20s", "lookback": "240s"}},
    # the demo's backup job runs every BACKUP_INTERVAL (not compressed by SPEED: a dump every 6 s is no backup)
    "backups": {"expected_interval": "30s"},
}
BACKUP_INTERVAL = 30
AM_TIMERS = {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "1m"}
HEALTHY_SECONDS = 180
SETTLE = 2 * SCRAPE + 15  # exporter refresh + scrape + evaluation + Alertmanager group_wait + delivery

# Batches of faults that do not mask each other's alert (a dead Gunicorn master leaves no calls to drop; a
# dead Celery worker creates no interactions to breach; a dead Uvicorn master serves no errors; held
# database connections starve the chat center's tasks). Each module runs its batches on its own stack:
# A here (<= 8 min with the healthy check), B and C in test_e2e_faults_bc.py (~3.5 min each), `long` in
# test_e2e_faults_long.py (a 300 s lag threshold + for: 2m; for: 5m).
BATCHES: dict[str, list[str]] = {
    "A": ["drop-end-webhooks", "wrong-charges", "stop-mcp", "kill-celery-worker", "llm-402", "api-errors",
          "kill-uvicorn-worker"],
    "B": ["kill-gunicorn-master", "kill-uvicorn-master", "hold-db-connections", "stop-beat"],
    # llm-spend-spike needs analysis calls, so new chats from a working marketplace sync: not with `long`
    "C": ["kill-gunicorn-worker", "api-slow", "sla-unanswered", "llm-spend-spike"],
    # broken-deploy breaks the voice API only: the chat center's sync, spend and capacity signals stay clean.
    # block-db waits out the 300 s lock-wait threshold, as long as the marketplace lag: it touches only a table of
    # its own in the voice database, miss-backup only the backup job
    "long": ["marketplace-slow", "marketplace-429", "marketplace-5xx", "grow-capacity", "broken-deploy", "block-db",
             "miss-backup"],
}
MODULE_BATCHES = ["A"]  # the batches of this module; the other e2e modules set their own
# extra time for a fault's signal to build up before the alert's `for:` starts counting
WARMUP = {
    "kill-uvicorn-worker": 60,  # restarts: 3 kills at 15 s intervals before increase10m > 2
    "kill-gunicorn-worker": 60,
    # calls end, then the conversations grace before the cross-check counts them; it reached its receiver after 208 s
    # and 254 s in two runs (bound 299 s then): the margin absorbs a loaded CI machine
    "drop-end-webhooks": 160,
    "wrong-charges": 60,
    "sla-unanswered": 150,  # new interactions arrive and their compressed deadlines (30-90 s) pass
    "api-errors": 90,  # the 5m error ratio of a few requests per second
    "api-slow": 90,
    "hold-db-connections": 10,
    # `long`: the sync lag must first pass its 300 s threshold; spend and capacity need their data to grow
    "marketplace-slow": 320, "marketplace-429": 320, "marketplace-5xx": 320,
    "llm-spend-spike": 120, "grow-capacity": 60,
    "block-db": 300,  # the pg_lock_wait_seconds threshold
    "miss-backup": 40,  # the newest backup passes the expected interval + 25% (37.5 s)
}
# how long after the revert the alert may keep firing: the longest range window its rule looks back over
RESOLVE = {"api-errors": 330, "api-slow": 330, "kill-uvicorn-worker": 630, "kill-gunicorn-worker": 630,
           "drop-end-webhooks": 280,  # ELEVENLABS_LOOKBACK + grace + settle
           "wrong-charges": 100,  # CREDITS_WINDOW + MAX_CALL_LENGTH + settle
           "llm-spend-spike": 930,  # the 15m rate window of provider:lookout_llm_spend_usd:rate15m + settle
           "broken-deploy": 330}  # AppImportError's 5m increase window + settle
RESOLVE_DEFAULT = 90
RESOLVE_BUDGET = float(os.environ.get("LOOKOUT_E2E_RESOLVE_BUDGET", "150"))  # s a batch waits for resolutions
# The alerts of these faults look back 5-15 minutes (RESOLVE): waiting for their resolution would blow the
# suite's time, so after the revert the test checks instead, within the budget, that the signal the alert reads
# is back to normal on the live Prometheus: a "still faulty" query (the alert's condition over a 1m window)
# must come back empty at least RECOVERED_AFTER s after the revert, while the metric it reads is present (so
# that emptiness is not a missing series). This proves that reverting the fault removed its effect from the
# live data; that the committed rule then resolves once its longer window holds only such data is proven by
# the promtool unit tests of the rules (prometheus/tests, generated from examples/demo.yaml and monitoring/catalog/).
_RESTARTED_LAST_MINUTE = ("sum by (host, platform, service, server) "
                          "(increase(lookout_worker_pool_worker_restarts_total[1m]))"
                          " > 0", "lookout_worker_pool_worker_restarts_total")  # a worker of the pool restarted
RECOVERED: dict[str, tuple[str, str]] = {  # fault -> (still-faulty query, metric that must be present)
    "api-errors": ('1 - (sum by (host) (rate(http_requests_total{job="chatcenter_api",path!~"/api/(health|metrics)",'
                   'status_code!~"5.."}[1m])) / sum by (host) (rate(http_requests_total{job="chatcenter_api",'
                   'path!~"/api/(health|metrics)"}[1m]))) > 0.05', 'http_requests_total{job="chatcenter_api"}'),
    # the lowest threshold of the latency burn-rate page (0.06), over 1m
    "api-slow": ('1 - (sum by (host) (rate(http_request_duration_seconds_bucket{job="chatcenter_api",'
                 'path!~"/api/(health|metrics)",le="0.5"}[1m])) / sum by (host) (rate('
                 'http_request_duration_seconds_count{job="chatcenter_api",path!~"/api/(health|metrics)"}[1m])))'
                 ' > 0.06', 'http_request_duration_seconds_count{job="chatcenter_api"}'),
    "kill-uvicorn-worker": _RESTARTED_LAST_MINUTE,
    "kill-gunicorn-worker": _RESTARTED_LAST_MINUTE,
    # the spend rate over the alert's threshold and above 3x its rate just before the fault ({before}: an
    # offset to the minute before `on`); `unless` keeps it faulty when there is no earlier rate to compare
    "llm-spend-spike": ("sum by (host, provider) (rate(lookout_llm_spend_usd_total[1m])) * 86400 > 1 unless "
                        "sum by (host, provider) (rate(lookout_llm_spend_usd_total[1m])) <= 3 * "
                        "sum by (host, provider) (rate(lookout_llm_spend_usd_total[1m] {before}))",
                        "lookout_llm_spend_usd_total"),
    # no import error logged in the last minute (the rolled-back release imports what it needs)
    "broken-deploy": ('sum by (host, service) (increase(lookout_app_exceptions_total{exception=~"ModuleNotFoundError|'
                      'ImportError"}[1m])) > 0', "lookout_app_exceptions_total"),
    # a gauge over the exporter's 240 s lookback, not a rate: normal once it falls (the dropped calls age out
    # and no new ones join them) or is zero
    "drop-end-webhooks": ("lookout_elevenlabs_conversations_missing_end_event > 0 and "
                          "deriv(lookout_elevenlabs_conversations_missing_end_event[1m]) >= 0",
                          "lookout_elevenlabs_conversations_missing_end_event"),
}
# what the notification of a fault's alert must say besides the alert (regex on the received body)
NOTIFICATION_SAYS = {"broken-deploy": r"Started [0-9hms. ]+ after deploy [0-9a-f]{7} of voice-api\."}
RECOVERED_AFTER = 60  # s: the 1m windows then hold (almost) only samples taken after the revert
# fault values other than the demo's defaults: half the end webhooks dropped keeps a few calls in the short
# reconciliation window at every moment (no flapping), and leaves the other half for wrong-charges
FAULT_VALUES = {"drop-end-webhooks": 0.5, "llm-spend-spike": 10000}


def _dur(text: str | None) -> float:
    if not text:
        return 0.0
    return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[u]
               for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", str(text)))


@dataclass
class FaultResult:
    fault: str
    alert: str
    receiver: str
    batch: str
    on_at: float = 0.0
    fired_after: float | None = None  # seconds after `on` until Prometheus fired it
    received_after: float | None = None  # ... until the intended receiver got it
    received_by: list[str] = field(default_factory=list)
    off_at: float = 0.0
    resolved_after: float | None = None  # seconds after `off` until the receiver got the resolution
    recovered_after: float | None = None  # seconds after `off` until RECOVERED saw the signal back to normal
    notification_says: bool | None = None  # NOTIFICATION_SAYS matched a body the receiver got
    faulty_at_off: bool | None = None  # RECOVERED's query still showed the fault just before the revert (report)
    bound: float = 0.0
    resolve_bound: float = 0.0
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def stack(request):
    missing = [b for b in ("prometheus", "prometheus-alertmanager", "redis-server") if not shutil.which(b)]
    assert not missing, f"missing {missing}: run scripts/install-deps"
    opts = Options(
        scrape_interval=f"{SCRAPE}s", evaluation_interval=f"{SCRAPE}s", alertmanager_timers=AM_TIMERS,
        # more calls and API users than the defaults: enough samples in the short windows for stable ratios
        demo_args=["--speed", str(SPEED), "--call-rate", "12", "--user-rate", "120",
                   "--backup-interval", str(BACKUP_INTERVAL)],
        # the demo site (examples/demo.yaml) with faster refreshes; the exporter's view of the beat schedule is
        # the demo's, compressed by the same factor
        exporter_intervals=EXPORTER_INTERVALS, beat_speed=SPEED, check_settings=CHECK_SETTINGS, start_timeout=240,
    )
    with Stack(opts) as s:
        s.t0 = time.time()
        s.report = {"notes": s.notes, "started_in_s": round(s.started_in, 1)}
        yield s
        name = request.module.__name__.rsplit(".", 1)[-1]
        # a result, not a temporary file: one fixed name a module, overwritten by the next run, in the temporary
        # directory the session started with (the session's own TMPDIR must end empty)
        where = os.environ.get("LOOKOUT_E2E_REPORT_DIR") or os.environ.get("PYTEST_DEBUG_TEMPROOT") or s.run_dir.parent
        path = Path(where) / f"lookout-{name}-report.json"
        path.write_text(json.dumps(s.report, indent=2, default=str))
        print(f"\ne2e report: {path}\n{json.dumps(s.report, indent=2, default=str)}")


def test_every_target_up(stack: Stack) -> None:
    expected = {j["job_name"] for j in stack.prometheus_conf["scrape_configs"]}
    deadline = time.monotonic() + 90
    while True:
        targets = stack.targets()
        jobs = {t["labels"]["job"] for t in targets}
        down = [t for t in targets if t["health"] != "up"]
        if (jobs == expected and not down) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert jobs == expected, expected - jobs
    assert not down, [(t["labels"]["job"], t["scrapeUrl"], t.get("lastError")) for t in down]


def test_no_false_pages_on_the_healthy_demo(stack: Stack) -> None:
    start = time.time()
    seen: dict[str, list[dict]] = {}
    while time.time() - start < HEALTHY_SECONDS:
        for name, alerts in stack.firing().items():
            if name != "Watchdog":
                seen.setdefault(name, alerts)
        time.sleep(SCRAPE)
    notified = {a for n in stack.recorder.snapshot() if n.received_at >= stack.t0 for a in n.alerts}
    pending = sorted(stack.pending_or_firing())
    stack.report["healthy"] = {"seconds": HEALTHY_SECONDS, "firing": sorted(seen), "notified": sorted(notified),
                               "pending_at_end": pending}
    assert not seen, {k: [a["labels"] for a in v] for k, v in seen.items()}
    assert notified <= {"Watchdog"}, notified
    assert "Watchdog" in notified, "the heartbeat receiver got no Watchdog"


def _expectations() -> dict[str, tuple[str, str]]:
    from lookout.demo.fault_alerts import FAULT_ALERTS

    return {f: (e.alert, e.receiver) for f, e in FAULT_ALERTS.items()}


def _all_faults() -> list[str]:
    from lookout.demo.faults import FAULTS

    return sorted(FAULTS)


def _batch_of(fault: str) -> str | None:
    return next((b for b, fs in BATCHES.items() if fault in fs), None)


def _run_batch(s: Stack, batch: str) -> dict[str, FaultResult]:
    expect = _expectations()
    rules = s.alert_rules()
    results: dict[str, FaultResult] = {}
    for fault in BATCHES[batch]:
        alert, receiver = expect[fault]
        rule = rules[alert]
        r = FaultResult(fault, alert, receiver, batch)
        r.bound = _dur(rule.get("for")) + WARMUP.get(fault, 0) + SETTLE + 60  # slack for a loaded machine
        r.resolve_bound = RESOLVE.get(fault, RESOLVE_DEFAULT)
        results[fault] = r
    for r in results.values():
        r.on_at = time.time()
        s.fault(r.fault, True, FAULT_VALUES.get(r.fault))
    # wait until every alert fired and reached its receiver, or its bound passed
    deadline = max(r.on_at + r.bound for r in results.values())
    while time.time() < deadline:
        firing = s.firing()
        now = time.time()
        for r in results.values():
            if r.fired_after is None and r.alert in firing:
                r.fired_after = round(now - r.on_at, 1)
            got = [n for n in s.recorder.received(r.alert, "firing", since=r.on_at)]
            if r.received_after is None and any(n.receiver == r.receiver for n in got):
                r.received_after = round(min(n.received_at for n in got if n.receiver == r.receiver) - r.on_at, 1)
            r.received_by = sorted({n.receiver for n in got})
            if r.fault in NOTIFICATION_SAYS and not r.notification_says:
                r.notification_says = any(re.search(NOTIFICATION_SAYS[r.fault], json.dumps(n.body))
                                          for n in got if n.receiver == r.receiver)
        if all(r.received_after is not None for r in results.values()):
            break
        time.sleep(1)
    for r in results.values():
        if r.fault in RECOVERED:  # evidence that the query sees the fault, so that its emptiness later means something
            r.faulty_at_off = not _recovered(s, r, time.time())
    off_at = time.time()
    for r in results.values():
        s.fault(r.fault, False)
    # resolutions (or, past the budget, recoveries), within each alert's bound and the time this batch may take
    deadline = off_at + min(max(r.resolve_bound for r in results.values()), RESOLVE_BUDGET)
    for r in results.values():
        r.off_at = off_at
    while time.time() < deadline:
        now = time.time()
        for r in results.values():
            if r.resolved_after is None and r.received_after is not None:
                done = [n for n in s.recorder.received(r.alert, "resolved", since=off_at) if n.receiver == r.receiver]
                if done:
                    r.resolved_after = round(min(n.received_at for n in done) - off_at, 1)
            if (r.resolve_bound > RESOLVE_BUDGET and r.recovered_after is None and r.fired_after is not None
                    and now - off_at >= RECOVERED_AFTER and _recovered(s, r, now)):
                r.recovered_after = round(now - off_at, 1)
        if all(r.resolved_after is not None or r.received_after is None
               or (r.resolve_bound > RESOLVE_BUDGET and r.recovered_after is not None) for r in results.values()):
            break
        time.sleep(1)
    # whatever still fires must have cleared before the next batch starts
    return results


def _recovered(s: Stack, r: FaultResult, now: float) -> bool:
    """RECOVERED's still-faulty query of the fault is empty while the metric it reads is present."""
    still_faulty, metric = RECOVERED[r.fault]
    query = still_faulty.replace("{before}", f"offset {int(now - r.on_at) + 5}s")
    return bool(s.query(metric)) and not s.query(query)


@pytest.fixture(scope="module")
def fault_results(stack: Stack, request) -> dict[str, FaultResult]:
    wanted = list(request.module.MODULE_BATCHES)
    results: dict[str, FaultResult] = {}
    for batch in wanted:
        if results:  # let the previous batch's alerts clear
            time.sleep(30)
        results.update(_run_batch(stack, batch))
    stack.report["faults"] = {f: vars(r) for f, r in results.items()}
    return results


def test_every_fault_has_an_expected_alert_and_a_batch() -> None:
    expect = _expectations()
    assert set(_all_faults()) == set(expect)
    assert sorted(f for fs in BATCHES.values() for f in fs) == sorted(expect)
    # a fault whose resolution the batch does not wait for has its signal checked instead
    assert {f for f, bound in RESOLVE.items() if bound > RESOLVE_BUDGET} <= set(RECOVERED)


def faults_of(batches: list[str]) -> list[str]:
    return [f for b in batches for f in BATCHES[b]]


@pytest.mark.parametrize("fault", faults_of(MODULE_BATCHES))
def test_fault_alert_fires_reaches_receiver_and_resolves(stack: Stack, fault_results: dict, fault: str) -> None:
    check_fault(fault_results, fault)


def check_fault(fault_results: dict, fault: str) -> None:
    r: FaultResult = fault_results[fault]
    assert r.fired_after is not None, f"{r.alert} did not fire within {r.bound:.0f}s of {fault} on"
    assert r.received_after is not None, (f"{r.alert} fired after {r.fired_after}s but {r.receiver} did not get "
                                          f"it within {r.bound:.0f}s (received by: {r.received_by})")
    assert r.received_after <= r.bound, f"{r.alert} reached {r.receiver} after {r.received_after}s > {r.bound:.0f}s"
    if r.fault in NOTIFICATION_SAYS:
        assert r.notification_says, f"{r.receiver} got no {r.alert} saying {NOTIFICATION_SAYS[fault]}"
    if r.resolve_bound <= RESOLVE_BUDGET:
        if r.resolved_after is None:
            pytest.fail(f"{r.alert} did not resolve within {r.resolve_bound:.0f}s of {fault} off")
    elif r.resolved_after is None and r.recovered_after is None:
        pytest.fail(f"{r.alert}'s signal was not back to normal within {RESOLVE_BUDGET:.0f}s of {fault} off "
                    f"(still faulty: {RECOVERED[fault][0]})")


# ---- what the paged person reads -----------------------------------------------------------------
def check_notifications(stack: Stack, fault_results: dict) -> None:
    """Every notification received during this module's fault batches: every link in it opens on the running
    stack (runbook anchor present, dashboard uid known to the stand-in Grafana, Prometheus and Alertmanager at
    their external URLs), every value shown is the alert's value in Prometheus then, PagerDuty keeps one dedup
    key an incident."""
    from tests.support.notifications import check_links, check_pagerduty_dedup, check_values

    since = min(r.on_at for r in fault_results.values())
    got = [n for n in stack.recorder.snapshot() if n.received_at >= since and n.receiver in ("page", "ticket")]
    opened, bad_links = check_links(got)
    compared, bad_values = check_values(stack, got, step=SCRAPE)
    bad_dedup = check_pagerduty_dedup(got)
    stack.report["notifications"] = {
        "received": len(got), "by_kind": {k: sum(n.kind == k for n in got) for k in sorted({n.kind for n in got})},
        "urls_opened": opened, "bad_links": bad_links, "values_compared": compared, "bad_values": bad_values,
        "pagerduty_dedup": bad_dedup}
    assert got, "no page or ticket received during the fault batches"
    kinds = {"webhook", "telegram"} | ({"pagerduty"} if any(n.receiver == "page" for n in got) else set())
    assert kinds <= {n.kind for n in got}, {n.kind for n in got}
    assert opened and not bad_links, bad_links
    assert compared and not bad_values, bad_values
    assert not bad_dedup, bad_dedup


def test_every_link_opens_and_every_value_is_prometheus(stack: Stack, fault_results: dict) -> None:
    check_notifications(stack, fault_results)


# ---- dashboards ----------------------------------------------------------------------------------
# panels that cannot have data in the native run, and why (reported, not failed)
KNOWN_NO_DATA = {
    r"docker_container": "no Docker engine in the native stack: the containers collector is disabled",
    r"lookout_llm_unpriced_calls_total": "published only once a call uses a model the price table cannot price: none "
                                 "in this run",
    r"pg_archiver_": "the demo's PostgreSQL does not archive WAL (archive_mode off); tests/test_pg_ops.py runs one "
                    "that does",
}


def _panel_queries(stack: Stack) -> list[tuple[str, str, str]]:
    out = []
    for f in sorted((stack.generated / "dashboards" / "json").glob("*.json")):  # the boards of this run's site
        d = json.loads(f.read_text())

        def walk(panels: list[dict]):
            for p in panels:
                yield p
                yield from walk(p.get("panels", []) or [])

        for p in walk(d.get("panels", [])):
            for t in p.get("targets", []) or []:
                if t.get("expr"):
                    out.append((f"{d.get('title', f.stem)} / {p.get('title')}", t["expr"], t.get("refId", "")))
    return out


def _grafana_to_promql(expr: str) -> str:
    expr = expr.replace("$__rate_interval", f"{4 * SCRAPE * 4}s").replace("$__interval", f"{SCRAPE}s")
    expr = expr.replace("$__range", "10m")
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}?", ".*", expr)


_FUNCS = {"sum", "rate", "irate", "increase", "by", "without", "on", "ignoring", "group_left", "group_right",
          "and", "or", "unless", "avg", "min", "max", "count", "topk", "bottomk", "time", "vector", "scalar",
          "histogram_quantile", "predict_linear", "clamp_min", "clamp_max", "abs", "deriv", "delta", "label_replace",
          "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "count_over_time", "absent", "le",
          "offset", "bool", "round", "ceil", "floor", "changes", "resets", "timestamp", "sort", "sort_desc", "inf",
          "nan", "quantile_over_time", "last_over_time", "days_in_month", "day_of_month", "hour", "minute"}


def _metric_names(expr: str, records: dict[str, str], depth: int = 0) -> set[str]:
    """Plain metric names a query reads, through the recording rules it uses."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values are not names
    expr = re.sub(r"\{[^}]*\}", "{}", expr)  # nor are label names inside matchers
    # nor are the label lists of by/without/on/ignoring/group_left/group_right
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=[\[{)\s,/*+<>=-]|$)", expr):
        name = m.group(1)
        if name in _FUNCS or re.fullmatch(r"\d+[smhdwy]?", name):
            continue
        if name in records and depth < 5:
            names |= _metric_names(records[name], records, depth + 1)
        elif ":" not in name:
            names.add(name)
    return names


def test_every_dashboard_panel_returns_data(stack: Stack, fault_results: dict) -> None:
    """Runs last, over the whole run (healthy + faults), so error and fault panels had their chance.

    A panel without data fails the test when a metric it reads never existed in this Prometheus (unless
    KNOWN_NO_DATA explains it); one whose metrics exist but that matched no series (no 502 happened in
    the batches of this run, say) is reported as "no events".
    """
    start, end = stack.t0, time.time()
    records = {r["record"]: r["expr"] for f in stack.rule_files()
               for g in (yaml.safe_load(f.read_text()) or {}).get("groups", []) for r in g["rules"]
               if "record" in r}
    present = set(stack.api("/api/v1/label/__name__/values", start=start, end=end))
    no_data: dict[str, str] = {}
    for title, expr, ref in _panel_queries(stack):
        q = _grafana_to_promql(expr)
        try:
            res = stack.api("/api/v1/query_range", query=q, start=start, end=end, step=10)["result"]
        except Exception as exc:  # a query Prometheus 2.42 rejects is a finding too
            no_data[f"{title} [{ref}]"] = f"query error: {exc}"
            continue
        if not res:
            no_data[f"{title} [{ref}]"] = q
    explained, no_events, broken = {}, {}, {}
    for key, q in no_data.items():
        why = next((w for pattern, w in KNOWN_NO_DATA.items() if re.search(pattern, q)), None)
        missing = sorted(_metric_names(q, records) - present) if not q.startswith("query error") else ["?"]
        if why:
            explained[key] = why
        elif not missing:
            no_events[key] = f"metrics exist, no matching series in this run: {q}"
        else:
            broken[key] = f"never published here: {', '.join(missing)} ({q})"
    stack.report["dashboard_panels"] = {"queries": len(_panel_queries(stack)), "no_data_explained": explained,
                                        "no_events_in_this_run": no_events, "no_data_unexplained": broken}
    assert not broken, json.dumps(broken, indent=1)


def test_the_stack_runs_exactly_the_files_generated_for_its_site(stack: Stack) -> None:
    """No rewriting: Prometheus and the Alertmanagers load what `lookout generate` writes for the demo site with
    this machine's addresses; jobs, rules and routing are the demo site's, plus the TLS probe of the chat API
    (served over HTTPS only here)."""
    from lookout.monitoring import build

    files = build.site_files(stack.site)
    assert (stack.generated / "prometheus" / "prometheus.yml").read_text() == files["prometheus/prometheus.yml"]
    loaded = yaml.safe_load(stack.api("/api/v1/status/config")["yaml"])
    jobs = [j["job_name"] for j in loaded["scrape_configs"]]
    assert jobs == [j["job_name"] for j in stack.prometheus_conf["scrape_configs"]]
    demo = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    assert set(jobs) - {j["job_name"] for j in demo["scrape_configs"]} == {"blackbox_tls"}
    assert {j["job_name"] for j in demo["scrape_configs"]} <= set(jobs)
    assert {f.name for f in stack.rule_files()} >= {Path(f).name for f in demo["rule_files"]}
    # monitoring.gogc, read from the generated lookout.env as the systemd drop-ins and compose read it
    gogc = stack.site.monitoring.gogc
    for name, value in (("prometheus", gogc.prometheus), ("alertmanager-1", gogc.alertmanager)):
        environ = Path(f"/proc/{stack.procs[name].popen.pid}/environ").read_bytes().split(b"\0")
        assert f"GOGC={value}".encode() in environ, name
    am, committed = stack.alertmanager_conf, yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())
    assert am["inhibit_rules"] == committed["inhibit_rules"]
    assert [r["name"] for r in am["receivers"]] == [r["name"] for r in committed["receivers"]]
