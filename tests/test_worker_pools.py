"""worker_pools: parsers on fixture text, then real Gunicorn, Uvicorn and Celery pools under the real exporter.

Every server runs in its own process group; the ``spawn`` fixture kills the groups (after SIGCONT,
so that stopped processes die too) even when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from lookout.exporters.collectors import _procfs, _servers, _sockdiag
from lookout.exporters.config import Duration
from tests.support.exporter import exporter, promtool_check_metrics, value, write_config
from tests.support.servers import free_port, kill_process_groups, wait_port

BIN = Path(sys.executable).parent
INTERVAL = "0.5s"

# --- parsers on fixture text ---------------------------------------------------------------------

STAT = b"4242 (gunicorn: ma) ster) S 4200 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 987654 1000 2500 0 0"

NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:138A 00000000:0000 0A 00000000:00000005 00:00000000 00000000  1000        0 31337 1 0
   1: 0100007F:138A 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 31338 1 0
   2: 0100007F:D2F0 0100007F:138A 01 00000000:00000000 00:00000000 00000000  1000        0 0 1 0
"""

NET_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F41 00000000000000000000000000000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 4242 1 0
"""  # noqa: E501

NET_UNIX = """\
Num       RefCount Protocol Flags    Type St Inode Path
000000005c728214: 00000003 00000000 00000000 0001 03 52262 /run/other.sock
00000000b2e066ba: 00000002 00000000 00010000 0001 01 57824 /home/app/.gunicorn/gunicorn.ctl
00000000b2e066bb: 00000002 00000000 00010000 0001 01 57825 @abstract
"""


def test_parse_stat_with_parentheses_in_name():
    st = _procfs.parse_stat(STAT)
    assert (st.pid, st.comm, st.state, st.ppid) == (4242, "gunicorn: ma) ster", "S", 4200)
    assert (st.cpu_ticks, st.start_ticks, st.rss_pages) == (300, 987654, 2500)
    assert st.key == (4242, 987654) and st.alive
    assert not _procfs.parse_stat(STAT.replace(b" S ", b" Z ")).alive


def test_parse_cmdline_environ_and_fd_links():
    assert _procfs.parse_cmdline(b"gunicorn: master [app:app]\0\0\0\0") == ["gunicorn: master [app:app]"]
    assert _procfs.parse_cmdline(b"/v/bin/python\0/v/bin/gunicorn\0-w\x004\0") == [
        "/v/bin/python", "/v/bin/gunicorn", "-w", "4"]
    assert _procfs.parse_cmdline(b"") == []
    assert _procfs.parse_environ(b"HOME=/h\0A=b=c\0\0") == {"HOME": "/h", "A": "b=c"}
    assert _procfs.socket_inode("socket:[123]") == 123 and _procfs.socket_inode("pipe:[5]") is None


def test_parse_net_tcp_and_unix():
    rows = _procfs.parse_net_tcp(NET_TCP) + _procfs.parse_net_tcp(NET_TCP6)
    listen = [r for r in rows if r.state == _procfs.TCP_LISTEN]
    assert [(r.local_port, r.rx_queue, r.inode) for r in listen] == [(5002, 5, 31337), (8001, 2, 4242)]
    est = [r for r in rows if r.state == _procfs.TCP_ESTABLISHED and r.local_port == 5002]
    assert [r.inode for r in est] == [31338]
    unix = _procfs.parse_net_unix(NET_UNIX)
    assert [(u.inode, u.listening) for u in unix] == [(52262, False), (57824, True)]


def _diag_msg(state: int, port: int, rq: int, wq: int, inode: int) -> bytes:
    body = struct.pack("=BBBBHH44xIIIII", socket.AF_INET, state, 0, 0, socket.htons(port), 0, 0, rq, wq, 0, inode)
    return struct.pack("=IHHII", 16 + len(body), _sockdiag.SOCK_DIAG_BY_FAMILY, 2, 1, 0) + body


def test_sockdiag_parse_fixture_and_request():
    data = _diag_msg(10, 5002, 3, 128, 99) + _diag_msg(1, 5003, 0, 0, 100)
    rows, done = _sockdiag.parse_dump(data)
    assert rows == [_sockdiag.DiagSocket(socket.AF_INET, 10, 5002, 3, 128, 99),
                    _sockdiag.DiagSocket(socket.AF_INET, 1, 5003, 0, 0, 100)] and not done
    rows, done = _sockdiag.parse_dump(struct.pack("=IHHII", 20, _sockdiag.NLMSG_DONE, 2, 1, 0) + b"\0" * 4)
    assert rows == [] and done
    req = _sockdiag.build_request(socket.AF_INET6)
    assert len(req) == 16 + 56 and struct.unpack_from("=I", req)[0] == len(req)


def test_sockdiag_live_backlog_limit():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(7)
        port = s.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            found = [r for r in _sockdiag.listen_sockets().values() if r.port == port]
            assert [(r.queue, r.limit) for r in found] == [(3, 7)]
        finally:
            for c in clients:
                c.close()


def test_sockdiag_port_filter_returns_exactly_the_ports_sockets():
    """The kernel-side filter gives the same sockets as the whole dump filtered here (LISTEN and accepted)."""
    with contextlib.ExitStack() as stack:
        listeners = [stack.enter_context(socket.socket()) for _ in range(3)]
        for s in listeners:
            s.bind(("127.0.0.1", 0))
            s.listen(5)
        ports = [s.getsockname()[1] for s in listeners]
        stack.enter_context(socket.create_connection(("127.0.0.1", ports[1])))
        stack.enter_context(listeners[1].accept()[0])
        states = (1 << _sockdiag.TCP_LISTEN) | (1 << _sockdiag.TCP_ESTABLISHED)
        every = _sockdiag.dump(states)
        for chosen in ([ports[0]], [ports[1]], ports, [ports[2], ports[0]], [1]):
            got = _sockdiag.dump(states, ports=chosen)
            assert sorted(got, key=lambda r: r.inode) == sorted((r for r in every if r.port in chosen),
                                                                key=lambda r: r.inode)
        assert len(_sockdiag.dump(states, ports=[ports[1]])) == 2  # the listener and the accepted connection


@pytest.mark.parametrize(
    ("args", "prog"),
    [
        (["/v/bin/python3.11", "/v/bin/gunicorn", "-w", "4", "app:app"], "gunicorn"),
        (["python", "-u", "-m", "gunicorn.app.wsgiapp", "app:app"], "gunicorn"),
        (["/usr/local/bin/uvicorn", "main:app"], "uvicorn"),
        (["python", "-c", "from multiprocessing.spawn import spawn_main"], ""),
        (["gunicorn: master [app:app]"], "gunicorn: master [app:app]"),
    ],
)
def test_program(args, prog):
    assert _servers.program(args) == prog


def test_expected_workers_rules():
    g = _servers.gunicorn_expected
    assert g(["gunicorn", "-w4", "a:b"], {}, False).workers == 4
    assert g(["gunicorn", "--workers=3", "a:b"], {}, False).workers == 3
    assert g(["gunicorn", "a:b"], {"GUNICORN_CMD_ARGS": "--bind x -w 5"}, False).workers == 5
    assert g(["gunicorn", "a:b"], {"WEB_CONCURRENCY": "6"}, False).workers == 6
    assert g(["gunicorn", "a:b"], {}, False).workers == 1
    assert g(["gunicorn", "-c", "conf.py", "a:b"], {"WEB_CONCURRENCY": "6"}, False).workers is None
    assert g(["gunicorn", "a:b"], {}, True).workers is None
    assert g(["gunicorn: master [a:b]"], None, None).workers is None
    u = _servers.uvicorn_expected
    assert u(["uvicorn", "--workers", "2", "m:a"], {}).workers == 2
    assert u(["uvicorn", "m:a"], {"WEB_CONCURRENCY": "3"}).workers == 3
    assert u(["uvicorn", "m:a"], {}).workers == 1
    c = _servers.celery_expected
    assert c(["celery", "-A", "t", "worker", "--concurrency", "2"], None).workers == 2
    assert c(["celery", "-A", "t", "worker", "-c3"], None).workers == 3
    assert c(["[celeryd: w@h:MainProcess] -active- (-A t worker --concurrency=4 -l info)"], None).workers == 4
    assert c(["celery", "-A", "t", "worker", "--autoscale=8,2"], None).workers is None
    assert _servers.gunicorn_control_socket(["gunicorn"], {"HOME": "/h"}) == "/h/.gunicorn/gunicorn.ctl"
    assert _servers.gunicorn_control_socket(["gunicorn", "--no-control-socket"], {"HOME": "/h"}) is None


def test_worker_rules():
    master = ["/v/bin/python", "/v/bin/celery", "-A", "t", "worker"]
    assert _servers.celery_is_master(master) and not _servers.celery_is_master(["celery", "-A", "t", "beat"])
    assert _servers.celery_is_worker(["[celeryd: w@h:ForkPoolWorker-1]"], ["[celeryd: w@h:MainProcess] x"])
    assert not _servers.celery_is_worker(["[celery beat]"], master)
    assert _servers.gunicorn_is_worker(["gunicorn: worker [a]"], ["gunicorn: master [a]"])
    assert not _servers.gunicorn_is_worker(["gunicorn: dirty-arbiter"], ["gunicorn: master [a]"])
    assert not _servers.uvicorn_is_worker(["python", "-c", "from multiprocessing.resource_tracker import main"], [])


# --- real servers --------------------------------------------------------------------------------

WSGI_APP = """
import time

def app(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or 5))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\\n"]
"""

ASGI_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""

CELERY_APP = """
import os
from celery import Celery

app = Celery("tasks", broker=os.environ["BROKER_URL"])

@app.task
def add(x, y):
    return x + y
"""


class Spawner:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.tag = uuid.uuid4().hex[:8]  # app names unique to this test: other tests run in parallel
        self.procs: list[subprocess.Popen[bytes]] = []
        # the servers' TMPDIR: what a SIGKILLed server leaves (Gunicorn's gunicorn-dirty-*, pymp-*) goes with
        # it; short, not in tmp_path: the dirty arbiter's sockets are in there (107-byte limit of socket paths)
        self.tmpdir = Path(tempfile.mkdtemp(prefix="spawn-"))
        shim = tmp / "noproctitle" / "setproctitle"
        shim.mkdir(parents=True)
        (shim / "__init__.py").write_text('raise ImportError("setproctitle disabled for this test")\n')

    def __call__(self, args: list[str], *, setproctitle: bool = True, home: Path | None = None,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        e = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "WEB_CONCURRENCY")}
        paths = [str(self.tmp)] if setproctitle else [str(self.tmp / "noproctitle"), str(self.tmp)]
        e.update(PYTHONPATH=os.pathsep.join(paths), HOME=str(home or self.tmp), TMPDIR=str(self.tmpdir),
                 **(env or {}))
        log = open(self.tmp / f"server-{len(self.procs)}.log", "wb")  # noqa: SIM115
        p = subprocess.Popen(args, cwd=self.tmp, env=e, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def app(self, name: str) -> str:
        """A WSGI app module of its own (written on first use), as ``module:app``."""
        module = f"{name}_{self.tag}"
        (self.tmp / f"{module}.py").write_text(WSGI_APP)
        return f"{module}:app"

    def cleanup(self) -> None:
        kill_process_groups(self.procs)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


@pytest.fixture
def spawn(tmp_path):
    s = Spawner(tmp_path)
    (tmp_path / "asgi_app.py").write_text(ASGI_APP)
    (tmp_path / "tasks.py").write_text(CELERY_APP)
    try:
        yield s
    finally:
        s.cleanup()


def gunicorn(spawn: Spawner, app: str, port: int, workers: int = 4, extra: tuple[str, ...] = (), **kw):
    return spawn([str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "120",
                  *extra, app], **kw)


def pools_config(tmp_path: Path, pools: list[dict]) -> Path:
    return write_config(tmp_path / "exporter.yaml", {"worker_pools": {"interval": INTERVAL, "pools": pools}})


def workers_of(master_pid: int, count: int, timeout: float = 30.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [k for k in psutil.Process(master_pid).children() if "resource_tracker" not in " ".join(k.cmdline())]
        if len(kids) >= count:
            return kids
        time.sleep(0.1)
    raise AssertionError(f"master {master_pid} did not start {count} workers")


def v(s, name, server, service):
    return value(s, name, server=server, service=service)


def clean_exposition(exp) -> None:
    text = exp.metrics()
    assert promtool_check_metrics(text) == ""
    assert "pid=" not in text


def kill_one_worker_and_see_restart(exp, master: subprocess.Popen, workers: list[psutil.Process],
                                    server: str, service: str, total: int) -> None:
    """Freeze the master so the kill shows as a dip, then let it replace the worker."""
    before = v(exp.wait_for(lambda s: v(s, "lookout_worker_pool_workers", server, service) == total),
               "lookout_worker_pool_worker_restarts_total", server, service)
    os.kill(master.pid, signal.SIGSTOP)
    try:
        os.kill(workers[0].pid, signal.SIGKILL)
        exp.wait_for(lambda s: v(s, "lookout_worker_pool_workers", server, service) == total - 1)
    finally:
        os.kill(master.pid, signal.SIGCONT)
    exp.wait_for(lambda s: v(s, "lookout_worker_pool_workers", server, service) == total
                 and v(s, "lookout_worker_pool_worker_restarts_total", server, service) >= before + 1, timeout=40)


def kill_master(exp, master: subprocess.Popen, server: str, service: str) -> None:
    os.kill(master.pid, signal.SIGKILL)
    master.wait(10)
    s = exp.wait_for(lambda s: v(s, "lookout_worker_pool_master_up", server, service) == 0)
    assert value(s, "lookout_collector_up", collector="worker_pools") == 1
    clean_exposition(exp)


def open_connections(port: int, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        c = socket.socket()
        c.settimeout(5)
        c.connect(("127.0.0.1", port))
        out.append(c)
    return out


@pytest.mark.parametrize("setproctitle", [True, False], ids=["setproctitle", "no-setproctitle"])
def test_gunicorn_sync(spawn, tmp_path, setproctitle):
    port = free_port()
    app = spawn.app("app_a")
    master = gunicorn(spawn, app, port, setproctitle=setproctitle)
    wait_port(port, 30)
    workers = workers_of(master.pid, 4)
    title = " ".join(psutil.Process(master.pid).cmdline())
    assert title.startswith("gunicorn: master") == setproctitle, title
    cfg = pools_config(tmp_path, [{"service": "voice-api", "server": "gunicorn", "match": app, "port": port}])
    with exporter(cfg) as exp:
        # expected: from the control socket with setproctitle (the title hides -w 4), else from -w
        s = exp.wait_for(lambda s: v(s, "lookout_worker_pool_workers", "gunicorn", "voice-api") == 4
                         and v(s, "lookout_worker_pool_workers_expected", "gunicorn", "voice-api") == 4)
        assert v(s, "lookout_worker_pool_master_up", "gunicorn", "voice-api") == 1
        assert v(s, "lookout_worker_pool_masters", "gunicorn", "voice-api") == 1
        assert v(s, "lookout_worker_pool_listen_queue_length", "gunicorn", "voice-api") == 0
        assert v(s, "lookout_worker_pool_listen_queue_limit", "gunicorn", "voice-api") > 0
        assert v(s, "lookout_worker_pool_workers_resident_memory_bytes", "gunicorn", "voice-api") > 4 * 1e6
        assert v(s, "lookout_worker_pool_master_start_time_seconds", "gunicorn", "voice-api") > time.time() - 600
        clean_exposition(exp)

        # two requests held by sync workers: two busy workers (the clients are daemon threads)
        for _ in range(2):
            threading.Thread(target=_get, args=(port, "/slow?8"), daemon=True).start()
        exp.wait_for(lambda s: v(s, "lookout_worker_pool_workers_busy", "gunicorn", "voice-api") == 2)

        kill_one_worker_and_see_restart(exp, master, workers, "gunicorn", "voice-api", 4)

        # frozen workers: connections pile up in the accept queue
        workers = workers_of(master.pid, 4)
        for w in workers:
            os.kill(w.pid, signal.SIGSTOP)
        conns = open_connections(port, 40)
        try:
            s = exp.wait_for(lambda s: (v(s, "lookout_worker_pool_listen_queue_length", "gunicorn",
                                          "voice-api") or 0) > 0)
            assert v(s, "lookout_worker_pool_listen_queue_limit", "gunicorn", "voice-api") >= 40
        finally:
            for w in workers:
                os.kill(w.pid, signal.SIGCONT)
            for c in conns:
                c.close()
        cpu = v(exp.wait_for(lambda s: True), "lookout_worker_pool_workers_cpu_seconds_total", "gunicorn", "voice-api")
        kill_master(exp, master, "gunicorn", "voice-api")
        s = exp.wait_for(lambda s: True)
        assert v(s, "lookout_worker_pool_workers_cpu_seconds_total", "gunicorn", "voice-api") >= cpu


def _get(port: int, path: str) -> None:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        while c.recv(4096):
            pass


def test_gunicorn_gthread_and_second_master(spawn, tmp_path):
    """Two masters on one host (different apps, one without setproctitle), told apart by `match`."""
    port_a, port_b = free_port(), free_port()
    home_b = tmp_path / "home_b"
    home_b.mkdir()
    app_a, app_b = spawn.app("app_a"), spawn.app("app_b")
    a = gunicorn(spawn, app_a, port_a, extra=("-k", "gthread", "--threads", "2"))
    b = gunicorn(spawn, app_b, port_b, workers=2, setproctitle=False, home=home_b)
    wait_port(port_a, 30)
    wait_port(port_b, 30)
    workers_a = workers_of(a.pid, 4)
    cfg = pools_config(tmp_path, [
        {"service": "voice-api", "server": "gunicorn", "match": app_a, "port": port_a},
        {"service": "other-api", "server": "gunicorn", "match": app_b, "port": port_b},
    ])
    with exporter(cfg) as exp:
        s = exp.wait_for(lambda s: v(s, "lookout_worker_pool_workers", "gunicorn", "voice-api") == 4
                         and v(s, "lookout_worker_pool_workers", "gunicorn", "other-api") == 2
                         and v(s, "lookout_worker_pool_workers_expected", "gunicorn", "voice-api") == 4)
        assert v(s, "lookout_worker_pool_workers_expected", "gunicorn", "other-api") == 2
        assert v(s, "lookout_worker_pool_masters", "gunicorn", "voice-api") == 1
        assert v(s, "lookout_worker_pool_masters", "gunicorn", "other-api") == 1
        clean_exposition(exp)
        kill_one_worker_and_see_restart(exp, a, workers_a, "gunicorn", "voice-api", 4)
        assert v(exp.wait_for(lambda s: True), "lookout_worker_pool_worker_restarts_total", "gunicorn",
                 "other-api") == 0
        # the no-setproctitle master dies: its orphans must not be taken for masters
        kill_master(exp, b, "gunicorn", "other-api")
        s = exp.wait_for(lambda s: v(s, "lookout_worker_pool_masters", "gunicorn", "other-api") == 0)
        assert v(s, "lookout_worker_pool_master_up", "gunicorn", "voice-api") == 1


DIRTY_APP = """
from gunicorn.dirty.app import DirtyApp


class Heavy(DirtyApp):
    def ping(self):
        return "pong"
"""


@pytest.mark.parametrize("control_socket", [True, False], ids=["control-socket", "pid-file"])
def test_gunicorn_dirty_arbiter_is_not_a_worker(spawn, tmp_path, control_socket):
    """Without setproctitle the dirty arbiter looks like a worker: the control socket or its PID file tell."""
    port, app = free_port(), spawn.app("app_d")
    (tmp_path / f"dirty_{spawn.tag}.py").write_text(DIRTY_APP)
    extra = ("--dirty-app", f"dirty_{spawn.tag}:Heavy", "--dirty-workers", "1")
    master = gunicorn(spawn, app, port, workers=2, setproctitle=False,
                      extra=extra if control_socket else (*extra, "--no-control-socket"))
    wait_port(port, 30)
    workers_of(master.pid, 3)  # 2 workers + the dirty arbiter, whose child is the dirty worker
    cfg = pools_config(tmp_path, [{"service": "voice-api", "server": "gunicorn", "match": app, "port": port}])
    with exporter(cfg) as exp:
        s = exp.wait_for(lambda s: v(s, "lookout_worker_pool_master_up", "gunicorn", "voice-api") == 1)
        since = value(s, "lookout_collector_last_success_timestamp_seconds", collector="worker_pools")
        # a few refreshes later (every command line re-read after 1 s of age), still 2
        s = exp.wait_for(lambda s: value(s, "lookout_collector_last_success_timestamp_seconds",
                                         collector="worker_pools") > since + 1.5)
        assert v(s, "lookout_worker_pool_workers", "gunicorn", "voice-api") == 2
        assert v(s, "lookout_worker_pool_workers_expected", "gunicorn", "voice-api") == 2


def test_uvicorn_workers(spawn, tmp_path):
    port = free_port()
    master = spawn([str(BIN / "uvicorn"), "--workers", "2", "--host", "127.0.0.1", "--port", str(port),
                    "--log-level", "warning", "asgi_app:app"])
    wait_port(port, 40)
    workers = workers_of(master.pid, 2, timeout=40)
    assert any("resource_tracker" in " ".join(p.cmdline()) for p in psutil.Process(master.pid).children()), \
        "expected uvicorn to start a multiprocessing resource tracker"
    cfg = pools_config(tmp_path, [{"service": "chat-api", "server": "uvicorn", "match": f"--port {port}",
                                   "port": port}])
    with exporter(cfg) as exp:
        s = exp.wait_for(lambda s: v(s, "lookout_worker_pool_workers", "uvicorn", "chat-api") == 2, timeout=30)
        assert v(s, "lookout_worker_pool_workers_expected", "uvicorn", "chat-api") == 2
        assert v(s, "lookout_worker_pool_master_up", "uvicorn", "chat-api") == 1
        assert v(s, "lookout_worker_pool_listen_queue_limit", "uvicorn", "chat-api") > 0
        clean_exposition(exp)
        kill_one_worker_and_see_restart(exp, master, workers, "uvicorn", "chat-api", 2)
        kill_master(exp, master, "uvicorn", "chat-api")


@pytest.mark.parametrize("setproctitle", [True, False], ids=["setproctitle", "no-setproctitle"])
def test_celery_prefork(spawn, tmp_path, redis_srv, setproctitle):
    master = spawn([str(BIN / "celery"), "-A", "tasks", "worker", "--pool", "prefork", "--concurrency", "2",
                    "-n", f"w{spawn.tag}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-l", "warning"], setproctitle=setproctitle, env={"BROKER_URL": redis_srv.url})
    workers = workers_of(master.pid, 2, timeout=60)
    cfg = pools_config(tmp_path, [{"service": "celery-worker", "server": "celery", "match": f"w{spawn.tag}@"}])
    with exporter(cfg) as exp:
        s = exp.wait_for(lambda s: v(s, "lookout_worker_pool_workers", "celery", "celery-worker") == 2
                         and v(s, "lookout_worker_pool_workers_expected", "celery", "celery-worker") == 2, timeout=30)
        assert v(s, "lookout_worker_pool_master_up", "celery", "celery-worker") == 1
        assert v(s, "lookout_worker_pool_listen_queue_length", "celery", "celery-worker") is None
        clean_exposition(exp)
        kill_one_worker_and_see_restart(exp, master, workers, "celery", "celery-worker", 2)
        kill_master(exp, master, "celery", "celery-worker")


def test_unrelated_processes_are_ignored(tmp_path):
    """A pytest run mentioning gunicorn, a shell, a celery beat: no pool found, nothing published but zeros."""
    script = tmp_path / "x.py"
    script.write_text("import time\ntime.sleep(60)\n")
    decoys = [subprocess.Popen([sys.executable, str(script), "gunicorn", "-w", "4"]),
              subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "celery", "worker"])]
    try:
        from lookout.exporters.collector import Snapshot
        from lookout.exporters.collectors.worker_pools import PoolSettings, WorkerPools, WorkerPoolsSettings

        c = WorkerPools(WorkerPoolsSettings(pools=[
            PoolSettings(service="x", server="gunicorn", match=str(script)),
            PoolSettings(service="y", server="celery", match="time.sleep(60)"),
        ]))
        snap = Snapshot(c.metrics)
        c.refresh(snap)
        got = {(m.name, s.labels["service"]): s.value for m in snap.families() for s in m.samples}
        assert got[("lookout_worker_pool_master_up", "x")] == 0 and got[("lookout_worker_pool_master_up", "y")] == 0
        assert got[("lookout_worker_pool_workers", "x")] == 0
    finally:
        for p in decoys:
            p.kill()
            p.wait()


# -- cost follows the pools: full scans only when needed, the same answers as a full scan every time ------------

def _published(c) -> dict:
    from lookout.exporters.collector import Snapshot

    snap = Snapshot(c.metrics)
    c.refresh(snap)
    # what a process is, not how much it uses at that instant (memory, CPU, busy): those move between refreshes
    return {(m.name, s.labels["service"]): s.value for m in snap.families() for s in m.samples
            if "memory" not in m.name and "cpu" not in m.name and m.name != "lookout_worker_pool_workers_busy"}


def _until(cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@pytest.mark.parametrize("children_file", [True, False], ids=["children-file", "kernel-without-children-file"])
def test_pools_scan_matches_full_scans(spawn, tmp_path, monkeypatch, children_file):
    """Between full scans only the pools' processes are read; every refresh publishes what a full scan of the
    whole table publishes, through a worker kill (restart), the master's death (orphans) and a new master."""
    from lookout.exporters.collectors.worker_pools import PoolSettings, WorkerPools, WorkerPoolsSettings

    port = free_port()
    app = spawn.app("fast")
    master = gunicorn(spawn, app, port, workers=2, setproctitle=False)
    wait_port(port, 30)
    workers = workers_of(master.pid, 2)
    pools = [PoolSettings(service="api", server="gunicorn", match=app)]
    fast = WorkerPools(WorkerPoolsSettings(pools=pools))
    full = WorkerPools(WorkerPoolsSettings(pools=pools, rescan_interval=Duration(0)))
    if not children_file:
        def missing(pid):
            raise _procfs.ChildrenUnsupported("no children file")
        monkeypatch.setattr(fast.proc, "children", missing)

    def both() -> dict:
        for _ in range(5):  # a process may change between the two refreshes: a few tries to see one state
            a, b = _published(fast), _published(full)
            if a == b:
                return a
        assert a == b
        return a

    s = both()
    assert s[("lookout_worker_pool_workers", "api")] == 2 and fast.full_scans == 1
    for _ in range(3):
        both()
    assert fast.full_scans == (1 if children_file else full.full_scans)

    os.kill(master.pid, signal.SIGSTOP)  # the kill shows as a dip, then the replacement as one restart
    try:
        os.kill(workers[0].pid, signal.SIGKILL)
        _until(lambda: not psutil.pid_exists(workers[0].pid) or psutil.Process(workers[0].pid).status() == "zombie")
        assert both()[("lookout_worker_pool_workers", "api")] == 1
    finally:
        os.kill(master.pid, signal.SIGCONT)
    _until(lambda: both()[("lookout_worker_pool_workers", "api")] == 2)
    s = both()
    assert s[("lookout_worker_pool_worker_restarts", "api")] == 1
    assert fast.full_scans == (1 if children_file else full.full_scans)

    orphans = [k for k in psutil.Process(master.pid).children() if k.pid != workers[0].pid]
    assert len(orphans) == 2
    os.kill(master.pid, signal.SIGKILL)  # orphans without setproctitle: still workers, never masters
    master.wait(10)
    s = both()
    assert s[("lookout_worker_pool_master_up", "api")] == 0 and s[("lookout_worker_pool_workers", "api")] == 2
    scans = fast.full_scans
    both()
    assert fast.full_scans == scans + 1  # a pool without a master looks for one in the whole table
    for o in orphans:
        o.kill()
    _until(lambda: both()[("lookout_worker_pool_workers", "api")] == 0)

    master2 = gunicorn(spawn, app, port, workers=2, setproctitle=False)  # a new master: found by the full scan
    wait_port(port, 30)
    workers_of(master2.pid, 2)
    _until(lambda: both()[("lookout_worker_pool_workers", "api")] == 2)
    assert both()[("lookout_worker_pool_master_up", "api")] == 1
    fast.stop()
    full.stop()


def test_busy_workers_read_connections_only_when_a_worker_holds_an_unknown_socket(spawn):
    """An idle pool costs no read of the kernel's connection table; a request held by a worker is seen at once,
    and the worker is idle again once the request ends."""
    from lookout.exporters.collectors.worker_pools import PoolSettings, WorkerPools, WorkerPoolsSettings

    port = free_port()
    app = spawn.app("busy")
    master = gunicorn(spawn, app, port, workers=2)
    wait_port(port, 30)
    workers_of(master.pid, 2)
    c = WorkerPools(WorkerPoolsSettings(pools=[PoolSettings(service="api", server="gunicorn", match=app, port=port)]))
    reads = []
    real = c._tables.connections
    c._tables.connections = lambda view: reads.append(1) or real(view)

    def busy() -> float:
        return _published_all(c)[("lookout_worker_pool_workers_busy", "api")]

    assert busy() == 0
    reads.clear()
    for _ in range(3):
        assert busy() == 0
    assert reads == []  # every socket the workers hold is the listener or known not to be a connection

    threading.Thread(target=_get, args=(port, "/slow?3"), daemon=True).start()
    _until(lambda: busy() == 1)
    assert reads  # the accepted connection was unknown: the table was read
    _until(lambda: busy() == 0, timeout=20)
    reads.clear()
    assert busy() == 0 and reads == []
    c.stop()


def test_full_scan_skips_known_processes_but_not_a_new_one(tmp_path):
    """A full scan reads nothing of an old process that is no server's; a new master appears at the next full
    scan all the same, whatever pid it has."""
    from lookout.exporters.collectors.worker_pools import REREAD_AGES, PoolSettings, WorkerPools, WorkerPoolsSettings

    c = WorkerPools(WorkerPoolsSettings(pools=[PoolSettings(service="x", server="celery", match=str(tmp_path))],
                                        rescan_interval=Duration(0)))
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(REREAD_AGES[-1] + 0.5)  # old enough for its command line never to be read again
        _published_all(c)
        assert sleeper.pid in c._others  # known to be no server's: the next full scans skip it
        read = []
        real = c.proc.stat
        c.proc.stat = lambda pid: read.append(pid) or real(pid)
        _published_all(c)
        assert sleeper.pid not in read and len(read) < len(c._others)
        script = tmp_path / "celery"  # a command line the celery rules take for a master: `python .../celery worker`
        script.write_text("import time\ntime.sleep(60)\n")
        master = subprocess.Popen([sys.executable, str(script), "worker"])
        try:
            _until(lambda: _published_all(c)[("lookout_worker_pool_master_up", "x")] == 1)
        finally:
            master.kill()
            master.wait()
    finally:
        sleeper.kill()
        sleeper.wait()


def _published_all(c) -> dict:
    from lookout.exporters.collector import Snapshot

    snap = Snapshot(c.metrics)
    c.refresh(snap)
    return {(m.name, s.labels["service"]): s.value for m in snap.families() for s in m.samples}
