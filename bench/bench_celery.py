"""Benchmark: our ``celery`` collector vs danihodovic/celery-exporter on one Redis, side by side.

Fills a private Redis with ``--queues`` queues x 4 priority steps holding ``--messages`` ready messages
(kombu's exact layout and message format) plus ``--unacked`` delivered-but-unacked messages per queue,
then prints for both exporters: refresh/scrape times, RSS, and queue lengths versus the true count. Ours runs
twice side by side: "before" reads the first 100 queue names only (what lookout read before every queue was
read), "after" runs the default settings (every queue read, those beyond ``max_queues`` folded into
``_other``); both are compared with the floor, one pipelined round of LLEN over every list.

    .venv/bin/python bench/bench_celery.py [--celery-exporter-python /tmp/ce-venv/bin/python]
    .venv/bin/python bench/bench_celery.py --build-celery-exporter   # first run: builds /tmp/ce-venv

celery-exporter is never installed into the project: ``--build-celery-exporter`` creates a throwaway venv
outside it (``python3 -m venv``, then ``pip install`` of the pinned commit from GitHub plus ``packaging``;
a minute or two, progress printed). Without that venv, the commands are printed, only ours runs and the
value celery-exporter would report (LLEN of the base list) is shown.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lookout.exporters.collectors._celery_broker import (  # noqa: E402
    DEFAULT_MAX_DISCOVERED,
    BrokerInspector,
    QueueSelector,
)
from lookout.stack.procs import free_port, wait_port  # noqa: E402

SEP, STEPS = "\x06\x16", [0, 3, 6, 9]
BODY = base64.b64encode(json.dumps([[1], {}, {"callbacks": None, "errbacks": None, "chain": None,
                                                "chord": None}]).encode()).decode()


def message(queue: str, priority: int) -> str:
    tid = str(uuid.uuid4())
    return json.dumps({
        "body": BODY, "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"lang": "py", "task": "app.tasks.sync_all_sellers", "id": tid, "shadow": None, "eta": None,
                    "expires": None, "group": None, "group_index": None, "retries": 0, "timelimit": [None, None],
                    "root_id": tid, "parent_id": None, "argsrepr": "(1,)", "kwargsrepr": "{}",
                    "origin": "gen1@bench", "ignore_result": False, "stamped_headers": None, "stamps": {}},
        "properties": {"correlation_id": tid, "reply_to": str(uuid.uuid4()), "delivery_mode": 2,
                       "delivery_info": {"exchange": "", "routing_key": queue}, "priority": priority,
                       "body_encoding": "base64", "delivery_tag": str(uuid.uuid4())},
    })


def key(queue: str, step: int) -> str:
    return f"{queue}{SEP}{step}" if step else queue


def fill(r: redis.Redis, queues: list[str], total: int, unacked: int) -> dict[str, tuple[int, int]]:
    """Returns the truth: queue -> (ready, unacked)."""
    per_list = total // (len(queues) * len(STEPS))
    truth = {}
    for q in queues:
        pipe = r.pipeline(transaction=False)
        for step in STEPS:
            msgs = [message(q, step) for _ in range(per_list)]
            for i in range(0, len(msgs), 1000):
                pipe.lpush(key(q, step), *msgs[i:i + 1000])
        now = time.time()
        for i in range(unacked):
            tag = str(uuid.uuid4())
            pipe.hset("unacked", tag, json.dumps([json.loads(message(q, 0)), "", q]))
            pipe.zadd("unacked_index", {tag: now - 60 - i})
        pipe.sadd("_kombu.binding.celery", f"{q}{SEP}{SEP}{q}")
        pipe.execute()
        truth[q] = (per_list * len(STEPS), unacked)
    return truth


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree_rss_mb(pid: int) -> float:
    total = rss_mb(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            total += tree_rss_mb(int(child))
    return total


def scrape(url: str, n: int) -> tuple[list[float], str]:
    times, text = [], ""
    for _ in range(n):
        t0 = time.perf_counter()
        resp = requests.get(url, timeout=60)
        times.append(time.perf_counter() - t0)
        text = resp.text
    return times, text


def queue_lengths(text: str, metric: str = "celery_queue_length") -> dict[str, float]:
    out = {}
    for m in re.finditer(rf'^{metric}\{{[^}}]*queue_name="([^"]+)"[^}}]*\}} ([0-9.e+]+)$', text, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


def ms(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    return f"median {statistics.median(xs) * 1000:8.2f} ms  p95 {p95 * 1000:8.2f} ms  (n={len(xs)})"


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=30).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


# celery-exporter 0.12.2 as benchmarked in docs/celery.md, pinned to its commit (PyPI only has 0.11.x); a checkout
# directory of that commit works too, for machines without GitHub access. `packaging` is installed beside it
# because it depends on `celery`, not `celery[redis]`, and kombu 5.7's Redis transport imports it.
CE_SOURCE = ("prometheus-exporter-celery @ git+https://github.com/danihodovic/celery-exporter"
             "@95e8e492f0cb300247432d664ea9732bfdf57ad7")


def build_commands(venv: Path, source: str) -> list[list[str]]:
    return [[sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off", source, "packaging"]]


def build_celery_exporter(python: Path, source: str) -> None:
    """Create the throwaway venv of ``python`` (…/bin/python) and install celery-exporter into it."""
    venv = python.parent.parent
    if venv.resolve().is_relative_to(ROOT):
        raise SystemExit(f"{venv}: celery-exporter must be installed outside the project")
    for i, cmd in enumerate(build_commands(venv, source), 1):
        print(f"[build {i}/2] {' '.join(cmd)}", flush=True)
        subprocess.run(cmd, check=True)
    print(f"[build] done: {python}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queues", type=int, default=20)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--unacked", type=int, default=10, help="unacked messages per queue")
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--celery-exporter-python", default="/tmp/ce-venv/bin/python",
                    help="python of a venv where danihodovic/celery-exporter is installed")
    ap.add_argument("--build-celery-exporter", action="store_true",
                    help="create that venv (outside the project) and install celery-exporter when it is missing")
    ap.add_argument("--celery-exporter-source", default=CE_SOURCE,
                    help="what --build-celery-exporter installs: pip requirement or checkout directory")
    args = ap.parse_args()
    ce_python = Path(args.celery_exporter_python)
    if args.build_celery_exporter and not ce_python.exists():
        build_celery_exporter(ce_python, args.celery_exporter_source)

    tmp = Path(tempfile.mkdtemp(prefix="bench-celery-"))
    port = free_port()
    procs: list[subprocess.Popen] = []
    redis_proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                                   "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                                  stdout=subprocess.DEVNULL)
    try:
        wait_port(port)
        url = f"redis://127.0.0.1:{port}/0"
        r = redis.Redis.from_url(url)
        queues = [f"q{i:02d}" for i in range(args.queues)]
        t0 = time.perf_counter()
        truth = fill(r, queues, args.messages, args.unacked)
        ready_total = sum(t[0] for t in truth.values())
        print(f"Redis filled in {time.perf_counter() - t0:.1f}s: {len(queues)} queues x {len(STEPS)} priority steps, "
              f"{ready_total} ready + {sum(t[1] for t in truth.values())} unacked messages, "
              f"used_memory {r.info('memory')['used_memory'] / 2**20:.0f} MiB")

        # the floor: one pipelined round of LLEN over every list
        lists = [key(q, s) for q in queues for s in STEPS]
        floor = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            pipe = r.pipeline(transaction=False)
            for k in lists:
                pipe.llen(k)
            pipe.execute()
            floor.append(time.perf_counter() - t)
        print(f"\nfloor: one pipelined round of {len(lists)} LLEN      {ms(floor)}")

        # ours in-process: the refresh's Redis work, parsing and the choice of the published queues. "before"
        # reads the first 100 names only: the scope lookout read before every queue was read (max_queues used
        # to cut the reading itself), run with today's code; "after" is the default: every queue read, the
        # shallowest folded into _other
        times: dict[str, list[float]] = {}
        readings = {}
        for label, bound in (("before", 100), ("after", DEFAULT_MAX_DISCOVERED)):
            insp = BrokerInspector(url, queues=[], discover=True, priority_steps=STEPS, sep=SEP, prefix="",
                                   state_key="lookout:celery:last_success", timeout=5, max_unacked=5000,
                                   max_discovered=bound)
            selector = QueueSelector([], 100)
            insp.read({})
            times[label] = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                reading = insp.read({})
                selector.select(reading.queues)
                times[label].append(time.perf_counter() - t)
            readings[label] = reading
            insp.close()
            print(f"ours {label:6}: collector refresh (in-process)  {ms(times[label])}")
        stats = r.info("commandstats").get("cmdstat_evalsha", {})
        print(f"ours: Redis time of the refresh script   {stats.get('usec_per_call', float('nan')) / 1000:8.2f} ms "
              f"per call (server side, INFO commandstats, both runs)")

        # ours as the real exporter process, queues discovered, default settings ("before": the old bound)
        runs = {}
        for label, extra in (("before", {"max_discovered_queues": 100}), ("after", {})):
            cfg = tmp / f"lookout-{label}.yaml"
            cfg.write_text(json.dumps({"collectors": {"celery": {"broker_url": url, "interval": "1s", **extra}}}))
            our_port = free_port()
            ours = subprocess.Popen([sys.executable, "-m", "lookout.exporters", "run", "--config", str(cfg), "--listen",
                                     f"127.0.0.1:{our_port}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            procs.append(ours)
            our_url = f"http://127.0.0.1:{our_port}/metrics"
            wait_http(our_url, ours)
            durations = []
            deadline = time.monotonic() + 12
            while time.monotonic() < deadline and len(durations) < 10:
                text = requests.get(our_url, timeout=10).text
                m = re.search(r'^lookout_collector_duration_seconds\{collector="celery"\} (\S+)$', text, re.M)
                if m and float(m.group(1)) > 0 and (not durations or float(m.group(1)) != durations[-1]):
                    durations.append(float(m.group(1)))
                time.sleep(0.5)
            our_scrapes, our_text = scrape(our_url, args.repeat)
            runs[label] = (durations, our_scrapes, our_text, rss_mb(ours.pid))
            ours.terminate()
            ours.wait(5)
        for label, (durations, our_scrapes, _text, rss) in runs.items():
            print(f"ours {label:6}: refresh as reported by /metrics  {ms(durations)}")
            print(f"ours {label:6}: scrape GET /metrics              {ms(our_scrapes)}")
            print(f"ours {label:6}: RSS                              {rss:8.1f} MiB")
        our_text, our_rss = runs["after"][2], runs["after"][3]

        their_text, their_rss = "", None
        if ce_python.exists():
            their_port = free_port()
            theirs = subprocess.Popen(
                [str(ce_python), "-c", "import sys; from src.cli import cli; cli(sys.argv[1:])",
                 "--broker-url", url, "--port", str(their_port), "--host", "127.0.0.1", "--log-level", "WARNING",
                 "--queues", ",".join(queues)],
                cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(theirs)
            their_url = f"http://127.0.0.1:{their_port}/metrics"
            wait_http(their_url, theirs, timeout=90)
            their_scrapes, their_text = scrape(their_url, max(3, args.repeat // 10))
            their_rss = tree_rss_mb(theirs.pid)
            print(f"celery-exporter: scrape GET /metrics    {ms(their_scrapes)}")
            print(f"celery-exporter: RSS                    {their_rss:8.1f} MiB")
        else:
            venv = ce_python.parent.parent
            print(f"celery-exporter: not run ({ce_python} missing); its value would be LLEN of the base list.\n"
                  f"  Build it with --build-celery-exporter, or by hand:\n"
                  + "\n".join("    " + " ".join(f"'{a}'" if " " in a else a for a in cmd)
                              for cmd in build_commands(venv, args.celery_exporter_source)))

        ours_len = queue_lengths(our_text)
        ours_res = queue_lengths(our_text, "lookout_celery_queue_reserved")
        before_len = queue_lengths(runs["before"][2])
        theirs_len = queue_lengths(their_text) if their_text else {q: float(r.llen(q)) for q in queues}
        print(f"\n{'queue':8} {'truth ready':>12} {'ours':>8} {'before':>8} {'celery-exporter':>16} "
              f"{'truth unacked':>14} {'ours reserved':>14}")
        for q in [*queues[:5], "_other"]:
            tr = truth.get(q) or (sum(t[0] for n, t in truth.items() if n not in ours_len),
                                  sum(t[1] for n, t in truth.items() if n not in ours_len))
            print(f"{q:8} {tr[0]:12d} {ours_len.get(q, -1):8.0f} {before_len.get(q, -1):8.0f} "
                  f"{theirs_len.get(q, -1):16.0f} {tr[1]:14d} {ours_res.get(q, -1):14.0f}")
        print(f"{'...':8}")
        print(f"{'total':8} {ready_total:12d} {sum(ours_len.values()):8.0f} {sum(before_len.values()):8.0f} "
              f"{sum(theirs_len.values()):16.0f} {sum(t[1] for t in truth.values()):14d} "
              f"{sum(ours_res.values()):14.0f}")
        named = [q for q in ours_len if q != "_other"]
        folded = [q for q in queues if q not in ours_len]
        gauges = {n: re.search(rf"^{n} (\S+)$", our_text, re.M) for n in
                  ("lookout_celery_queues_discovered", "lookout_celery_queues_folded", "lookout_celery_queues_unread")}
        print("\n" + ", ".join(f"{n} {float(m.group(1)) if m else float('nan'):.0f}" for n, m in gauges.items())
              + f" ({len(named)} queues by name, {len(folded)} in _other)")
        ok = (all(ours_len[q] == truth[q][0] and ours_res.get(q) == truth[q][1] for q in named)
              and ours_len.get("_other", 0) == sum(truth[q][0] for q in folded)
              and ours_res.get("_other", 0) == sum(truth[q][1] for q in folded)
              and sum(ours_len.values()) == ready_total)
        print(f"ours exact (every named queue, _other and the total): {ok}; before: "
              f"{sum(before_len.values()):.0f} of {ready_total} ready; last in-process reading total ready "
              f"{sum(x.ready for x in readings['after'].queues.values())}")
        floor_m = statistics.median(floor)
        ratio = statistics.median(times["after"]) / floor_m
        target = ratio <= 2.0 and (their_rss is None or our_rss <= their_rss)
        print(f"refresh / floor: before {statistics.median(times['before']) / floor_m:.1f}  after {ratio:.1f}  "
              f"(target <= 2.0); RSS before {runs['before'][3]:.1f} MiB  after {our_rss:.1f} MiB; "
              f"targets {'met' if target else 'NOT met'} (absolute times depend on machine load)")
        return 0 if ok else 1
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        redis_proc.terminate()
        redis_proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
