"""Pure parts of the celery collector: age estimate, event state, kombu layout parsing, example config."""

from __future__ import annotations

import random

import yaml

from lookout.exporters.collectors._celery_age import AgeTracker
from lookout.exporters.collectors._celery_broker import parse_binding_member, unacked_route
from lookout.exporters.collectors._celery_events import EventState
from lookout.exporters.config import build_dataclass


class FakeList:
    """A kombu Redis list: LPUSH at the head (index 0), consumers RPOP the tail."""

    def __init__(self):
        self.items: list[tuple[bytes, float]] = []  # head first: (payload, enqueue time)
        self.n = 0

    def push(self, t: float) -> None:
        self.n += 1
        self.items.insert(0, (b"msg-%d" % self.n, t))

    def pop(self) -> None:
        if self.items:
            self.items.pop()

    def observe(self, prev_head: bytes | None, maxlen: int):
        head = self.items[0][0] if self.items else None
        pos = None
        if prev_head is not None:
            for i, (payload, _t) in enumerate(self.items[:maxlen]):
                if payload == prev_head:
                    pos = i
                    break
        return len(self.items), head, pos


def _simulate(seed: int, restore_at: int | None = None, lpos_maxlen: int = 1000):
    rng = random.Random(seed)
    lst, tracker = FakeList(), AgeTracker(lpos_maxlen=lpos_maxlen)
    for _ in range(50):  # backlog present before tracking starts
        lst.push(-100.0)
    worst_exact, checks = 0.0, 0
    for step in range(400):
        now = float(step)
        for _ in range(rng.choice([0, 0, 1, 3, 20])):  # bursts between refreshes
            lst.push(now - rng.random())
        for _ in range(rng.choice([0, 1, 2, 5, 15])):
            lst.pop()
        if restore_at is not None and step == restore_at and lst.items:
            lst.items.append((b"restored", -50.0))  # kombu restore: RPUSH to the consuming end
        length, head, pos = lst.observe(tracker.head, tracker.lpos_maxlen)
        est = tracker.update(now, length, head, pos)
        if not lst.items:
            assert est is None
            continue
        true_age = now - lst.items[-1][1]
        est_age = now - est
        assert est_age <= true_age + 1e-9, (step, est_age, true_age)  # never an overestimate
        if tracker.exact:
            worst_exact = max(worst_exact, true_age - est_age)
            checks += 1
    return worst_exact, checks


def test_age_estimate_is_a_lower_bound_within_one_refresh_interval():
    for seed in range(20):
        worst, checks = _simulate(seed)
        assert checks > 0
        assert worst <= 1.0 + 1e-9, (seed, worst)


def test_age_estimate_survives_restores_and_small_lpos_window():
    for seed in range(10):
        _simulate(seed, restore_at=200)
        _simulate(seed, lpos_maxlen=5)


def test_age_of_a_stuck_queue_grows():
    t = AgeTracker()
    assert t.update(0.0, 0, None, None) is None
    assert t.update(1.0, 1, b"a", None) == 1.0  # arrived in (0, 1]
    for now in (2.0, 3.0, 10.0):
        assert t.update(now, 1, b"a", 0) == 1.0
    assert t.update(11.0, 2, b"b", 1) == 1.0  # a is still the oldest
    assert t.update(12.0, 1, b"b", 0) == 11.0  # a consumed, b arrived in (10, 11]


def test_malformed_arrivals_are_counted_until_consumed_and_not_twice():
    t = AgeTracker()
    t.update(0.0, 3, b"c", None)  # a, b, c already waiting (ordinals 1..3)
    t.update(1.0, 5, b"e", 0 + 2)  # d (bad), e arrived
    t.note_malformed([1])  # d: one behind the newest
    assert t.malformed_waiting(oldest_malformed=False) == 1
    t.update(2.0, 2, b"e", 0)  # a, b, c consumed: d is the oldest
    assert t.malformed_waiting(oldest_malformed=True) == 1  # seen on arrival and as the oldest: once
    t.update(3.0, 1, b"e", 0)
    assert t.malformed_waiting(oldest_malformed=False) == 0
    t.update(4.0, 3, b"g", 2)
    t.note_malformed([0])
    assert t.malformed_waiting(oldest_malformed=False) == 1
    t.update(5.0, 4, b"g", 0)  # one more without an arrival: a restore broke the FIFO arithmetic
    assert t.malformed_waiting(oldest_malformed=False) == 0  # ordinals restarted: the record is dropped


def test_kombu_layout_parsing():
    assert parse_binding_member(b"celery\x06\x16\x06\x16celery", "\x06\x16") == ("celery", "", "celery")
    assert parse_binding_member(b"garbage", "\x06\x16") is None
    assert unacked_route(b'[{"headers": {}}, "", "celery"]') == ("", "celery")
    assert unacked_route(b"nope") is None


def _state(**kw) -> EventState:
    args = {"buckets": [0.1, 1.0], "periodic": ["sync_all_sellers"], "max_task_names": 3,
            "forget_after": 100.0, "expire_factor": 2.0}
    return EventState(**{**args, **kw})


def test_event_state_names_are_capped_and_periodic_names_match_by_suffix(monkeypatch):
    st = _state()
    st.on_event({"type": "task-received", "uuid": "u1", "name": "app.tasks.sync_all_sellers"})
    st.on_event({"type": "task-succeeded", "uuid": "u1", "runtime": 0.5})
    for i in range(10):
        st.on_event({"type": "task-received", "uuid": f"x{i}", "name": f"app.t{i}"})
        st.on_event({"type": "task-failed", "uuid": f"x{i}"})
    st.on_event({"type": "task-succeeded", "uuid": "never-seen", "runtime": 5})
    assert st.tasks["sync_all_sellers"].counts["succeeded"] == 1
    assert st.tasks["sync_all_sellers"].buckets == [0, 1, 0]
    assert st.tasks["sync_all_sellers"].last_success > 0
    assert len(st.tasks) <= 3 + 2  # cap plus `other` and `unknown`
    assert st.tasks["other"].counts["failed"] >= 1
    assert st.tasks["unknown"].counts["succeeded"] == 1
    assert not st.inflight


def test_worker_liveness_expiry_offline_and_forgetting(monkeypatch):
    from lookout.exporters.collectors import _celery_events

    now = [1000.0]
    monkeypatch.setattr(_celery_events.time, "time", lambda: now[0])
    st = _state()
    st.on_event({"type": "worker-heartbeat", "hostname": "w1", "freq": 1.0, "active": 2})
    st.on_event({"type": "worker-heartbeat", "hostname": "w2", "freq": 5.0})
    assert st.worker_status(1001.5) == {"w1": (True, 2), "w2": (True, 0)}
    assert st.worker_status(1002.5)["w1"] == (False, 0)  # 2 intervals without heartbeat
    st.on_event({"type": "worker-offline", "hostname": "w2"})
    assert st.worker_status(1003.0)["w2"] == (False, 0)
    assert st.worker_status(1000.0 + 101) == {}  # forgotten after forget_after


def test_example_configuration_loads():
    from lookout.exporters.collectors.celery import CeleryCollector

    raw = yaml.safe_load(CeleryCollector.example)["celery"]
    s = build_dataclass(CeleryCollector.Settings, raw, "collectors.celery")
    assert s.periodic_tasks == {"sync_all_sellers": 30, "analyze_pending_chats": 120,
                                "check_sla_escalation": 300, "auto_close_inactive_chats": 86400}


def test_queue_selector_configured_first_deepest_next_with_hysteresis():
    from lookout.exporters.collectors._celery_broker import OTHER, QueueReading, QueueSelector

    def readings(depths):
        return {q: QueueReading(ready=n, oldest_enqueued=100.0 - n if n else None) for q, n in depths.items()}

    sel = QueueSelector(["quiet"], 3)
    depths = {"quiet": 0, "a": 5, "b": 4, "c": 3, "d": 1, OTHER: 2}  # a real queue called _other is folded
    shown, folded = sel.select(readings(depths))
    assert list(shown) == ["quiet", "a", "b", OTHER] and folded == 2  # c and d; the real _other is not counted
    assert shown[OTHER].ready == 3 + 1 + 2 and shown[OTHER].oldest_enqueued == 100.0 - 3
    assert sum(r.ready for r in shown.values()) == sum(depths.values())
    # c a little deeper than b: no flap; twice as deep: it takes b's place at once
    assert list(sel.select(readings({**depths, "c": 7}))[0]) == ["quiet", "a", "b", OTHER]
    assert list(sel.select(readings({**depths, "c": 9}))[0]) == ["quiet", "a", "c", OTHER]
    # an overlong name is never a label value, however deep: it is counted in _other
    shown, _ = sel.select(readings({**depths, "x" * 201: 50}))
    assert "x" * 201 not in shown and shown[OTHER].ready == 4 + 1 + 2 + 50  # b (c keeps its place), d
