"""Benchmark of the exporter against hostile peers, before and after the hardening of issue 13.

"Before" is the code of an earlier commit (``--before REV``; default: the last commit whose
``exporters/server.py`` was the hand-written ``http.server`` handler), loaded in place of today's module by a
launcher; "after" is the working tree. Three cases, printed side by side:

1. slow clients: the real ``lookout-exporter run`` under ``RLIMIT_NOFILE`` ``--nofile`` (256) while
   ``--hostile`` (400) slow and half-open loopback clients hold on (reopening what the server closes);
   well-behaved scrapes are counted and timed (p50/p99), tracebacks in the exporter's log counted. The old
   server gets ``--before-scrapes`` (10) scrapes with a 2 s timeout, or it would take an hour.
2. big body: a provider answering ``--body-mb`` (300) MB of JSON; the peak RSS of a process making one
   ``get_json`` with the provider client of each version (default settings).
3. drip: a provider sending its answer one byte every ``--drip-every`` (2) s; the seconds until
   ``get_json`` returns or fails, killed after ``--drip-limit`` (45) s ("killed" = still reading).

Usage: ``.venv/bin/python bench/bench_hostile.py [--quick]`` (``--quick``: 100 scrapes, 100 MB, drip limit
35 s). Every process started is ended on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lookout.stack.httpd import LocalServer, QuietHandler  # noqa: E402
from tests.support.exporter import ExporterProcess, write_config  # noqa: E402
from tests.support.slowclients import scrape_under_attack  # noqa: E402

POOL = {"service": "voice-api", "server": "gunicorn", "match": "no-such-app-here:app"}


def before_rev() -> str:
    revs = subprocess.run(["git", "log", "--format=%H", "--", "exporters/server.py"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.split()
    for rev in revs:
        text = subprocess.run(["git", "show", f"{rev}:exporters/server.py"], cwd=ROOT, capture_output=True,
                              text=True).stdout
        if "BaseHTTPRequestHandler" in text:
            return rev
    raise SystemExit("no earlier hand-written server in the history: pass --before REV")


def old_source(rev: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


# -- 1. slow clients ------------------------------------------------------------------------------------

LAUNCH_OLD_SERVER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("lookout.exporters.server", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
sys.modules["lookout.exporters.server"] = mod
spec.loader.exec_module(mod)
from lookout.exporters.cli import main
sys.exit(main(sys.argv[2:]))
"""


class OldServerExporter(ExporterProcess):
    """The exporter with an earlier ``exporters/server.py`` swapped in by a launcher."""

    def __init__(self, config_path: Path, server_py: Path, nofile: int):
        super().__init__(config_path, nofile=nofile)
        self.server_py = server_py

    def start(self, wait: float = 20.0) -> None:
        import requests

        self._log = open(self.log_path, "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH_OLD_SERVER, str(self.server_py), "run", "--config",
             str(self.config_path), "--listen", f"127.0.0.1:{self.port}"],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, text=True, preexec_fn=self._limit_fds,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            time.sleep(0.1)
        raise TimeoutError(self.log())


def slow_clients(tmp: Path, rev: str, args: argparse.Namespace) -> tuple[str, str]:
    cfg = write_config(tmp / "slow.yaml", {"worker_pools": {"interval": "1s", "pools": [POOL]}})
    out = []
    server_py = tmp / "server_before.py"
    server_py.write_text(old_source(rev, "exporters/server.py"))
    for label, exp, scrapes, timeout in (
        ("before", OldServerExporter(cfg, server_py, args.nofile), args.before_scrapes, 2.0),
        ("after", ExporterProcess(cfg, nofile=args.nofile), args.scrapes, 10.0),
    ):
        exp.log_path = tmp / f"slow-{label}.log"
        exp.start()
        try:
            fig = scrape_under_attack(exp.url, exp.port, args.hostile, scrapes, timeout=timeout)
            time.sleep(1.0)  # tracebacks of the closed connections are written after the clients leave
        finally:
            exp.stop()
        tracebacks = exp.log().count("Traceback")
        out.append(f"{fig.summary()}; {tracebacks} tracebacks")
    return out[0], out[1]


# -- 2 and 3: provider clients ----------------------------------------------------------------------------

class Provider:
    """A local provider answering ``/big`` with a huge JSON body and ``/drip`` one byte at a time."""

    def __init__(self, body_mb: int, drip_every: float):
        class H(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                try:
                    if self.path.startswith("/big"):
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Connection", "close")
                        self.end_headers()
                        self.wfile.write(b'{"pad": "')
                        block = b"x" * (1 << 20)
                        for _ in range(body_mb):
                            self.wfile.write(block)
                        self.wfile.write(b'"}')
                    else:
                        body = b'{"is_available": true, "balance_infos": []}' + b" " * 200
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        for i in range(len(body)):
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(drip_every)
                except OSError:
                    pass

        self.server = LocalServer(H).start()
        self.url = self.server.url

    def close(self) -> None:
        self.server.stop()


CLIENT = textwrap.dedent("""
    import importlib.util, json, resource, sys, time
    if sys.argv[1] != "-":
        spec = importlib.util.spec_from_file_location("lookout.exporters.collectors._http", sys.argv[1])
        mod = importlib.util.module_from_spec(spec)
        sys.modules["lookout.exporters.collectors._http"] = mod
        spec.loader.exec_module(mod)
    from lookout.exporters.collectors._http import HttpClient
    c = HttpClient(sys.argv[2], {"Authorization": "Bearer sk-bench"})
    t0 = time.monotonic()
    try:
        r = c.get_json(sys.argv[3])
        outcome = f"HTTP {r.status}"
    except Exception as exc:
        outcome = type(exc).__name__ + ": " + str(exc)[:90]
    print(json.dumps({"seconds": time.monotonic() - t0, "outcome": outcome,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def run_client(http_py: str, url: str, path: str, limit: float) -> dict:
    import json

    proc = subprocess.Popen([sys.executable, "-c", CLIENT, http_py, url, path], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        return {"seconds": limit, "outcome": "killed (still reading)", "rss_mb": float("nan")}
    if proc.returncode != 0:
        return {"seconds": float("nan"), "outcome": f"exit {proc.returncode}: {err.strip()[-200:]}",
                "rss_mb": float("nan")}
    return json.loads(out.strip().splitlines()[-1])


def providers(tmp: Path, rev: str, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    old_http = tmp / "_http_before.py"
    old_http.write_text(old_source(rev, "exporters/collectors/_http.py"))
    prov = Provider(args.body_mb, args.drip_every)
    rows = []
    try:
        big = [run_client(p, prov.url, "/big", 300) for p in (str(old_http), "-")]
        rows.append((f"big body ({args.body_mb} MB), peak RSS",
                     *(f"{r['rss_mb']:.0f} MB, {r['outcome'][:60]}" for r in big)))
        drip = [run_client(p, prov.url, "/drip", args.drip_limit) for p in (str(old_http), "-")]
        rows.append((f"drip (1 byte / {args.drip_every:g} s)",
                     *(f"{r['seconds']:.1f} s, {r['outcome'][:60]}" for r in drip)))
    finally:
        prov.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", help="git revision of the 'before' code")
    p.add_argument("--nofile", type=int, default=256)
    p.add_argument("--hostile", type=int, default=400)
    p.add_argument("--scrapes", type=int, default=300)
    p.add_argument("--before-scrapes", type=int, default=10)
    p.add_argument("--body-mb", type=int, default=300)
    p.add_argument("--drip-every", type=float, default=2.0)
    p.add_argument("--drip-limit", type=float, default=45.0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=["slow", "providers"])
    args = p.parse_args()
    if args.quick:
        args.scrapes, args.body_mb, args.drip_limit = 100, 100, 35.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.hostile + 200:  # this process holds the hostile clients' sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.hostile + 1000), hard))
    rev = args.before or before_rev()
    print(f"before = {rev[:12]}, after = working tree; load {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as t:
        tmp = Path(t)
        if args.only in (None, "slow"):
            b, a = slow_clients(tmp, rev, args)
            rows.append((f"{args.hostile} slow clients, RLIMIT_NOFILE {args.nofile}", b, a))
        if args.only in (None, "providers"):
            rows.extend(providers(tmp, rev, args))
    for case, b, a in rows:
        print(f"\n{case}\n  before: {b}\n  after:  {a}")
    print("\n" + re.sub(r"\s+", " ", "Targets: every scrape succeeds, no traceback; RSS bounded by "
                        "max_response_bytes (4 MiB); the drip ends at the 30 s deadline."))


if __name__ == "__main__":
    main()
