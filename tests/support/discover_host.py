"""A small platform host for ``lookout discover``'s tests, alone in its own PID and network namespaces.

``python -m tests.support.discover_host DIR`` runs as PID 1 of a namespace made by ``unshare --pid --fork
--mount-proc --net`` (``start`` below): it brings loopback up, starts Redis (with a password), PostgreSQL
(two databases, one with the chat center's reference tables, one without), Gunicorn (3 workers), Uvicorn
(2 workers), a Celery worker (2 processes) and beat (two periodic tasks), and unrelated Python processes
that must not be taken for pools; then writes DIR/ready and waits. Discover run inside the namespace
(``nsenter``) sees exactly this platform, whatever else the test machine runs. Killing PID 1 ends every
process of the namespace.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

APP = '''
from flask import Flask

app = Flask(__name__)


@app.get("/health")
def health():
    return "ok"
'''
CHAT = '''
METRICS = b"# TYPE http_requests_total counter\\nhttp_requests_total{path=\\"/api/chats\\"} 3\\n"


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    status, body = {"/api/health": (200, b"ok"), "/api/metrics": (200, METRICS)}.get(scope["path"], (404, b"no"))
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
'''
TASKS = '''
import os
from datetime import timedelta

from celery import Celery

app = Celery("disc_tasks", broker=os.environ["CELERY_BROKER_URL"])
app.conf.update(task_ignore_result=True, beat_schedule={
    "sync-every-2s": {"task": "disc_tasks.sync_sellers", "schedule": 2.0},
    "close-every-minute": {"task": "disc_tasks.close_idle_chats", "schedule": timedelta(minutes=1)},
})


@app.task
def sync_sellers():
    return "synced"


@app.task
def close_idle_chats():
    return "closed"
'''
FORKER = '''
import os, sys, time
# an unrelated tool that forks a copy of itself and mentions gunicorn and celery in its arguments
if os.fork() == 0:
    time.sleep(3600)
time.sleep(3600)
'''
REDIS_PASSWORD = "brokerpw-7f3a"
DB_PASSWORD = "s3cret-pw-91c"
PORTS = {"redis": 6390, "postgres": 5440, "gunicorn": 8011, "uvicorn": 8012, "http_server": 8013, "nginx": 8014,
         "nginx_other": 8015}


def _nginx(base: Path, root: Path) -> list[str]:
    """Nginx in front of Gunicorn with the log format lookout parses, and a second site with one it does not
    (its server block in an included file); returns its command line."""
    d = base / "nginx"
    (d / "conf.d").mkdir(parents=True)
    (d / "tmp").mkdir()
    fmt = re.search(r"log_format lookout (.*?);", (root / "deploy/compose/demo-nginx.conf").read_text(), re.S)
    assert fmt is not None
    temp = " ".join(f"{k}_temp_path {d / 'tmp' / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (d / "nginx.conf").write_text(f"""daemon off;
worker_processes 1;
pid {d / 'nginx.pid'};
error_log {d / 'error.log'} warn;
events {{ worker_connections 64; }}
http {{
  {temp}
  log_format lookout {fmt.group(1)};
  log_format short '$remote_addr $status';
  include conf.d/*.conf;
}}
""")
    (d / "conf.d" / "shop.conf").write_text(f"""
server {{
  listen 127.0.0.1:{PORTS['nginx']};
  access_log {d / 'shop-access.log'} lookout;
  location / {{ proxy_pass http://127.0.0.1:{PORTS['gunicorn']}; }}
}}
server {{
  listen 127.0.0.1:{PORTS['nginx_other']};
  access_log {d / 'other-access.log'} short;  # not a format the log exporter parses
  return 200 "ok";
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return [nginx, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log")]


def main(base: Path) -> None:
    from lookout.stack.procs import wait_port
    from lookout.stack.servers import Postgres, Redis

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    app_dir = base / "shop"
    app_dir.mkdir()
    (app_dir / "disc_shop.py").write_text(APP)
    (app_dir / "disc_chat.py").write_text(CHAT)
    (app_dir / "disc_tasks.py").write_text(TASKS)
    (app_dir / "tool.py").write_text(FORKER)
    py = sys.executable
    broker = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{PORTS['redis']}/0"
    pg = PORTS["postgres"]
    (base / "tmp").mkdir(exist_ok=True)
    # TMPDIR: what the processes killed with the namespace leave (Celery's pymp-*) goes with the host's folder
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(app_dir), "HOME": str(base), "TMPDIR": str(base / "tmp"),
           "CELERY_BROKER_URL": broker,
           "SHOP_DATABASE_URL": f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:{pg}/shop",
           "NOTES_DATABASE_URL": f"postgresql://postgres@localhost:{pg}/notes"}
    logs = base / "logs"
    logs.mkdir()

    def start(name: str, *argv: str) -> None:
        with open(logs / f"{name}.log", "w") as log:
            subprocess.Popen(argv, cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)

    os.chmod(base, 0o777)  # user postgres reaches its folder
    Redis(base / "redis", port=PORTS["redis"], password=REDIS_PASSWORD).start()
    Postgres(base / "pg", port=pg, shared_buffers="32MB").start()
    import psycopg

    root = Path(__file__).resolve().parents[2]
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg}/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE shop")
        conn.execute("CREATE DATABASE notes")
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg}/shop", autocommit=True) as conn:
        conn.execute((root / "exporters" / "schemas" / "chatcenter.sql").read_text())
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg}/notes", autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id bigserial PRIMARY KEY, body text)")

    start("gunicorn", py, "-m", "gunicorn", "-w", "3", "-b", f"127.0.0.1:{PORTS['gunicorn']}", "disc_shop:app")
    start("uvicorn", py, "-m", "uvicorn", "--workers", "2", "--host", "127.0.0.1", "--port",
          str(PORTS["uvicorn"]), "disc_chat:app")
    start("worker", py, "-m", "celery", "-A", "disc_tasks", "worker", "-c", "2", "-E", "--loglevel=INFO")
    start("beat", py, "-m", "celery", "-A", "disc_tasks", "beat", "-s", str(base / "beat-schedule"),
          "--loglevel=INFO")
    # unrelated Python processes: none is a pool, the HTTP server has no health endpoint
    start("sleeper", py, "-c", "import time; time.sleep(3600)", "gunicorn", "-w", "3", "celery", "worker")
    start("tool", py, str(app_dir / "tool.py"), "--workers", "3", "uvicorn")
    start("http_server", py, "-m", "http.server", "--bind", "127.0.0.1", str(PORTS["http_server"]))
    start("nginx", *_nginx(base, root))
    for name in ("gunicorn", "uvicorn", "http_server", "nginx"):
        wait_port(PORTS[name], 60)
    _wait_workers(app_dir)
    (base / "ready").write_text("ok\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:  # PID 1: reap what dies
        with contextlib.suppress(ChildProcessError):
            os.wait()
        time.sleep(0.5)


def _wait_workers(app_dir: Path, timeout: float = 60) -> None:
    """Until the Celery worker's 2 pool processes and the Uvicorn workers run (the pools discover counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cmds = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                with contextlib.suppress(OSError):
                    cmds.append(Path(f"/proc/{d}/cmdline").read_bytes())
        titled = sum(1 for c in cmds if b"ForkPoolWorker" in c)
        pool = max(titled, sum(1 for c in cmds if b"disc_tasks\0worker" in c) - 1)
        spawned = sum(1 for c in cmds if b"spawn_main" in c)
        if pool >= 2 and spawned >= 2:
            return
        time.sleep(0.2)
    raise TimeoutError("pool workers did not start")


def start(base: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start the namespace; return the ``unshare`` process and the host PID of its PID 1."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--net", sys.executable, "-m",
                             "tests.support.discover_host", str(base)], cwd=root, start_new_session=True,
                            stdout=open(base / "host.log", "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (base / "ready").exists():
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            return proc, int(kids[0])
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    log = (base / "host.log").read_text()
    proc.kill()
    raise RuntimeError(f"the discover test host did not start:\n{log[-3000:]}")


def run_in(ns_pid: int, argv: list[str], timeout: float = 120,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside the namespace (its processes, its /proc, its loopback)."""
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(["nsenter", "-t", str(ns_pid), "-p", "-n", "-m", "--", *argv], cwd=root,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


if __name__ == "__main__":
    main(Path(sys.argv[1]))
