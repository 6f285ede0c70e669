"""Benchmark: CPU and memory of the whole live demo (``python -m lookout.demo up``) with its default rates.

Starts a private PostgreSQL and Redis, runs the demo on free ports with the default settings (the seeds'
beat intervals, 4 calls/min, 3 buyer events/min, 12 user requests/min), lets it settle for ``--warmup``
seconds, then for ``--seconds`` (default 60) measures over the supervisor and all its descendants:
- CPU: user+system seconds consumed (including workers reaped meanwhile) / wall time, in % of one core;
- memory every 5 s: the sum of RSS (counts the pages shared by forked workers once per process) and the
  sum of PSS (shares them out: the tree's real footprint).
PostgreSQL and Redis are reported on their own line: they are the platforms' databases, not the demo.
Targets: under 40% of one core on average, under 400 MB in total.

    .venv/bin/python bench/bench_demo.py [--seconds 60] [--warmup 15] [--set speed=60 --set call_rate=120 ...]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lookout.demo.testing import DemoProcess, tree_memory  # noqa: E402
from lookout.stack.servers import postgres_server, redis_server  # noqa: E402


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system + t.children_user + t.children_system
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--set", action="append", default=[], metavar="SETTING=VALUE",
                    help="a demo setting, e.g. --set speed=60 --set call_rate=120 (the tests' busier demo)")
    args = ap.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    with postgres_server() as pg, redis_server() as r:
        url = pg.create_database("demo_bench")
        with DemoProcess(url, r.url, **overrides) as demo:
            time.sleep(args.warmup)
            services = []
            for proc in psutil.process_iter(["cmdline"]):
                cmd = " ".join(proc.info["cmdline"] or [])
                if (f"-p {pg.port}" in cmd) or (f"--port {r.port}" in cmd):
                    services.append(proc)
            services += [c for s in list(services) for c in s.children(recursive=True)]
            before, sbefore = cpu_seconds(demo.tree()), cpu_seconds(services)
            started = time.monotonic()
            samples = []
            while time.monotonic() - started < args.seconds:
                samples.append(tree_memory(demo.tree()))
                time.sleep(5)
            wall = time.monotonic() - started
            after, safter = cpu_seconds(demo.tree()), cpu_seconds(services)
            used = sum(v - before.get(pid, 0.0) for pid, v in after.items())
            sused = sum(v - sbefore.get(pid, 0.0) for pid, v in safter.items())
            status = demo.status()
    rss = [s["rss_mb"] for s in samples]
    pss = [s["pss_mb"] for s in samples]
    print(f"demo tree over {wall:.0f} s ({samples[-1]['processes']} processes)")
    print(f"  CPU: {100 * used / wall:.1f}% of one core on average        (target < 40%)")
    print(f"  RSS sum: mean {statistics.mean(rss):.0f} MB, max {max(rss):.0f} MB  (shared pages counted per process)")
    print(f"  PSS sum: mean {statistics.mean(pss):.0f} MB, max {max(pss):.0f} MB  (target < 400 MB)")
    print(f"PostgreSQL + Redis: CPU {100 * sused / wall:.1f}% of one core")
    print(f"traffic: {status['traffic']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
