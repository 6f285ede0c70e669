"""``lookout discover`` on a real host: Gunicorn (3 workers), Uvicorn (2 workers), a Celery worker and beat
with two periodic tasks on a Redis with a password, a PostgreSQL with and without the reference tables, and
unrelated Python processes; all in their own PID and network namespaces (tests/support/discover_host.py),
so nothing else the test machine runs is discovered. One set of processes serves every test of the module.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lookout.monitoring.discover import celery as celery_mod
from lookout.monitoring.discover import host as host_mod
from lookout.monitoring.discover import nginx
from lookout.monitoring.site import load_site
from tests.support import discover_host
from tests.support.exporter import value
from tests.support.servers import kill_process_groups

PY = sys.executable
SECRETS = (discover_host.REDIS_PASSWORD, discover_host.DB_PASSWORD)


@pytest.fixture(scope="module")
def ns() -> Iterator[dict]:
    base = Path(tempfile.mkdtemp(prefix="discover-"))
    proc = None
    try:
        proc, pid = discover_host.start(base)
        out = base / "out"
        out.mkdir(mode=0o777)
        first = discover_host.run_in(pid, [PY, "-m", "lookout.monitoring.cli", "discover",
                                           "--out", str(out / "site.yaml")])
        yield {"pid": pid, "base": base, "out": out, "site": out / "site.yaml", "first": first}
    finally:
        if proc is not None:
            kill_process_groups([proc])
        shutil.rmtree(base, ignore_errors=True)


def _no_secret(*texts: str) -> None:
    for t in texts:
        for s in SECRETS:
            assert s not in t


def test_summary_and_site_file(ns):
    r = ns["first"]
    assert r.returncode == 0, r.stderr
    text = ns["site"].read_text()
    _no_secret(r.stdout, r.stderr, text)
    assert r.stdout.splitlines()[0].split() == ["WHAT", "NAME", "FOUND", "NOT", "DECIDED"]
    site = load_site(ns["site"])
    by_kind = {s.kind: s for s in site.services}
    assert sorted(s.kind for s in site.services) == ["celery_beat", "celery_worker", "gunicorn", "uvicorn"], text
    g, u, w = by_kind["gunicorn"], by_kind["uvicorn"], by_kind["celery_worker"]
    assert (g.workers, g.port, g.health_url) == (3, 8011, "http://127.0.0.1:8011/health")
    assert g.nginx_log and not any(s.nginx_log for s in site.services if s is not g)
    assert g.match == "disc_shop:app" and g.metrics is None
    assert (u.workers, u.port, u.health_url) == (2, 8012, "http://127.0.0.1:8012/api/health")
    assert u.metrics is not None and u.metrics.path == "/api/metrics"
    assert w.workers == 2 and w.match and "beat" not in w.match and "disc_tasks" in w.match
    assert {s.platform for s in site.services} == {"shop"}
    broker = site.broker
    assert broker is not None and broker.url == "${CELERY_BROKER_URL}"
    assert broker.celery.queues == ("celery",)
    assert {k: float(v) for k, v in broker.celery.beat_schedule.items()} == {"sync_sellers": 2.0,
                                                                             "close_idle_chats": 60.0}
    dbs = {d.name: d for d in site.databases}
    assert set(dbs) == {"shop", "notes"}
    assert dbs["shop"].dsn == "${SHOP_DATABASE_URL}" and dbs["shop"].version
    assert [c for c, _ in dbs["shop"].checks.enabled()] == ["marketplace_sync", "sla", "capacity", "llm_spend"]
    assert list(dbs["notes"].checks.enabled()) == []
    assert "      # credits: {}  # tables missing: conversations" in text
    # the HTTP server without a health endpoint and the unrelated processes are not services
    assert "port 8013" in r.stdout and "8013" not in text
    for word in ("sleep", "tool.py", "http.server", "8014", "8015"):
        assert word not in text
    # Nginx: the access log in front of Gunicorn is parsed, the other one gets the lines to add
    shop_log = next(line for line in r.stdout.splitlines() if "shop-access.log" in line)
    assert "log_format lookout: parsed by the nginx_log exporter" in shop_log
    other = r.stdout[r.stdout.index("other-access.log"):]
    assert "log_format short: NOT parsed" in other and "log_format lookout '$remote_addr" in other
    assert f"access_log {ns['base']}/nginx/other-access.log lookout;" in other


def test_second_run_writes_the_same_file_and_json(ns):
    r = discover_host.run_in(ns["pid"], [PY, "-m", "lookout.monitoring.cli", "discover",
                                         "--out", str(ns["out"] / "again.yaml"), "--json"])
    assert r.returncode == 0, r.stderr
    assert (ns["out"] / "again.yaml").read_text().replace("again.yaml", "site.yaml") == ns["site"].read_text()
    _no_secret(r.stdout, r.stderr)
    data = json.loads(r.stdout)
    whats = {row["what"] for row in data["found"]}
    assert {"gunicorn", "uvicorn", "celery worker", "celery beat", "celery", "redis", "postgresql",
            "database", "http"} <= whats
    redis_row = next(row for row in data["found"] if row["what"] == "redis")
    assert "wants a password" in " ".join(redis_row["undecided"])


def test_without_asking_the_app_beat_waits_for_its_schedule(ns, tmp_path):
    r = discover_host.run_in(ns["pid"], [PY, "-m", "lookout.monitoring.cli", "discover", "--json", "--no-ask-app"])
    assert r.returncode == 0, r.stderr
    _no_secret(r.stdout, r.stderr)
    data = json.loads(r.stdout)
    (tmp_path / "site.yaml").write_text(data["site"])
    site = load_site(tmp_path / "site.yaml")
    assert sorted(s.kind for s in site.services) == ["celery_worker", "gunicorn", "uvicorn"]
    assert "# not written: its schedule is unknown" in data["site"] and "#   kind: celery_beat" in data["site"]
    assert site.broker is not None and dict(site.broker.celery.beat_schedule) == {}


def test_an_existing_file_of_a_person_is_not_overwritten(ns, tmp_path):
    mine = tmp_path / "lookout.yaml"
    mine.write_text("name: mine\n")
    r = discover_host.run_in(ns["pid"], [PY, "-m", "lookout.monitoring.cli", "discover", "--out", str(mine)])
    assert r.returncode == 2 and "not overwritten" in r.stderr and mine.read_text() == "name: mine\n"


def test_check_generate_and_exporter_counts(ns):
    site, out = ns["site"], ns["out"] / "gen"
    check = discover_host.run_in(ns["pid"], [PY, "-m", "lookout.monitoring.cli", "check", "--site", str(site)])
    assert check.returncode == 0, check.stderr
    gen = discover_host.run_in(ns["pid"], [PY, "-m", "lookout.monitoring.cli", "generate", "--site", str(site),
                                           "--out", str(out)])
    assert gen.returncode == 0, gen.stderr
    exporters = yaml.safe_load((out / "exporters.yaml").read_text())["collectors"]
    pools = {p["service"]: p for p in exporters["worker_pools"]["pools"]}
    names = {s.kind: s.name for s in load_site(site).services}
    assert set(pools) == {names["gunicorn"], names["uvicorn"], names["celery_worker"]}
    # probes and scrape jobs for exactly the discovered services; rules and boards for what exists only
    prom = yaml.safe_load((out / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    probed = {t: c["labels"]["service"] for c in jobs["blackbox_http"]["static_configs"] for t in c["targets"]}
    assert probed == {"http://127.0.0.1:8011/health": names["gunicorn"],
                      "http://127.0.0.1:8012/api/health": names["uvicorn"]}
    app_jobs = [j for j in jobs.values() if j.get("metrics_path") == "/api/metrics"]
    assert [c["targets"] for j in app_jobs for c in j["static_configs"]] == [["127.0.0.1:8012"]]
    assert [c["targets"] for c in jobs["nginx"]["static_configs"]] == [["127.0.0.1:4040"]]
    rules = {p.stem for p in (out / "prometheus" / "rules").glob("*.yml")}
    assert {"worker-pools", "celery", "postgres", "probes"} <= rules and not {"voice", "credits", "nginx"} & rules
    alerts = (out / "prometheus" / "rules" / "celery.yml").read_text()
    assert "CeleryPeriodicTaskStale" in alerts
    boards = {p.stem for p in (out / "dashboards" / "json").glob("*.json")}
    assert {"lookout-worker-pools", "lookout-celery"} <= boards and not [b for b in boards if "voice" in b]
    assert "CreditsChargeMismatch" not in " ".join(p.read_text() for p in (out / "prometheus" / "rules").glob("*.yml"))

    # the exporter, with the generated configuration and the variables the site names
    env = {"CELERY_BROKER_URL": f"redis://:{discover_host.REDIS_PASSWORD}@127.0.0.1:6390/0",
           "SHOP_DATABASE_URL": f"postgresql://postgres:{discover_host.DB_PASSWORD}@127.0.0.1:5440/shop",
           "NOTES_DATABASE_URL": "postgresql://postgres@localhost:5440/notes"}
    once = discover_host.run_in(ns["pid"], [PY, "-m", "lookout.exporters", "once", "-c", str(out / "exporters.yaml")],
                                env=env)
    text = once.stdout
    assert value(text, "lookout_worker_pool_workers", server="gunicorn", service=names["gunicorn"]) == 3, once.stderr
    assert value(text, "lookout_worker_pool_workers", server="uvicorn", service=names["uvicorn"]) == 2
    assert value(text, "lookout_worker_pool_workers", server="celery", service=names["celery_worker"]) == 2
    assert value(text, "lookout_worker_pool_workers_expected", server="gunicorn", service=names["gunicorn"]) == 3
    assert value(text, "lookout_celery_periodic_task_interval_seconds", name="sync_sellers") == 2
    assert value(text, "lookout_celery_periodic_task_interval_seconds", name="close_idle_chats") == 60
    _no_secret(once.stderr)


# --- the pure parts, on fixture text ---------------------------------------------------------------


def test_urls_with_a_password_become_variables():
    url = "redis://:hunter2@10.0.0.5:6379/0"
    assert celery_mod.site_url(url, {"A": "x", "CELERY_BROKER_URL": url})[0] == "${CELERY_BROKER_URL}"
    text, comment = celery_mod.site_url(url, {})
    assert text == "redis://:${REDIS_PASSWORD}@10.0.0.5:6379/0" and "hunter2" not in (comment or "")
    assert celery_mod.site_url("redis://127.0.0.1:6379/0", {}) == ("redis://127.0.0.1:6379/0", None)
    assert celery_mod.redacted("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    query = "postgresql://u@h/db?password=hunter2"
    assert celery_mod.site_url(query, {}, placeholder="SHOP_DB_PASSWORD")[0] == "${SHOP_DB_URL}"
    assert "hunter2" not in celery_mod.redacted(query) and "hunter2" not in celery_mod.redacted(url)
    assert celery_mod.duration_text(86400) == "1d" and celery_mod.duration_text(90) == "90s"


def test_broker_and_queues_from_the_command_line_and_environment():
    args = ["/venv/bin/celery", "-A", "tasks", "worker", "-Q", "mail,celery", "-b", "redis://h:6379/2"]
    assert celery_mod.broker_of(args, {"CELERY_BROKER_URL": "redis://other/0"}) == ("redis://h:6379/2", "command line")
    assert celery_mod.broker_of(args[:6], {"BROKER_URL": "redis://other/0"}) == ("redis://other/0", "$BROKER_URL")
    assert celery_mod.broker_of(args[:6], None) == (None, "")
    assert celery_mod.queues_of(args) == ["celery", "mail"]
    beat = {"a": {"task": "app.tasks.sync"}, "b": {"task": "app.other.sync"}, "c": {"task": "app.tasks.close"}}
    assert celery_mod.short_names(beat) == {"a": "app.tasks.sync", "b": "app.other.sync", "c": "close"}


def test_asking_the_app_is_bounded_and_quotes_nothing(tmp_path):
    (tmp_path / "slow_app.py").write_text("import time\ntime.sleep(60)\n")
    (tmp_path / "loud_app.py").write_text("import sys\nsys.stdout.write('x' * 5_000_000)\n"
                                          "sys.stderr.write('hunter2-secret')\nraise SystemExit(3)\n")
    (tmp_path / "bad_app.py").write_text("raise ConnectionError('redis://:hunter2@h/0 refused')\n")
    slow = celery_mod.ask_app(PY, "slow_app", str(tmp_path), {}, timeout=1)
    assert slow.error == "the app did not answer within 1s"
    loud = celery_mod.ask_app(PY, "loud_app", str(tmp_path), {})
    assert loud.error == "importing loud_app failed (see the app's own output)"
    bad = celery_mod.ask_app(PY, "bad_app", str(tmp_path), {})
    assert bad.error == "importing bad_app failed (ConnectionError)"
    assert not list(tmp_path.glob("__pycache__"))  # python -B: nothing written


def test_unit_and_listen_parsing():
    assert host_mod.unit_of("0::/system.slice/chat-api.service\n") == "chat-api.service"
    assert host_mod.unit_of("0::/user.slice/user-1000.slice/session-3.scope\n") is None
    assert host_mod.unit_of("12:cpu:/x\n1:name=systemd:/system.slice/celery.service\n") == "celery.service"
    text = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
            "   0: 0100007F:1F4B 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0 0 4242 1\n"
            "   1: 00000000:0050 00000000:0000 01 00000000:00000000 00:00000000 00000000  0 0 4243 1\n")
    assert host_mod.parse_listen(text) == {4242: host_mod.Listen(8011, "127.0.0.1")}
    assert host_mod.parse_connected(text) == {4243: ("0.0.0.0", 0)}


def test_nginx_log_format():
    logs, ports = nginx.parse_config(["""
        http {
          log_format main '$remote_addr $request';  # not parsed
          access_log /var/log/nginx/access.log main;
          access_log /var/log/nginx/api.log;
          server { location / { proxy_pass http://127.0.0.1:5002; } }
        }"""])
    by_path = {x.path: x for x in logs}
    assert by_path["/var/log/nginx/api.log"].parsed and by_path["/var/log/nginx/api.log"].fix is None
    main = by_path["/var/log/nginx/access.log"]
    assert not main.parsed and "log_format lookout" in (main.fix or "")
    assert "access_log /var/log/nginx/access.log lookout;" in (main.fix or "")
    assert ports == [5002]


def test_match_selects_one_master_among_look_alikes():
    from lookout.exporters.collectors._procfs import ProcStat
    from lookout.monitoring.discover.pools import app_of, find_pools

    cmds = {
        10: ["/srv/a/.venv/bin/python", "/srv/a/.venv/bin/gunicorn", "-w", "2", "-b", "127.0.0.1:8001", "app:app"],
        11: ["/srv/a/.venv/bin/python", "/srv/a/.venv/bin/gunicorn", "-w", "2", "-b", "127.0.0.1:8001", "app:app"],
        20: ["/srv/b/.venv/bin/python", "/srv/b/.venv/bin/gunicorn", "-w", "4", "-b", "127.0.0.1:8002", "app:app"],
        30: ["python3", "-m", "celery", "-A", "tasks", "worker", "-c", "3"],
        40: ["python3", "-m", "celery", "-A", "tasks", "beat"],
        50: ["vim", "app:app", "tasks", "worker"],
    }
    parents = {11: 10}
    h = host_mod.Host(root="/nonexistent")
    for pid, args in cmds.items():
        h.procs[pid] = ProcStat(pid, "x", "S", parents.get(pid, 1), 0, pid, 0)
        h.args[pid] = args
        h.children.setdefault(parents.get(pid, 1), []).append(pid)
    pools = {p.pid: p for p in find_pools(h)}
    assert set(pools) == {10, 20, 30, 40}
    assert (pools[10].workers, pools[10].running, pools[20].workers) == (2, 1, 4)
    assert pools[10].match == "127.0.0.1:8001 app:app" and pools[20].match == "127.0.0.1:8002 app:app"
    assert pools[30].match == "-A tasks worker"  # "tasks worker" is also in the editor's command line
    assert pools[40].kind == "celery_beat" and pools[40].match == "tasks beat"
    assert app_of("gunicorn", ["gunicorn", "-b", "localhost:8000", "m.app:create_app()"]) == "m.app:create_app()"
