"""A newcomer's first hour: from a fresh copy of the repository, describe a platform known only from prose in
one site file, generate, start the native stack against the platform's real processes, and see its pool and
its periodic task on lookout's /metrics and its rules loaded in Prometheus.

The platform, as its operator describes it: "a Flask shop API on Gunicorn with 3 workers, and a Celery
worker with a beat sending one periodic task, `send_digest`, every 2 seconds, through Redis."
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.servers import free_port, kill_process_groups, wait_port

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

APP = '''
from flask import Flask

app = Flask(__name__)


@app.get("/health")
def health():
    return "ok"
'''
TASKS = '''
import os

from celery import Celery

app = Celery("newcomer_tasks", broker=os.environ["NEWCOMER_BROKER"])
app.conf.update(worker_send_task_events=True, task_send_sent_event=True, task_ignore_result=True,
                beat_schedule={"digest": {"task": "newcomer_tasks.send_digest", "schedule": 2.0}})


@app.task
def send_digest():
    return "sent"
'''

SITE = """
# The shop: a Flask API on Gunicorn (3 workers), a Celery worker and beat with one periodic task, Redis.
name: shop
hosts:
  - name: shop-1
    address: 127.0.0.1
services:
  - name: shop-api
    host: shop-1
    kind: gunicorn
    platform: shop
    match: "newcomer_app:app"
    port: {port}
    workers: 3
    health_url: http://127.0.0.1:{port}/health
    unit: shop-api.service
  - name: shop-worker
    host: shop-1
    kind: celery_worker
    platform: shop
    match: "newcomer_tasks worker"
    workers: 1
  - name: shop-beat
    host: shop-1
    kind: celery_beat
    platform: shop
redis:
  - name: broker
    host: shop-1
    url: {redis}
    celery:
      queues: [celery]
      beat_schedule: {{send_digest: 2s}}
alerting:
  receivers:
    page: {{webhooks: [{{url: "http://127.0.0.1:9/page"}}]}}
    ticket: {{webhooks: [{{url: "http://127.0.0.1:9/ticket"}}]}}
monitoring:
  exporter_intervals: {{worker_pools: 1s, celery: 1s}}
"""


def _fresh_copy(dest: Path) -> Path:
    """What a clone holds: the tracked and not-ignored files of this checkout, nothing generated locally."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _metric(text: str, metric: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(metric + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def platform(tmp_path, redis_srv):
    """The platform's real processes, started the way its operator runs them."""
    app_dir = tmp_path / "shop"
    app_dir.mkdir()
    (app_dir / "newcomer_app.py").write_text(APP)
    (app_dir / "newcomer_tasks.py").write_text(TASKS)
    port = free_port()
    env = {**os.environ, "NEWCOMER_BROKER": redis_srv.url, "PYTHONPATH": str(app_dir)}
    procs = []

    def start(*argv: str) -> None:
        log = open(app_dir / f"{argv[2]}-{len(procs)}.log", "w")  # noqa: SIM115 (closed with the process)
        procs.append(subprocess.Popen([PY, "-m", *argv], cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))

    try:
        start("gunicorn", "-w", "3", "-b", f"127.0.0.1:{port}", "newcomer_app:app")
        start("celery", "-A", "newcomer_tasks", "worker", "-E", "-c", "1", "--loglevel=INFO")
        start("celery", "-A", "newcomer_tasks", "beat", "-s", str(app_dir / "beat-schedule"), "--loglevel=INFO")
        wait_port(port, 30)
        yield {"port": port, "redis": redis_srv.url}
    finally:
        kill_process_groups(procs)


def test_newcomer_sees_their_pool_task_and_rules(platform, tmp_path):
    clone = _fresh_copy(tmp_path / "clone")
    site = tmp_path / "lookout.yaml"
    site.write_text(SITE.format(**platform))

    gen = subprocess.run([PY, "-m", "lookout.monitoring.cli", "generate", "--site", str(site),
                          "--out", str(tmp_path / "gen")],
                         cwd=clone, capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0, gen.stderr
    assert (tmp_path / "gen" / "exporters.yaml").exists() and (tmp_path / "gen/prometheus/prometheus.yml").exists()

    run_dir = tmp_path / "run"
    stack = subprocess.Popen([PY, "-m", "lookout.stack", "up", "--site", str(site), "--run-dir", str(run_dir),
                              "--scrape-interval", "2s", "--evaluation-interval", "2s"],
                             cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        out = ""
        while not out.endswith("\n}\n"):  # the stack prints its description (JSON) once everything answers
            line = stack.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            out += line
        assert out.strip().startswith("{"), f"stack did not start: {out}{stack.stderr.read() if stack.poll() else ''}"
        urls = json.loads(out)["urls"]
        exporter, prometheus = urls["exporters"], urls["prometheus"]

        deadline = time.monotonic() + 60
        t0 = time.time()
        workers = last = None
        while time.monotonic() < deadline:
            text = requests.get(f"{exporter}/metrics", timeout=5).text
            workers = _metric(text, "lookout_worker_pool_workers", service="shop-api", server="gunicorn")
            last = _metric(text, "lookout_celery_task_last_success_timestamp_seconds", name="send_digest")
            expected = _metric(text, "lookout_worker_pool_workers_expected", service="shop-api")
            if workers == 3 and expected == 3 and last is not None and last > t0 - 5:
                break
            time.sleep(1)
        assert workers == 3, text
        assert last is not None and last > t0 - 5, "send_digest never succeeded on /metrics"
        assert _metric(text, "lookout_celery_periodic_task_interval_seconds", name="send_digest") == 2

        groups = requests.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        alerts = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
        assert {"WorkerPoolMasterDown", "CeleryPeriodicTaskStale", "TargetDown"} <= alerts
        assert not [a for a in alerts if re.match(r"(Voice|Mcp|Credits|ElevenLabs|Chatcenter|Sla)", a)], alerts
        up = requests.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="lookout"}'}, timeout=5).json()
        deadline = time.monotonic() + 30
        while not up["data"]["result"] and time.monotonic() < deadline:
            time.sleep(1)
            up = requests.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="lookout"}'}, timeout=5).json()
        assert [r["value"][1] for r in up["data"]["result"]] == ["1"]
        assert up["data"]["result"][0]["metric"]["host"] == "shop-1"
    finally:
        os.killpg(stack.pid, signal.SIGTERM)
        try:
            stack.wait(60)
        except subprocess.TimeoutExpired:
            kill_process_groups([stack])
