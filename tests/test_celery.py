"""The celery collector against real Redis, real ``celery worker`` and ``celery beat`` processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis

from tests.support.exporter import ROOT, exporter, promtool_check_metrics, run_cli, samples, write_config
from tests.support.servers import redis_server


def value(s, metric: str, /, **labels: str) -> float | None:
    """Like tests.support.exporter.value, but a label may be called ``name``."""
    return s.get((metric, tuple(sorted(labels.items()))))


CELERY = str(Path(sys.executable).with_name("celery"))

APP = """
from celery import Celery
from lookout.exporters.celery_hooks import install

app = Celery("tapp", broker={url!r})
app.conf.worker_prefetch_multiplier = 2
app.conf.broker_transport_options = {{"priority_steps": [0, 3, 6, 9], "global_keyprefix": {prefix!r}}}
app.conf.beat_schedule = {{"tick-every-2s": {{"task": "tapp.tick", "schedule": 2.0}}}}
app.conf.worker_hijack_root_logger = False
install(app, record_success={hook_success})


@app.task(name="tapp.tick")
def tick():
    return 1


@app.task(name="tapp.nap")
def nap(seconds):
    import time
    time.sleep(seconds)
"""


def _write_app(tmp_path: Path, url: str, hook_success: bool = False, prefix: str = "") -> Path:
    (tmp_path / "tapp.py").write_text(textwrap.dedent(APP.format(url=url, hook_success=hook_success, prefix=prefix)))
    return tmp_path


class Procs:
    """Celery processes started by a test, each in its own process group, always killed."""

    def __init__(self, cwd: Path):
        self.cwd, self.procs = cwd, {}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        # TMPDIR: what a SIGKILLed worker leaves (billiard's pymp-*) stays in the test's own folder
        env = {**os.environ, "PYTHONPATH": f"{self.cwd}{os.pathsep}{ROOT}", "TMPDIR": str(self.cwd)}
        log = open(self.cwd / f"{name}.log", "a")  # noqa: SIM115
        p = subprocess.Popen([CELERY, "-A", "tapp", *args], cwd=self.cwd, env=env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = p
        return p

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs.pop(name, None)
        if p is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(10)

    def kill_all(self) -> None:
        for name in list(self.procs):
            self.kill(name)


def _publish(cwd: Path, code: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT}"}
    subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True, timeout=60)


def _cfg(tmp_path: Path, url: str, **extra) -> Path:
    celery = {"broker_url": url, "interval": "0.5s", **extra}
    return write_config(tmp_path / "exporter.yaml", {"celery": celery})


@pytest.mark.parametrize("prefix", ["", "pfx:"])
def test_priority_subqueues_malformed_json_and_stamped_age(tmp_path, redis_srv, prefix):
    url = redis_srv.url.rsplit("/", 1)[0] + "/3"
    r = redis.Redis.from_url(url)
    r.flushdb()
    cwd = _write_app(tmp_path, url, prefix=prefix)
    # 3 messages at each priority step, none consumed; the hook stamps their enqueue time
    _publish(cwd, "import tapp\nfor p in (0, 3, 6, 9):\n for _ in range(3): tapp.nap.apply_async((1,), priority=p)")
    assert {k.decode() for k in r.keys(prefix + "celery*")} == {
        prefix + k for k in ("celery", "celery\x06\x163", "celery\x06\x166", "celery\x06\x169")}
    r.lpush(prefix + "junk", b"{not json")
    time.sleep(1.1)
    cfg = _cfg(tmp_path, url, queues=["celery", "junk"], events=False, global_keyprefix=prefix or None)
    res = run_cli("once", "--config", str(cfg))
    assert res.returncode == 0, res.stderr
    s = samples(res.stdout)
    assert value(s, "celery_queue_length", queue_name="celery") == 12
    assert value(s, "lookout_celery_queue_reserved", queue_name="celery") == 0
    assert value(s, "lookout_celery_queue_oldest_message_age_seconds", queue_name="celery") >= 1.0
    assert value(s, "lookout_celery_queue_unparseable_messages", queue_name="celery") == 0
    assert value(s, "celery_queue_length", queue_name="junk") == 1
    assert value(s, "lookout_celery_queue_unparseable_messages", queue_name="junk") == 1
    assert value(s, "lookout_collector_up", collector="celery") == 1
    assert promtool_check_metrics(res.stdout) == ""


def test_worker_beat_reserved_freshness_restart_and_sigkill(tmp_path, redis_srv):
    url = redis_srv.url.rsplit("/", 1)[0] + "/4"
    redis.Redis.from_url(url).flushdb()
    cwd = _write_app(tmp_path, url)
    procs = Procs(cwd)
    cfg = _cfg(tmp_path, url, periodic_tasks={"tick": "2s"})
    try:
        procs.start("worker", "worker", "-E", "--pool", "prefork", "--concurrency", "1", "--without-mingle",
                    "--without-gossip", "--heartbeat-interval", "1", "-n", "w1@test", "--loglevel", "warning")
        procs.start("beat", "beat", "-s", str(tmp_path / "beat-schedule"), "--loglevel", "warning")
        with exporter(cfg) as exp:
            s = exp.wait_for(lambda s: value(s, "celery_worker_up", hostname="w1@test") == 1, timeout=60)
            assert value(s, "lookout_celery_periodic_task_interval_seconds", name="tick") == 2
            first = exp.wait_for(lambda s: value(s, "lookout_celery_task_succeeded_total", name="tick"), timeout=60)
            t1 = value(first, "lookout_celery_task_last_success_timestamp_seconds", name="tick")
            exp.wait_for(lambda s: value(s, "lookout_celery_task_last_success_timestamp_seconds", name="tick") > t1,
                         timeout=30)
            assert value(exp.wait_for(lambda s: value(s, "lookout_celery_task_runtime_seconds_count", name="tick")),
                         "lookout_celery_task_runtime_seconds_count", name="tick") >= 1

            # beat stopped: the timestamp stops advancing
            procs.kill("beat")
            time.sleep(2.5)  # let an already published tick finish
            stopped = value(samples(exp.metrics()), "lookout_celery_task_last_success_timestamp_seconds", name="tick")
            time.sleep(3)
            assert value(samples(exp.metrics()), "lookout_celery_task_last_success_timestamp_seconds",
                         name="tick") == stopped

            # an ETA task, then one task that keeps the only pool process busy and three that wait behind it.
            # FIFO: the worker receives the ETA task first and holds it unacked, runs nap(60) (acked when the
            # pool accepts it) and prefetches nap(0)s up to its window; the rest stay ready.
            _publish(cwd, "import tapp\ntapp.nap.apply_async((0,), countdown=300)\ntapp.nap.delay(60)\n"
                          "for _ in range(3): tapp.nap.delay(0)")
            r = redis.Redis.from_url(url)

            def held() -> tuple[int, bool]:
                """Truth from the broker: unacked messages, and whether the ETA task is one of them."""
                msgs = [json.loads(raw)[0] for raw in r.hvals("unacked")]
                return r.zcard("unacked_index"), any(m["headers"].get("eta") for m in msgs)

            def settled(s) -> bool:
                truth, eta_held = held()
                return (eta_held and value(s, "celery_worker_tasks_active", hostname="w1@test") == 1
                        and value(s, "lookout_celery_queue_reserved", queue_name="celery") == truth
                        and value(s, "celery_queue_length", queue_name="celery") == r.llen("celery"))

            s = exp.wait_for(settled, timeout=30)
            reserved = value(s, "lookout_celery_queue_reserved", queue_name="celery")
            ready = value(s, "celery_queue_length", queue_name="celery")
            print(f"reserved {reserved:.0f} (the ETA task included), ready {ready:.0f}")
            # the ETA task plus at least one prefetched nap(0); all but the running one are ready or reserved
            assert reserved >= 2
            assert ready + reserved == 4
            assert value(s, "lookout_celery_unacked_messages") == reserved
            assert value(s, "lookout_celery_unacked_unattributed_messages") == 0
            assert value(s, "lookout_celery_queue_oldest_reserved_age_seconds", queue_name="celery") >= 0
            assert promtool_check_metrics(exp.metrics()) == ""

        # restart: the persisted timestamp survives, neither reset nor moved forward
        with exporter(cfg) as exp:
            s = exp.wait_for(lambda s: value(s, "lookout_celery_task_last_success_timestamp_seconds", name="tick")
                             is not None)
            assert value(s, "lookout_celery_task_last_success_timestamp_seconds", name="tick") == pytest.approx(stopped)
            exp.wait_for(lambda s: value(s, "celery_worker_up", hostname="w1@test") == 1, timeout=30)

            killed = time.monotonic()
            procs.kill("worker", signal.SIGKILL)
            exp.wait_for(lambda s: value(s, "celery_worker_up", hostname="w1@test") == 0, timeout=30, interval=0.1)
            took = time.monotonic() - killed
            print(f"worker_up went to 0 {took:.2f}s after SIGKILL")
            # The bound is 3 heartbeat intervals (3 s at --heartbeat-interval 1). The code's worst case is
            # 2 intervals (heartbeat_expire_factor) after the last heartbeat, which precedes the kill, plus one
            # refresh (0.5 s): 2.5 s. On top of the bound, 0.5 s for this test's own measuring: it polls every
            # 0.1 s and each poll is an HTTP scrape (tens of ms, more on a loaded machine).
            assert took < 3 * 1.0 + 0.5, took
            time.sleep(1)
            s = samples(exp.metrics())
            assert value(s, "celery_worker_up", hostname="w1@test") == 0  # kept for alerts
            assert value(s, "lookout_celery_workers") == 0
    finally:
        procs.kill_all()


def test_hook_records_success_without_events_and_redis_outage(tmp_path):
    with redis_server() as srv:
        cwd = _write_app(tmp_path, srv.url, hook_success=True)
        procs = Procs(cwd)
        cfg = _cfg(tmp_path, srv.url, periodic_tasks={"tapp.tick": "2s"})
        try:
            # no -E: heartbeats still arrive, success times come from the hook
            procs.start("worker", "worker", "--pool", "prefork", "--concurrency", "1", "--without-mingle",
                        "--without-gossip", "--heartbeat-interval", "1", "-n", "w2@test", "--loglevel", "warning")
            with exporter(cfg) as exp:
                exp.wait_for(lambda s: value(s, "celery_worker_up", hostname="w2@test") == 1, timeout=60)
                start = value(samples(exp.metrics()), "lookout_celery_task_last_success_timestamp_seconds",
                              name="tapp.tick")
                _publish(cwd, "import tapp\ntapp.tick.delay()")
                exp.wait_for(lambda s: value(s, "lookout_celery_task_last_success_timestamp_seconds", name="tapp.tick")
                             > start, timeout=30)

                srv.stop()
                s = exp.wait_for(lambda s: value(s, "lookout_collector_up", collector="celery") == 0, timeout=20)
                assert value(s, "celery_queue_length", queue_name="celery") is None
                srv.start()
                exp.wait_for(lambda s: value(s, "lookout_collector_up", collector="celery") == 1
                             and value(s, "lookout_celery_event_stream_up") == 1, timeout=40)
                exp.wait_for(lambda s: value(s, "celery_worker_up", hostname="w2@test") == 1, timeout=40)
                assert "Traceback" not in exp.log()
        finally:
            procs.kill_all()


def test_unacked_attribution_and_arrival_tracking_in_process(redis_srv):
    from lookout.exporters.collectors._celery_broker import BrokerInspector

    url = redis_srv.url.rsplit("/", 1)[0] + "/5"
    r = redis.Redis.from_url(url)
    r.flushdb()
    r.sadd("_kombu.binding.tasks", "rk1\x06\x16\x06\x16qa")
    r.sadd("_kombu.binding.celery.pidbox", "\x06\x16\x06\x16w1.celery.pidbox")
    entries = {"t1": '[{"headers": {}}, "tasks", "rk1"]', "t2": '[{"headers": {}}, "", "qb"]',
               "t3": "not json", "t4": '[{"headers": {}}, "", "elsewhere"]'}
    for i, (tag, raw) in enumerate(entries.items()):
        r.hset("unacked", tag, raw)
        r.zadd("unacked_index", {tag: time.time() - 10 * (i + 1)})
    insp = BrokerInspector(url, queues=["qb"], discover=True, priority_steps=[0, 3, 6, 9], sep="\x06\x16",
                           prefix="", state_key="lookout:celery:last_success", timeout=5,
                           max_unacked=100)
    out = insp.read({})
    assert sorted(out.queues) == ["qa", "qb"]  # pidbox bindings are not task queues
    assert (out.queues["qa"].reserved, out.queues["qb"].reserved) == (1, 1)
    assert (out.unacked_total, out.unacked_unparseable, out.unacked_unattributed) == (4, 1, 1)
    assert time.time() - out.queues["qb"].oldest_delivered >= 19
    # max_unacked bounds what is read: the 2 oldest deliveries (t4 unknown queue, t3 malformed), the rest unread
    small = BrokerInspector(url, queues=["qb"], discover=True, priority_steps=[0, 3, 6, 9], sep="\x06\x16",
                            prefix="", state_key="lookout:celery:last_success", timeout=5,
                            max_unacked=2).read({})
    assert (small.queues["qa"].reserved, small.queues["qb"].reserved) == (0, 0)
    assert (small.unacked_total, small.unacked_unparseable, small.unacked_unattributed) == (4, 1, 1 + 2)

    # arrivals between refreshes are dated to within one refresh
    r.lpush("qa", '{"headers": {}}')
    insp.read({})
    time.sleep(0.3)
    r.lpush("qa", '{"headers": {}}', '{"headers": {}}')
    r.rpop("qa")
    t_before = time.time()
    out = insp.read({})
    assert out.queues["qa"].ready == 2
    assert out.queues["qa"].oldest_enqueued >= t_before - 0.05  # the first message is gone; the rest are new
    assert insp.read({"tick": 123.0}).state == {"tick": 123.0}
    assert insp.read({"tick": 100.0}).state == {"tick": 123.0}  # never moves backwards


def test_oldest_message_date_survives_exporter_restart(redis_srv):
    from lookout.exporters.collectors._celery_broker import BrokerInspector

    url = redis_srv.url.rsplit("/", 1)[0] + "/6"
    r = redis.Redis.from_url(url)
    r.flushdb()

    def inspector():
        return BrokerInspector(url, queues=["stuck"], discover=False, priority_steps=[0, 3, 6, 9], sep="\x06\x16",
                               prefix="", state_key="lookout:celery:last_success", timeout=5,
                               max_unacked=100)

    first = inspector()
    first.read({})
    r.lpush("stuck", '{"headers": {}}')
    dated = first.read({}).queues["stuck"].oldest_enqueued  # seen arriving: dated by this refresh
    r.lpush("stuck", '{"headers": {"x": 1}}', '{"headers": {"x": 2}}')
    first.read({})
    first.read({})  # the estimate is written with the next round
    time.sleep(0.2)
    second = inspector()  # a restarted exporter: the oldest message keeps its date, the others are new to it
    out = second.read({})
    assert out.queues["stuck"].oldest_enqueued == pytest.approx(dated)
    r.rpop("stuck")
    assert second.read({}).queues["stuck"].oldest_enqueued > dated  # lower bound for the rest


def test_malformed_message_counted_when_it_arrives_behind_valid_ones(redis_srv):
    from lookout.exporters.collectors._celery_broker import BrokerInspector

    url = redis_srv.url.rsplit("/", 1)[0] + "/7"
    r = redis.Redis.from_url(url)
    r.flushdb()
    insp = BrokerInspector(url, queues=["mixed"], discover=False, priority_steps=[0, 3, 6, 9], sep="\x06\x16",
                           prefix="", state_key="lookout:celery:last_success", timeout=5,
                           max_unacked=100, arrivals_budget=4)
    n = iter(range(1000))

    def ok() -> str:  # real messages differ (task ids): the arrival tracking relies on it
        return f'{{"headers": {{"id": {next(n)}}}}}'

    r.lpush("mixed", ok(), ok(), ok())
    assert insp.read({}).queues["mixed"].unparseable == 0

    def unparseable() -> int:
        return insp.read({}).queues["mixed"].unparseable

    r.lpush("mixed", b"{not json", ok())  # junk behind three valid messages, a valid one after it
    assert unparseable() == 1  # counted on arrival, not when it becomes the oldest
    assert unparseable() == 1  # remembered while it waits
    for _ in range(3):
        r.rpop("mixed")
    assert unparseable() == 1  # now the oldest too: not counted twice
    r.rpop("mixed")
    assert unparseable() == 0  # consumed
    r.lpush("mixed", *[b"junk %d" % i for i in range(6)])  # over the budget: the 4 newest are checked
    assert unparseable() == 4
    r.lpush("mixed", b"[1")
    assert unparseable() == 5
    for _ in range(2):
        r.rpop("mixed")  # the valid one and junk 0 (never checked)
    assert unparseable() == 6  # junk 1, never checked either, is counted once it is the oldest


def _collect(c) -> dict:
    from lookout.exporters.collector import Snapshot

    snap = Snapshot(c.metrics)
    c.refresh(snap)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for fam in snap.families() for s in fam.samples}


def _by_queue(s: dict, metric: str) -> dict[str, float]:
    return {dict(labels)["queue_name"]: v for (name, labels), v in s.items() if name == metric}


def test_queues_beyond_max_queues_fold_into_other_with_exact_totals(redis_srv, caplog):
    from lookout.exporters.collectors.celery import CeleryCollector, CelerySettings
    from lookout.exporters.config import Secret

    url = redis_srv.url.rsplit("/", 1)[0] + "/7"
    r = redis.Redis.from_url(url)
    r.flushdb()
    sep, msg = "\x06\x16", '{"headers": {}}'
    names = [f"q{i:03d}" for i in range(150)]
    truth = {}
    pipe = r.pipeline()
    for i, q in enumerate(names):
        pipe.sadd("_kombu.binding.celery", f"{q}{sep}{sep}{q}")
        # q140 starts empty; the deepest queue sorts after the first 100 names; part of each sits in step 3
        n = 0 if q == "q140" else 500 if q == "q149" else 1 + i % 7
        if n:
            pipe.lpush(q, *[msg] * (n - n // 2))
        if n // 2:
            pipe.lpush(f"{q}{sep}3", *[msg] * (n // 2))
        truth[q] = n
    # two deliveries of a queue that will be folded: reserved stays exact in the sum too
    for tag in ("t1", "t2"):
        pipe.hset("unacked", tag, '[{"headers": {}}, "", "q126"]')
        pipe.zadd("unacked_index", {tag: time.time() - 30})
    pipe.execute()

    c = CeleryCollector(CelerySettings(broker_url=Secret(url), events=False, persist=False))
    try:
        with caplog.at_level("WARNING", logger="lookout.exporters.collectors.celery"):
            s = _collect(c)
            lengths = _by_queue(s, "celery_queue_length")
            assert sum(lengths.values()) == sum(truth.values())
            assert len(lengths) == 101 and "_other" in lengths
            assert lengths["q149"] == 500  # the deepest, beyond the first 100 names, has its own series
            assert value(s, "lookout_celery_queues_discovered") == 150 and value(s,
                                                                                 "lookout_celery_queues_folded") == 50
            assert value(s, "lookout_celery_queues_unread") == 0
            assert sum(_by_queue(s, "lookout_celery_queue_reserved").values()) == 2
            assert _by_queue(s, "lookout_celery_queue_oldest_reserved_age_seconds")["_other"] >= 29
            assert "q140" not in lengths
            _collect(c)
        assert sum("summed into" in rec.getMessage() for rec in caplog.records) == 1  # logged once

        # the empty queue becomes the deepest: it has its own series within two refreshes
        r.lpush("q140", *[msg] * 1000)
        truth["q140"] = 1000
        seen = [_by_queue(_collect(c), "celery_queue_length").get("q140") for _ in range(2)]
        assert 1000 in seen
        # hysteresis: a folded queue one message deeper than the shallowest shown one does not displace it
        shown = set(_by_queue(_collect(c), "celery_queue_length"))
        shallow = min((q for q in shown if q.startswith("q")), key=lambda q: truth[q])
        folded = next(q for q in names if q not in shown and truth[q] == truth[shallow])
        r.lpush(folded, msg)
        assert set(_by_queue(_collect(c), "celery_queue_length")) == shown
        assert sum(_by_queue(_collect(c), "celery_queue_length").values()) == sum(truth.values()) + 1
    finally:
        c.stop()

    # past the discovery bound: queues are left unread and the gauge says the totals are a lower bound
    c = CeleryCollector(CelerySettings(broker_url=Secret(url), events=False, persist=False, queues=["q149"],
                                       max_discovered_queues=120))
    try:
        s = _collect(c)
        assert value(s, "lookout_celery_queues_discovered") == 150 and value(s, "lookout_celery_queues_unread") == 30
        assert _by_queue(s, "celery_queue_length")["q149"] == 500  # configured queues are read first
        assert sum(_by_queue(s, "celery_queue_length").values()) < sum(truth.values()) + 1
    finally:
        c.stop()
    # a binding set larger than the discovery bound is read only up to it: the members left out count as unread
    c = CeleryCollector(CelerySettings(broker_url=Secret(url), events=False, persist=False, max_discovered_queues=50))
    try:
        s = _collect(c)
        assert value(s, "lookout_celery_queues_discovered") == 150 and value(s, "lookout_celery_queues_unread") == 100
        assert len(_by_queue(s, "celery_queue_length")) == 50
    finally:
        c.stop()


def test_unchanged_lists_are_reused_and_forgotten_lists_read_again(redis_srv):
    from lookout.exporters.collectors._celery_broker import BrokerInspector

    url = redis_srv.url.rsplit("/", 1)[0] + "/8"
    r = redis.Redis.from_url(url)
    r.flushdb()
    sep, msg = "\x06\x16", '{"headers": {}}'
    for q, n in (("qa", 3), ("qb", 5)):
        r.sadd("_kombu.binding.celery", f"{q}{sep}{sep}{q}")
        r.lpush(f"{q}{sep}6", *[msg] * n)
    insp = BrokerInspector(url, queues=[], discover=True, priority_steps=[0, 3, 6, 9], sep=sep, prefix="",
                           state_key="lookout:celery:last_success", timeout=5, max_unacked=100)
    lengths = [{q: qr.ready for q, qr in insp.read({}).queues.items()} for _ in range(2)]
    assert lengths == [{"qa": 3, "qb": 5}] * 2  # the second answer is "unchanged" for every list
    # qa unbound: its lists are forgotten on both sides; bound again with new messages, it is read afresh
    r.srem("_kombu.binding.celery", f"qa{sep}{sep}qa")
    insp._next_discovery = 0
    assert {q: qr.ready for q, qr in insp.read({}).queues.items()} == {"qb": 5}
    r.sadd("_kombu.binding.celery", f"qa{sep}{sep}qa")
    r.lpush("qa", msg)
    insp._next_discovery = 0
    assert {q: qr.ready for q, qr in insp.read({}).queues.items()} == {"qa": 4, "qb": 5}
    # our memory of a list lost while the script still has it: detected, forgotten there, read again
    insp._last.clear()
    assert {q: qr.ready for q, qr in insp.read({}).queues.items()} == {"qa": 4, "qb": 5}
    insp.close()
