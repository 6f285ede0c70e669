"""Benchmark of the llm_spend collector: first refresh over 1M usage rows, then steady-state refreshes.

Starts a throwaway PostgreSQL (stack/servers.py), loads the reference schema, generates the rows with
``generate_series`` (60 days, 4 models incl. an unknown one, 5 features, peak and off-peak hours), then prints:
- the first refresh (one aggregate over the whole table, run once per exporter start);
- the steady-state refresh after each batch of 1,000 new rows (median and worst of several rounds);
- the plan of the incremental query (it must be an index range scan on the primary key);
- a restart side by side: the first refresh of a new process without the local checkpoint (the aggregate over
  the whole table, as before the checkpoint) and with it, and whether their counters are identical.
Targets: steady state under 20 ms, first refresh after a restart under 200 ms at 1M rows.

    .venv/bin/python bench/bench_llm_spend.py [--rows 1000000] [--new 1000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from lookout.exporters.collector import Snapshot  # noqa: E402
from lookout.exporters.collectors.llm_spend import LlmSpendCollector, LlmSpendSettings  # noqa: E402
from lookout.exporters.config import Secret  # noqa: E402
from lookout.stack.servers import postgres_server  # noqa: E402

GENERATE = """
INSERT INTO llm_usage (created_at, provider, model, feature, seller_id,
                       input_cache_hit_tokens, input_cache_miss_tokens, output_tokens)
SELECT %(end)s::timestamptz - (%(span)s::float8 * (%(n)s - i) / %(n)s) * interval '1 second',
       'deepseek',
       (ARRAY['deepseek-flash', 'deepseek-v4-pro', 'deepseek-v4-flash', 'deepseek-mystery'])[1 + i %% 4],
       (ARRAY['chat_analysis', 'draft_reply', 'quality', 'sla_summary', 'tagging'])[1 + i %% 5],
       i %% 500, (i * 7) %% 3000, (i * 13) %% 1500, (i * 3) %% 800
FROM generate_series(1, %(n)s) AS i
"""


CPU: list[float] = []


def refresh(c: LlmSpendCollector) -> float:
    """Wall time of one refresh; the exporter's own CPU time is appended to CPU."""
    snap = Snapshot(c.metrics)
    started, cpu = time.perf_counter(), time.process_time()
    c.refresh(snap)
    CPU.append(time.process_time() - cpu)
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with postgres_server() as pg:
        dsn = pg.create_database("bench_llm_spend", (ROOT / "exporters/schemas/chatcenter.sql").read_text())
        with psycopg.connect(dsn, autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute(GENERATE, {"n": args.rows, "span": 60 * 86400.0, "end": "2026-11-20T00:00:00Z"})
            conn.execute("VACUUM ANALYZE llm_usage")
            size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('llm_usage'))").fetchone()[0]
            print(f"generated {args.rows:,} rows ({size}) in {time.perf_counter() - started:.1f} s")

            c = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn)))
            first = refresh(c)
            print(f"first refresh (aggregate over {args.rows:,} rows): {first * 1000:.0f} ms")
            started = time.perf_counter()
            groups = len(conn.execute(c.source.sql["initial"], {"tail": 10_000}).fetchall())
            print(f"  of which the aggregate query alone: {(time.perf_counter() - started) * 1000:.0f} ms "
                  f"({groups:,} result rows)")
            idle = [refresh(c) for _ in range(3)]
            print(f"refresh with no new rows: {min(idle) * 1000:.1f} ms")

            steady = []
            CPU.clear()
            for r in range(args.rounds):
                conn.execute(GENERATE, {"n": args.new, "span": 60.0, "end": f"2026-11-20T00:{10 + r:02d}:00Z"})
                steady.append(refresh(c))
            print(f"steady-state refresh after {args.new:,} new rows: median {statistics.median(steady) * 1000:.1f} ms,"
                  f" worst {max(steady) * 1000:.1f} ms over {args.rounds} rounds (target < 20 ms)")
            print(f"  exporter CPU per steady-state refresh: median {statistics.median(CPU) * 1000:.1f} ms")
            assert c.cursor == args.rows + args.rounds * args.new, c.cursor
            params = {"after": c.cursor - args.new, "limit": 50_000, "gaps": []}
            server = []
            for _ in range(5):
                out = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + c.source.sql["incremental"], params).fetchone()
                server.append(out[0][0]["Execution Time"])
            print(f"  server execution of the incremental query for {args.new:,} rows: "
                  f"median {statistics.median(server):.1f} ms")
            load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
            print(f"  (load average during the run: {load} on {os.cpu_count()} CPUs)")

            plan = conn.execute(
                "EXPLAIN " + c.source.sql["incremental"],
                {"after": c.cursor - args.new, "limit": 50_000, "gaps": [1, 2, 3]},
            ).fetchall()
            print("incremental query plan:")
            for (line,) in plan:
                print("   ", line)
        c.stop()

        # a restart, side by side: one process without the checkpoint, one with the file the last one wrote
        with tempfile.TemporaryDirectory(prefix="bench-llm-") as d:
            path = os.path.join(d, "llm_spend.checkpoint.json")
            w = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=path))
            refresh(w)
            w.stop()
            with psycopg.connect(dsn, autocommit=True) as conn:  # arrived while the exporter was down
                conn.execute(GENERATE, {"n": args.new, "span": 60.0, "end": "2026-11-20T01:00:00Z"})
            saved = Path(path).read_bytes()
            size = len(saved)
            before, after, same = [], [], True
            for _ in range(3):
                Path(path).write_bytes(saved)  # each round from the same checkpoint (a start writes a new one)
                full = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn)))
                ckpt = LlmSpendCollector(LlmSpendSettings(dsn=Secret(dsn), checkpoint_path=path))
                before.append(refresh(full))
                after.append(refresh(ckpt))
                assert ckpt.checkpoint_loaded
                same &= (full.series, full.unpriced, full.spend(), full.cursor) == (
                    ckpt.series, ckpt.unpriced, ckpt.spend(), ckpt.cursor)
                full.stop()
                ckpt.stop()
        print(f"restart ({c.cursor + args.new:,} rows, {args.new:,} new while down), first refresh of the new "
              f"process, median of 3:")
        print(f"  before (aggregate over the whole table): {statistics.median(before) * 1000:.0f} ms")
        print(f"  after (local checkpoint, {size / 1024:.0f} KiB, + rows since): "
              f"{statistics.median(after) * 1000:.1f} ms  (target < 200 ms)  "
              f"speed-up {statistics.median(before) / statistics.median(after):.0f}x")
        print(f"  counters identical: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
