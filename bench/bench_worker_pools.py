"""Benchmark of the worker_pools collector on a busy host, and of /metrics while another source hangs.

Starts 1,000 unrelated processes (``sleep``), four real pools (three Gunicorn masters with 4 workers,
one ``uvicorn --workers 2``), then prints:

1. the worker_pools refresh time (in-process, p50/p99 over ``--refreshes`` refreshes, plus the first,
   cold refresh that reads every command line once), before and after;
2. ``/metrics`` latency p50/p99 over ``--scrapes`` scrapes of the real ``lookout-exporter run``
   process, configured with worker_pools (interval 5s, the four pools) and ``bench_hang``, a
   bench-only collector defined in this file whose source accepts connections and never answers.
   It is registered in the exporter process by a launcher, so the product has no fake collector.
   Then the same without worker_pools, as a baseline of the machine at that moment.

Wall times depend on the machine's load (printed); the refresh's CPU time does much less.

The refresh is measured in three forms side by side: a full scan of /proc reading every process, a full
scan skipping the processes already known to be no server's (the once-a-minute scan now), and the default
(the pools' processes only between full scans). Targets: refresh under 5 ms p99 at 1,000 host processes and 4
pools, /metrics p99 under 10 ms. Every process started is killed (process
groups) on exit. Usage: ``.venv/bin/python bench/bench_worker_pools.py [--sleepers 1000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lookout.exporters.collector import Collector, Snapshot, gauge  # noqa: E402
from lookout.exporters.config import CollectorSettings, setting  # noqa: E402
from lookout.stack.procs import free_port, kill_process_groups, wait_port  # noqa: E402

BIN = Path(sys.executable).parent


@dataclass
class HangSettings(CollectorSettings):
    port: int = setting(0, help="A port that accepts connections and never answers.")


class HangingCollector(Collector):
    """Bench only: a source that hangs (connects, sends, waits for an answer that never comes)."""

    name = "bench_hang"
    Settings = HangSettings
    metrics = (gauge("bench_hang_value", "Never published: the source never answers."),)

    def refresh(self, snap: Snapshot) -> None:
        with socket.create_connection(("127.0.0.1", self.settings.port), timeout=3600) as s:
            s.sendall(b"PING\r\n")
            s.recv(1)
        snap.add("bench_hang_value", 1)


COLLECTOR = HangingCollector

LAUNCHER = """
import sys
sys.path.insert(0, {bench!r})
import bench_worker_pools
import lookout.exporters.collectors as registry
sys.modules["lookout.exporters.collectors.bench_hang"] = bench_worker_pools
registry.REGISTRY = (*registry.REGISTRY, "bench_hang")
from lookout.exporters.cli import main
sys.exit(main(sys.argv[1:]))
"""

WSGI_APP = "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n"
ASGI_APP = """
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""


class Groups:
    """Processes started in their own process groups, all killed on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], **kw) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def close(self) -> None:
        kill_process_groups(self.procs)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def ms(values: list[float]) -> str:
    p50, p99, top = pct(values, 0.5) * 1000, pct(values, 0.99) * 1000, max(values) * 1000
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {top:.1f} ms"


@contextlib.contextmanager
def environment(groups: Groups, sleepers: int, tmp: Path) -> Iterator[list[dict]]:
    before = len([p for p in os.listdir("/proc") if p.isdigit()])
    groups.start(["sh", "-c", f"i=0; while [ $i -lt {sleepers} ]; do sleep 3600 & i=$((i+1)); done; wait"])
    (tmp / "bench_app.py").write_text(WSGI_APP)
    (tmp / "bench_asgi.py").write_text(ASGI_APP)
    # TMPDIR: what the killed servers leave (pymp-*) goes with the bench's folder
    env = {**os.environ, "PYTHONPATH": str(tmp), "HOME": str(tmp), "TMPDIR": str(tmp)}
    env.pop("XDG_RUNTIME_DIR", None)
    pools: list[dict] = []
    for i in range(3):
        port = free_port()
        home = tmp / f"home{i}"
        home.mkdir()
        groups.start([str(BIN / "gunicorn"), "-w", "4", "-b", f"127.0.0.1:{port}", "-n", f"bench-{i}",
                      "bench_app:app"], cwd=tmp, env={**env, "HOME": str(home)})
        pools.append({"service": f"bench-{i}", "server": "gunicorn", "match": f"[bench-{i}]", "port": port})
    port = free_port()
    groups.start([str(BIN / "uvicorn"), "--workers", "2", "--port", str(port), "--log-level", "warning",
                  "bench_asgi:app"], cwd=tmp, env=env)
    pools.append({"service": "bench-uvicorn", "server": "uvicorn", "match": str(port), "port": port})
    for p in pools:
        wait_port(p["port"], 60)
    deadline = time.monotonic() + 60
    while len([p for p in os.listdir("/proc") if p.isdigit()]) < before + sleepers and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # let uvicorn's spawn children and gunicorn's workers settle
    yield pools


def bench_refresh(pools: list[dict], n: int) -> None:
    """Three forms, refreshes interleaved so all see the same machine load: every refresh a full scan that
    reads every process (the first form); every refresh a full scan that skips the processes already known to
    be no server's (what the once-a-minute full scan now costs); the default (the pools' processes only between
    full scans, every ``rescan_interval``)."""
    from lookout.exporters.collectors.worker_pools import REREAD_AGES, PoolSettings, WorkerPools, WorkerPoolsSettings
    from lookout.exporters.config import Duration

    # a host's processes are mostly old: past the last command-line re-read (younger ones are read every full scan)
    time.sleep(REREAD_AGES[-1])
    settings = [PoolSettings(**p) for p in pools]
    every_process = WorkerPools(WorkerPoolsSettings(pools=settings, rescan_interval=Duration(0)))
    every_process.skip_others = False
    variants = {  # the first two scan the whole table every refresh
        "full scan, every process read (first form)": every_process,
        "full scan, known non-servers skipped (now)": WorkerPools(
            WorkerPoolsSettings(pools=settings, rescan_interval=Duration(0))),
        "default: pools only, full scan every 60 s": WorkerPools(WorkerPoolsSettings(pools=settings)),
    }
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    found: dict[str, dict] = {}
    for _ in range(n + 1):
        for name, c in variants.items():
            snap = Snapshot(c.metrics)
            t, ct = time.perf_counter(), time.thread_time()
            c.refresh(snap)
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.thread_time() - ct)
            found[name] = {s.labels["service"]: s.value for f in snap.families()
                           if f.name == "lookout_worker_pool_workers" for s in f.samples}
        time.sleep(0.02)
    # the cold first refresh (every process and command line read once) of fresh collectors: a median of 5
    cold: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(5):
        for name, c in variants.items():
            fresh = WorkerPools(c.settings)
            fresh.skip_others = c.skip_others
            t = time.perf_counter()
            fresh.refresh(Snapshot(fresh.metrics))
            cold[name].append(time.perf_counter() - t)
    for name, c in variants.items():
        print(f"{name}: pools found {found[name]}, full scans {c.full_scans} of {n + 1} refreshes")
    print(f"{'over ' + str(n) + ' refreshes, ms':<44} {'cold*':>6} {'wall p50':>9} {'wall p99':>9} {'CPU p50':>8} "
          f"{'CPU p99':>8}")
    for name in variants:
        w, c_ = wall[name][1:], cpu[name][1:]
        print(f"{name:<44} {pct(cold[name], 0.5) * 1000:6.1f} {pct(w, 0.5) * 1000:9.1f} {pct(w, 0.99) * 1000:9.1f} "
              f"{pct(c_, 0.5) * 1000:8.1f} {pct(c_, 0.99) * 1000:8.1f}")
    print("* cold: wall time of the first refresh of a fresh collector, median of 5")
    first, now, default = variants
    first_cpu, now_cpu = pct(cpu[first][1:], 0.5), pct(cpu[now][1:], 0.5)
    print(f"full scan CPU p50: {first_cpu * 1000:.1f} -> {now_cpu * 1000:.1f} ms ({first_cpu / now_cpu:.1f}x less); "
          f"default refresh p99: wall {pct(wall[default][1:], 0.99) * 1000:.1f} ms, CPU "
          f"{pct(cpu[default][1:], 0.99) * 1000:.1f} ms (target < 5 ms p99)")


def bench_scrapes(pools: list[dict], n: int, tmp: Path) -> None:
    import yaml

    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(64)  # never accepted: connections complete, requests are never answered
    collectors: dict = {"bench_hang": {"interval": "1s", "timeout": "2s", "port": hang.getsockname()[1]}}
    if pools:
        collectors["worker_pools"] = {"interval": "5s", "pools": pools}
    cfg = tmp / "bench.yaml"
    cfg.write_text(yaml.safe_dump({"collectors": collectors}))
    port = free_port()
    log = open(tmp / "exporter.log", "wb")  # noqa: SIM115
    exporter = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER.format(bench=str(Path(__file__).parent)), "run", "--config", str(cfg),
         "--listen", f"127.0.0.1:{port}"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_port(port, 30)
        time.sleep(3)  # past the hang timeout: bench_hang is reported down
        times, durations = [], []
        body = b""
        for _ in range(n):
            t = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/metrics")
            body = conn.getresponse().read()
            times.append(time.perf_counter() - t)
            conn.close()
            for line in body.decode().splitlines():
                if line.startswith('lookout_collector_duration_seconds{collector="worker_pools"}'):
                    durations.append(float(line.split()[-1]))
            time.sleep(0.01)
        text = body.decode()
        up = 'lookout_collector_up{collector="bench_hang"}'
        hang_up = [line for line in text.splitlines() if line.startswith(up)]
        what = "with worker_pools (4 pools, 5s)" if pools else "baseline, bench_hang only"
        print(f"/metrics over {n} scrapes, {what}, while bench_hang hangs ({hang_up[0] if hang_up else '?'}): "
              f"{ms(times)}  (target p99 < 10 ms)")
        if durations:
            print(f"worker_pools refresh inside the exporter (lookout_collector_duration_seconds as scraped): "
                  f"{ms(durations)}")
    finally:
        os.killpg(exporter.pid, signal.SIGKILL)
        exporter.wait()
        log.close()
        hang.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sleepers", type=int, default=1000)
    ap.add_argument("--refreshes", type=int, default=200)
    ap.add_argument("--scrapes", type=int, default=500)
    args = ap.parse_args()
    groups = Groups()
    with tempfile.TemporaryDirectory(prefix="bench-wp-") as d:
        tmp = Path(d)
        try:
            with environment(groups, args.sleepers, tmp) as pools:
                n = len([p for p in os.listdir("/proc") if p.isdigit()])
                print(f"processes on the host: {n}; pools: {len(pools)}; cpus: {os.cpu_count()}; "
                      f"load average: {os.getloadavg()[0]:.1f}")
                bench_refresh(pools, args.refreshes)
                bench_scrapes(pools, args.scrapes, tmp)
                # the same scrapes without worker_pools: what this machine gives at this load
                bench_scrapes([], args.scrapes, tmp)
                print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        finally:
            groups.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
