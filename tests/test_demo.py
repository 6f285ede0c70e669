"""The live demo (``python -m lookout.demo up``): both platform models write the expected rows, bad webhooks change
nothing, and every fault has the effect docs/demo.md promises and is reverted by ``off``.

One demo (real Gunicorn, Uvicorn, Celery worker and beat, PostgreSQL, Redis) is shared by the module with
time compressed (``--speed 60``: the 10-minute SLA rule becomes 10 s; beat intervals of 1-3 s); each test
switches its faults off before the next starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import psycopg
import pytest
import requests

from lookout.demo.testing import DemoProcess, tree_memory
from lookout.demo.voice.signature import sign
from lookout.stack.procs import wait_until
from tests.support.exporter import promtool_check_metrics, run_cli, samples, write_config
from tests.support.servers import redis_server

# every test of the module shares one running demo (scripts/test schedules a module whole on one worker)

SECRET = "test-secret"
SPEED = 60


@pytest.fixture(scope="module")
def demo(pg, tmp_path_factory) -> Iterator[DemoProcess]:
    url = pg.create_database("demo_live")
    with redis_server() as r:  # private: the demo's Celery queues and switches must not meet other tests'
        # its logs in pytest's tmp_path folders: kept when the session fails
        d = DemoProcess(url, r.url, run_dir=tmp_path_factory.mktemp("demo"), speed=SPEED, webhook_secret=SECRET,
                        call_rate=120, call_duration="60:240",
                        marketplace_rate=60, user_rate=60, http_timeout=1, backup_interval=3,
                        intervals="sync_all_sellers=1,check_sla_escalation=1,analyze_pending_chats=1,"
                                  "auto_close_inactive_chats=3")
        d.start()
        d.dsn = url
        try:
            yield d
        finally:
            procs = d.tree()
            assert d.stop() == 0, d.log()
            _, alive = psutil.wait_procs(procs, timeout=15)
            assert not alive, f"left running after SIGTERM: {alive}"


def q(demo: DemoProcess, sql: str, *params: object) -> list[tuple]:
    with psycopg.connect(demo.dsn, autocommit=True) as conn:
        return conn.execute(sql, params or None).fetchall()


def one(demo: DemoProcess, sql: str, *params: object):
    return q(demo, sql, *params)[0][0]


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def post_webhook(demo: DemoProcess, event: dict | bytes, signature: str | None = None) -> requests.Response:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    sig = signature if signature is not None else sign(body, SECRET)
    return requests.post(demo.url("voice") + "/webhooks/elevenlabs", data=body, timeout=10,
                         headers={"ElevenLabs-Signature": sig, "Content-Type": "application/json"})


# ---------------------------------------------------------------------------------------------------------
# the healthy platforms
# ---------------------------------------------------------------------------------------------------------

def test_voice_platform_records_and_charges_conversations(demo):
    st = demo.status()
    assert len(st["children"]["gunicorn"]["workers"]) == 4
    assert http_ok(demo.url("mcp") + "/health")
    wait_until(lambda: one(demo, "SELECT count(*) FROM conversations WHERE credits_charged IS NOT NULL") >= 5,
             what="charged conversations")
    # 1 credit = 1 second, one ledger row per charged conversation, balances equal the ledger
    assert one(demo, "SELECT count(*) FROM conversations WHERE credits_charged <> duration_seconds") == 0
    assert one(demo, "SELECT count(*) FROM conversations c JOIN credit_transactions t ON t.conversation_id = c.id "
                     "WHERE t.delta_credits <> -c.credits_charged") == 0
    assert one(demo, "SELECT count(*) FROM customer_credits cc WHERE balance_credits <> "
                     "(SELECT sum(delta_credits) FROM credit_transactions t WHERE t.customer_id = cc.customer_id)") == 0
    assert one(demo, "SELECT count(*) FROM conversations WHERE status = 'done' AND ended_at IS NULL") == 0


def test_chat_platform_syncs_analyses_and_serves_metrics(demo):
    st = demo.status()
    assert len(st["children"]["uvicorn"]["workers"]) == 2
    assert st["children"]["celery-worker"]["running"] and st["children"]["celery-beat"]["running"]
    wait_until(lambda: one(demo, "SELECT count(*) FROM sync_state WHERE last_success_at > now() - interval '10 s'")
             == 5 * 2 * 3, what="every seller, marketplace and kind synced")
    wait_until(lambda: one(demo, "SELECT count(*) FROM llm_usage WHERE input_cache_miss_tokens > 0 "
                               "AND output_tokens > 0") >= 3, what="LLM usage rows")
    wait_until(lambda: one(demo, "SELECT count(*) FROM interactions WHERE status = 'answered'") >= 3,
             what="answered interactions")
    wait_until(lambda: one(demo, "SELECT count(*) FROM chats WHERE external_id LIKE 'wb-old-%' AND status = 'closed'")
             == 5, what="auto_close_inactive_chats")
    assert one(demo, "SELECT count(*) FROM interactions WHERE sla_due_at IS NULL") == 0
    assert one(demo, "SELECT count(*) FROM messages WHERE direction = 'in'") > 0
    # chat SLA rule of normal priority: 30 minutes, compressed by --speed (the answered interactions above may
    # all be feedbacks and questions: wait for a chat)
    wait_until(lambda: one(demo, "SELECT count(*) FROM interactions WHERE channel = 'chat' "
                           "AND priority = 'normal'") > 0, what="a normal-priority chat interaction")
    due = one(demo, "SELECT extract(epoch FROM sla_due_at - created_at) FROM interactions "
                    "WHERE channel = 'chat' AND priority = 'normal' LIMIT 1")
    assert float(due) == pytest.approx(30 * 60 / SPEED, abs=0.01)
    assert one(demo, "SELECT count(*) FROM seller_users WHERE last_seen_at > now() - interval '1 minute'") > 0

    text = requests.get(demo.url("chat") + "/api/metrics", timeout=5).text
    assert promtool_check_metrics(text) == ""
    paths = {dict(labels)["path"] for (name, labels) in samples(text) if name == "http_requests_total"}
    assert {"/api/health", "/api/interactions", "/api/interactions/{interaction_id}/answer"} <= paths
    assert any(name == "http_request_duration_seconds_bucket" for name, _ in samples(text))
    requests.get(demo.url("chat") + "/no/such/page/12345", timeout=5)
    text = requests.get(demo.url("chat") + "/api/metrics", timeout=5).text
    paths = {dict(labels)["path"] for (name, labels) in samples(text) if name == "http_requests_total"}
    assert "other" in paths and not any("12345" in p for p in paths)  # the label stays bounded


def test_memory_of_the_whole_tree(demo):
    mem = tree_memory(demo.tree())
    print(f"demo tree: {mem}")
    # PSS shares the pages that forked workers (Gunicorn --preload, Celery prefork) have in common; the plain
    # RSS sum counts them once per process (reported by bench/bench_demo.py)
    assert mem["pss_mb"] < 400, mem


def test_bad_webhook_input_gets_4xx_and_changes_nothing(demo):
    agent = one(demo, "SELECT elevenlabs_agent_id FROM customer_agents ORDER BY id LIMIT 1")
    start = {"type": "conversation_initiation", "event_timestamp": int(time.time()),
             "data": {"agent_id": agent, "conversation_id": "conv_badinput_1"}}
    end = {"type": "post_call_transcription", "event_timestamp": int(time.time()),
           "data": {"agent_id": agent, "conversation_id": "conv_badinput_1", "metadata": {"call_duration_secs": 30}}}
    body = json.dumps(start).encode()
    assert post_webhook(demo, start, signature="t=1,v0=deadbeef").status_code == 401
    assert post_webhook(demo, start, signature="").status_code == 401
    assert post_webhook(demo, start, signature=sign(body, "wrong-secret")).status_code == 401
    assert post_webhook(demo, body, signature=sign(body, SECRET, ts=int(time.time()) - 3600)).status_code == 401
    assert post_webhook(demo, b"{not json").status_code == 400
    assert post_webhook(demo, {"type": "post_call_transcription"}).status_code == 400
    assert post_webhook(demo, {**start, "data": {**start["data"], "agent_id": "agent_nobody"}}).status_code == 404
    assert post_webhook(demo, end).status_code == 404  # never started: unknown conversation
    assert one(demo, "SELECT count(*) FROM conversations WHERE conversation_id = 'conv_badinput_1'") == 0

    # a started conversation: bad end events leave it untouched, the good one charges it once
    balance = "SELECT balance_credits FROM customer_credits WHERE customer_id = " \
              "(SELECT customer_id FROM customer_agents WHERE elevenlabs_agent_id = %s)"
    assert post_webhook(demo, start).status_code == 200
    assert post_webhook(demo, end, signature="t=1,v0=00").status_code == 401
    bad_duration = {**end, "data": {**end["data"], "metadata": {"call_duration_secs": "x"}}}
    assert post_webhook(demo, bad_duration).status_code == 400
    row = q(demo, "SELECT ended_at, credits_charged FROM conversations WHERE conversation_id = 'conv_badinput_1'")
    assert row == [(None, None)]
    assert one(demo, "SELECT count(*) FROM credit_transactions t JOIN conversations c ON c.id = t.conversation_id "
                     "WHERE c.conversation_id = 'conv_badinput_1'") == 0
    assert post_webhook(demo, end).json() == {"status": "charged", "credits": 30}
    assert post_webhook(demo, end).json() == {"status": "duplicate"}
    assert one(demo, "SELECT count(*) FROM credit_transactions t JOIN conversations c ON c.id = t.conversation_id "
                     "WHERE c.conversation_id = 'conv_badinput_1'") == 1
    assert one(demo, balance, agent) is not None


# ---------------------------------------------------------------------------------------------------------
# voice faults
# ---------------------------------------------------------------------------------------------------------

def test_drop_end_webhooks_and_wrong_charges(demo):
    t0 = one(demo, "SELECT now()")
    demo.fault("drop-end-webhooks", "on", 0.3)
    demo.fault("wrong-charges", "on", 0.5)
    # calls last 1-4 s of wall time (60-240 s of call time / speed 60); 120 calls a minute
    wait_until(lambda: one(demo, "SELECT count(*) FROM conversations WHERE started_at >= %s", t0) >= 30,
             what="30 calls under the faults")
    t1 = one(demo, "SELECT now()")
    demo.fault("drop-end-webhooks", "off")
    demo.fault("wrong-charges", "off")
    time.sleep(5)  # every call started under the faults is over (calls last at most 4 s)
    rows = q(demo, "SELECT ended_at IS NULL, credits_charged, duration_seconds, ended_at < %s - interval '2 s' "
                   "FROM conversations WHERE started_at >= %s AND started_at < %s AND conversation_id LIKE 'conv\\_%%'",
             t1, t0, t1)
    missing = sum(1 for r in rows if r[0])
    # the share is applied by error diffusion: 30% of the calls, +-1, plus up to two calls started while the
    # switch was still cached as off
    assert abs(missing / len(rows) - 0.3) <= 0.1, (missing, len(rows))
    # the charge is computed when the end webhook arrives: calls ending after "off" are charged right
    charged = [r for r in rows if not r[0]]
    assert all(c in (d, round(d * 0.5)) for _, c, d, _ in charged)
    wrong = [r for r in charged if r[3]]
    assert wrong and all(c == round(d * 0.5) for _, c, d, _ in wrong)
    # the fake ElevenLabs lists every call as done: the cross-check sees the missing end events
    conv = requests.get(demo.url("elevenlabs") + "/v1/convai/conversations?page_size=100",
                        headers={"xi-api-key": "xi-demo"}, timeout=5).json()["conversations"]
    assert conv and all(c["status"] in ("done", "in-progress") for c in conv)
    # reverted: new calls end and are charged their duration
    t2 = one(demo, "SELECT now()")
    wait_until(lambda: one(demo, "SELECT count(*) FROM conversations WHERE started_at >= %s AND ended_at IS NOT NULL",
                         t2) >= 5, what="calls after off")
    assert one(demo, "SELECT count(*) FROM conversations WHERE started_at >= %s AND credits_charged <> "
                     "duration_seconds", t2) == 0


def _workers(demo: DemoProcess, child: str) -> list[int]:
    return demo.status()["children"][child]["workers"]


@pytest.mark.parametrize("server,child,health", [("gunicorn", "gunicorn", "/health"),
                                                 ("uvicorn", "uvicorn", "/api/health")])
def test_kill_worker_and_master(demo, server, child, health):
    base = demo.url("voice" if server == "gunicorn" else "chat") + health
    n = 4 if server == "gunicorn" else 2
    before = set(_workers(demo, child))
    master = demo.status()["children"][child]["pid"]
    period = 4  # seconds between kills: longer than a Uvicorn worker's spawn on a loaded machine
    demo.fault(f"kill-{server}-worker", "on", period)
    try:
        # new workers only: while kills go on, a loaded machine may be respawning one at every poll, so a full
        # pool is awaited after off (a fresh-clone run timed out waiting for both at once)
        wait_until(lambda: len(set(_workers(demo, child)) - before) >= 2, what="workers killed and replaced twice")
        assert demo.status()["children"][child]["pid"] == master
        assert not psutil.pid_exists(min(before - set(_workers(demo, child))))
    finally:  # never left killing workers for the tests after this one
        demo.fault(f"kill-{server}-worker", "off")
    # reverted: the switch reaches the supervisor within 0.5 s; a kill already sent gets its replacement, then
    # the workers stay the same for longer than a kill period
    time.sleep(1.5)
    wait_until(lambda: len(_workers(demo, child)) == n, what="a full pool after off")
    stable = set(_workers(demo, child))
    time.sleep(period + 2)
    assert set(_workers(demo, child)) == stable

    demo.fault(f"kill-{server}-master", "on")
    assert not psutil.pid_exists(master) or psutil.Process(master).status() == psutil.STATUS_ZOMBIE
    wait_until(lambda: not http_ok(base), timeout=20, what="the port to go down")
    assert demo.status()["children"][child]["running"] is False
    demo.fault(f"kill-{server}-master", "off")
    wait_until(lambda: http_ok(base) and len(_workers(demo, child)) == n, what="the server back")


def test_stop_mcp(demo):
    demo.fault("stop-mcp", "on")
    assert not http_ok(demo.url("mcp") + "/health")
    demo.fault("stop-mcp", "off")
    wait_until(lambda: http_ok(demo.url("mcp") + "/health"), what="MCP back")


def test_broken_deploy(demo):
    """A deploy (new REVISION, Gunicorn restarted) whose webhook handler needs a missing module: 500s and
    ModuleNotFoundError tracebacks in Gunicorn's error log; off deploys a working release."""
    run = demo.run_dir
    before = (run / "REVISION").read_text()
    master = demo.status()["children"]["gunicorn"]["pid"]
    event = {"type": "conversation_initiation", "data": {"agent_id": "no-such-agent", "conversation_id": "bd-1"}}
    demo.fault("broken-deploy", "on")
    wait_until(lambda: demo.status()["children"]["gunicorn"]["pid"] not in (None, master)
               and http_ok(demo.url("voice") + "/health"), what="Gunicorn restarted by the deploy")
    assert (run / "REVISION").read_text() != before
    assert post_webhook(demo, event).status_code == 500
    wait_until(lambda: "ModuleNotFoundError: No module named 'lookout.demo.voice.call_summaries'"
               in (run / "error.log").read_text(), timeout=10, what="the traceback in the error log")
    broken = (run / "REVISION").read_text()
    demo.fault("broken-deploy", "off")
    wait_until(lambda: (run / "REVISION").read_text() != broken and http_ok(demo.url("voice") + "/health")
               and post_webhook(demo, event).status_code == 404, what="a working release deployed")


def test_hold_db_connections(demo):
    held = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'demo-hold-db-connections' " \
           "AND state = 'idle in transaction'"
    demo.fault("hold-db-connections", "on", 5)
    assert one(demo, held) == 5
    assert demo.status()["held_db_connections"] == 5
    demo.fault("hold-db-connections", "off")
    wait_until(lambda: one(demo, held) == 0, timeout=10, what="connections released")


def test_block_db_holder_and_waiters_in_the_report(demo, tmp_path):
    apps = "SELECT application_name, state, wait_event_type FROM pg_stat_activity " \
           "WHERE application_name LIKE 'demo-block-db-%' ORDER BY 1"
    demo.fault("block-db", "on", 2)
    wait_until(lambda: len(q(demo, apps)) == 3 and q(demo, apps)[1][2] == "Lock", timeout=10, what="two waiters")
    rows = q(demo, apps)
    assert rows[0][:2] == ("demo-block-db-holder", "idle in transaction")
    assert [r[0] for r in rows[1:]] == ["demo-block-db-waiter-1", "demo-block-db-waiter-2"]
    assert all(r[1:] == ("active", "Lock") for r in rows[1:])
    cfg = write_config(tmp_path / "exporter.yaml", {"pg_activity": {"dsn": "${DEMO_DSN}"}})
    out = run_cli("report", "blocking", "--config", str(cfg), "--json", env={"DEMO_DSN": demo.dsn})
    assert out.returncode == 0, out.stderr
    tree = json.loads(out.stdout)["sessions"]
    # one root, the holder; the second waiter queues behind the first one's tuple lock (PostgreSQL's row-lock
    # queue), so it may sit under the first waiter rather than beside it
    assert [t["application"] for t in tree if t["depth"] == 0] == ["demo-block-db-holder"]
    assert sorted(t["application"] for t in tree[1:]) == ["demo-block-db-waiter-1", "demo-block-db-waiter-2"]
    assert tree[1]["depth"] == 1 and tree[1]["waits_on"] == [tree[0]["pid"]]
    demo.fault("block-db", "off")
    wait_until(lambda: not q(demo, apps), timeout=10, what="the lock released")
    assert one(demo, "SELECT n FROM demo_lock WHERE id = 1") >= 2  # the waiters got the row and committed


def test_miss_backup_skips_the_backup_job(demo):
    backups = demo.run_dir / "backups"
    wait_until(lambda: len(list(backups.glob("voice-*.dump"))) >= 2, timeout=20, what="two backups")
    newest = max(backups.glob("voice-*.dump"))
    assert newest.read_bytes()[:5] == b"PGDMP"  # a real pg_dump custom-format archive
    demo.fault("miss-backup", "on")
    time.sleep(1)
    before = set(backups.glob("voice-*.dump"))
    time.sleep(7)  # more than two intervals of 3 s
    assert set(backups.glob("voice-*.dump")) == before
    demo.fault("miss-backup", "off")
    wait_until(lambda: set(backups.glob("voice-*.dump")) - before, timeout=10, what="a backup at once")
    assert len(list(backups.glob("voice-*.dump"))) <= 5  # the job keeps the newest five


# ---------------------------------------------------------------------------------------------------------
# chat-center faults
# ---------------------------------------------------------------------------------------------------------

def _sync_errors(demo: DemoProcess, since) -> list[tuple]:
    return q(demo, "SELECT DISTINCT last_error FROM sync_state WHERE last_error_at > %s", since)


@pytest.mark.parametrize("fault,error", [("marketplace-429", "HTTP 429"), ("marketplace-5xx", "HTTP 503"),
                                         ("marketplace-slow", "timeout")])
def test_marketplace_faults(demo, fault, error):
    t0 = one(demo, "SELECT now()")
    demo.fault(fault, "on", 2 if fault == "marketplace-slow" else None)
    wait_until(lambda: one(demo, "SELECT min(consecutive_errors) FROM sync_state") >= 2, what="every feed failing")
    assert (error,) in _sync_errors(demo, t0)
    lag = one(demo, "SELECT extract(epoch FROM now() - max(last_success_at)) FROM sync_state")
    assert lag >= 1
    demo.fault(fault, "off")
    wait_until(lambda: one(demo, "SELECT max(consecutive_errors) FROM sync_state") == 0, what="sync recovered")


def _inject(demo: DemoProcess, **event: object) -> None:
    requests.post(demo.url("marketplace") + "/_control/events", json=event, timeout=5).raise_for_status()


def test_sla_unanswered(demo):
    demo.fault("sla-unanswered", "on")
    t0 = one(demo, "SELECT now()")
    _inject(demo, seller=1, marketplace="wb", kind="new_chat", priority="high", count=2)
    # the high-priority chat rule is 10 minutes: 10 s here
    wait_until(lambda: one(demo, "SELECT count(*) FROM interactions WHERE created_at >= %s AND status = 'open' "
                               "AND escalated_at IS NOT NULL AND sla_due_at < now()", t0) >= 2,
             timeout=60, what="escalated interactions")
    assert one(demo, "SELECT count(*) FROM interactions WHERE created_at >= %s AND first_response_at IS NOT NULL",
               t0) == 0
    assert one(demo, "SELECT count(*) FROM interaction_events WHERE event_type = 'escalated' AND created_at >= %s",
               t0) >= 2
    demo.fault("sla-unanswered", "off")
    wait_until(lambda: one(demo, "SELECT count(*) FROM interactions WHERE created_at >= %s "
                               "AND first_response_at IS NOT NULL", t0) >= 2, what="answers after off")


def test_llm_spend_spike_and_402(demo):
    def tokens_since(t) -> list[int]:
        return [r[0] for r in q(demo, "SELECT input_cache_hit_tokens + input_cache_miss_tokens + output_tokens "
                                      "FROM llm_usage WHERE created_at >= %s", t)]

    wait_until(lambda: tokens_since("-infinity"), what="a first analysis (the baseline)")  # also when run alone
    baseline = max(tokens_since("-infinity"))
    t0 = one(demo, "SELECT now()")
    demo.fault("llm-spend-spike", "on", 100)
    _inject(demo, seller=2, marketplace="ozon", kind="new_chat", count=2)
    # an analysis already in flight when the fault switched on may land after t0 unscaled: count only the
    # scaled ones, and the two injected chats must produce them
    wait_until(lambda: sum(t > 20 * baseline for t in tokens_since(t0)) >= 2, what="analyses under the spike")
    demo.fault("llm-spend-spike", "off")
    # reverted: the next analyses report ordinary usage again (one in flight at "off" may still be scaled)
    t_off = one(demo, "SELECT now()")
    _inject(demo, seller=2, marketplace="wb", kind="new_chat", count=2)
    wait_until(lambda: any(t <= 2 * baseline for t in tokens_since(t_off)), what="unscaled analyses after off")

    balance = demo.url("deepseek") + "/user/balance"
    auth = {"Authorization": "Bearer sk-demo"}
    demo.fault("llm-402", "on")
    assert requests.get(balance, headers=auth, timeout=5).json()["is_available"] is False
    t1 = one(demo, "SELECT now()")
    _inject(demo, seller=3, marketplace="wb", kind="new_chat", count=1)
    wait_until(lambda: one(demo, "SELECT count(*) FROM chats WHERE created_at >= %s AND analyzed_at IS NULL", t1) >= 1,
             what="a chat pending analysis")
    time.sleep(3)  # several analyze_pending_chats runs fail meanwhile
    # nothing created under the fault gets analysed (usage and analyzed_at are written in one transaction); an
    # analysis answered just before the switch may still land after t1, so usage rows alone would race
    assert one(demo, "SELECT count(*) FROM chats WHERE created_at >= %s AND analyzed_at IS NOT NULL", t1) == 0
    assert "DeepSeek answered HTTP 402" in demo.log("celery-worker.log", tail=200_000)
    demo.fault("llm-402", "off")
    assert requests.get(balance, headers=auth, timeout=5).json()["is_available"] is True
    wait_until(lambda: one(demo, "SELECT count(*) FROM chats WHERE created_at >= %s AND analyzed_at IS NULL", t1) == 0,
             what="pending chats analysed after off")


def test_grow_capacity(demo):
    demo.fault("grow-capacity", "on", 1.2)
    assert one(demo, "SELECT count(*) FROM sellers WHERE is_active AND last_active_at > now() - interval '1 h'") >= 120
    assert one(demo, "SELECT count(*) FROM chats WHERE created_at > now() - interval '24 hours'") >= 12000
    assert one(demo, "SELECT count(*) FROM seller_users WHERE last_seen_at > now() - interval '5 minutes'") >= 1200
    demo.fault("grow-capacity", "off")
    assert one(demo, "SELECT count(*) FROM sellers") == 5
    assert one(demo, "SELECT count(*) FROM chats WHERE created_at > now() - interval '24 hours'") < 1000


def test_api_errors_and_slow(demo):
    api = demo.url("chat") + "/api/chats?seller_id=1"
    demo.fault("api-errors", "on", 0.5)
    codes = [requests.get(api, timeout=10).status_code for _ in range(40)]
    assert 0.2 <= codes.count(500) / len(codes) <= 0.8, codes
    assert http_ok(demo.url("chat") + "/api/health")
    text = requests.get(demo.url("chat") + "/api/metrics", timeout=5).text
    assert (samples(text).get(("http_requests_total", (("method", "GET"), ("path", "/api/chats"),
                                                       ("status_code", "500")))) or 0) >= 1
    demo.fault("api-errors", "off")
    assert all(requests.get(api, timeout=10).status_code == 200 for _ in range(10))

    demo.fault("api-slow", "on", 2)
    started = time.monotonic()
    assert requests.get(api, timeout=10).status_code == 200
    assert time.monotonic() - started >= 1.9
    assert http_ok(demo.url("chat") + "/api/health")
    demo.fault("api-slow", "off")
    started = time.monotonic()
    requests.get(api, timeout=10)
    assert time.monotonic() - started < 1.9


def test_celery_worker_and_beat_faults(demo):
    demo.fault("stop-beat", "on")
    assert demo.status()["children"]["celery-beat"]["running"] is False
    time.sleep(2)  # the worker drains what beat sent before it stopped
    last = one(demo, "SELECT max(last_attempt_at) FROM sync_state")
    time.sleep(3)
    assert one(demo, "SELECT max(last_attempt_at) FROM sync_state") == last  # nothing is scheduled any more
    demo.fault("stop-beat", "off")
    wait_until(lambda: one(demo, "SELECT max(last_attempt_at) FROM sync_state") > last, what="beat back")

    import redis as redis_lib

    broker = redis_lib.Redis.from_url(demo.settings["redis_url"])
    demo.fault("kill-celery-worker", "on")
    st = demo.status()["children"]["celery-worker"]
    assert st["running"] is False and st["workers"] == []
    wait_until(lambda: broker.llen("celery") >= 3, what="tasks piling up in the queue")
    t0 = one(demo, "SELECT now()")
    demo.fault("kill-celery-worker", "off")
    wait_until(lambda: one(demo, "SELECT max(last_attempt_at) FROM sync_state") > t0, what="the worker back at work")


# ---------------------------------------------------------------------------------------------------------
# command line, memory
# ---------------------------------------------------------------------------------------------------------

def test_cli_fault_and_status(demo):
    cli = [sys.executable, "-m", "lookout.demo"]
    port = ["--control-port", str(demo.settings["control_port"])]
    r = subprocess.run([*cli, "fault", "stop-mcp", "on", *port], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "stop-mcp on" in r.stdout, r.stderr
    r = subprocess.run([*cli, "status", *port], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "faults on: stop-mcp" in r.stdout, r.stdout
    r = subprocess.run([*cli, "fault", "stop-mcp", "off", *port], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    r = subprocess.run([*cli, "fault", "api-errors", "on", "--value", "3", *port], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "share" in r.stderr
    r = subprocess.run([*cli, "fault", "no-such-fault", "on", *port], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    r = subprocess.run([*cli, "status", "--control-port", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no demo control API" in r.stderr
