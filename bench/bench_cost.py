"""Benchmark: what lookout itself costs on the seeds' VPS, single Prometheus vs an HA pair writing to a store.

Runs the native stack (``lookout.stack.native``) twice, one after the other, with the demo and the site's own intervals
(examples/demo.yaml: scrape and evaluation every 15 s): first the single-VPS stack, then ``--ha --store
victoriametrics`` (two Prometheus replicas, VictoriaMetrics single-node, vmalert). Each settles for ``--warmup``
seconds, then for ``--seconds`` it measures every monitoring process (the demo, PostgreSQL and Redis are the
platforms, not lookout):
- CPU: user+system seconds consumed / wall time, in % of one core;
- memory at the end: RSS and PSS (``/proc/PID/smaps_rollup``), MiB;
- series in each Prometheus head and in the store, samples appended per second;
- bytes per sample, marginal over the window: Prometheus' head written as a block (admin TSDB snapshot) at both
  ends, chunk bytes added / samples added; the store's ``vm_data_size_bytes`` (storage parts) added / ``vm_rows``
  added. The index is counted per series apart. Minutes of data compress worse than days (short chunks,
  unmerged parts): the projections are upper bounds;
- disk per day = samples/s x 86,400 x bytes/sample + one index of the series; projected 15 days local and one
  year in the store, at the demo's series count and at 10x (the seeds' scaling threshold, series and samples
  growing alike);
- remote-write overhead, measured: a third run, the same HA pair without the store (no ``remote_write``), each
  replica against itself in the HA + store run; also the replica against the single Prometheus (same targets
  but one more: the other replica), and the bytes it sends per second;
- the site's GOGC (``monitoring.gogc``) against Go's default: first a run of the single-VPS stack with
  Prometheus and the Alertmanagers at Go's default GOGC (100), every process side by side with the stack as
  generated (``--no-baseline`` skips it).

Grafana has no Debian package and does not run natively here: not measured.

    .venv/bin/python bench/bench_cost.py [--seconds 120] [--warmup 60] [--json] [--no-bare] [--no-baseline]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lookout.demo.testing import tree_memory  # noqa: E402
from lookout.stack.native import Options, Stack  # noqa: E402

# the monitoring side: every process lookout adds to the host (names of lookout.stack.native's processes)
MONITORING = ("prometheus", "prometheus-2", "alertmanager-1", "alertmanager-2", "exporters", "node-exporter",
              "postgres-exporter", "redis-exporter", "blackbox-exporter", "nginx-log-exporter", "victoriametrics",
              "vmalert")
BASELINE = {"cpu_pct": 1.8, "rss_mib": 301, "pss_mib": 255, "series": 3663}  # issue 17, single VPS with the demo


def _group(pid: int) -> list[psutil.Process]:
    """The process and its descendants (the exporter's Python, nsenter's child...)."""
    with contextlib.suppress(psutil.Error):
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    return []


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _q(base: str, expr: str) -> float:
    r = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=30).json()
    res = r.get("data", {}).get("result", [])
    return float(res[0]["value"][1]) if res else float("nan")


def _vm_metric(base: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in requests.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _prom_snapshot(s: Stack, name: str, base: str) -> dict[str, float]:
    """Prometheus' head written as a block (admin TSDB snapshot): its chunk and index bytes and samples."""
    snap = requests.post(f"{base}/api/v1/admin/tsdb/snapshot", timeout=120).json()["data"]["name"]
    d = s.run_dir / f"{name}-data" / "snapshots" / snap
    out = {"chunk_bytes": 0.0, "index_bytes": 0.0, "samples": 0.0}
    for meta in d.glob("*/meta.json"):
        out["samples"] += json.loads(meta.read_text())["stats"]["numSamples"]
        out["chunk_bytes"] += _dir_bytes(meta.parent / "chunks")
        out["index_bytes"] += (meta.parent / "index").stat().st_size
    shutil.rmtree(d, ignore_errors=True)
    return out


def _vm_sizes(base: str) -> dict[str, float]:
    return {"data_bytes": _vm_metric(base, "vm_data_size_bytes", type="storage/small")
            + _vm_metric(base, "vm_data_size_bytes", type="storage/big"),
            "index_bytes": _vm_metric(base, "vm_data_size_bytes", type="indexdb"),
            "rows": _vm_metric(base, "vm_rows", type="storage/small") + _vm_metric(base, "vm_rows", type="storage/big")}


def measure(ha: bool, seconds: float, warmup: float, store: bool = True, site_gogc: bool = True) -> dict[str, Any]:
    """One stack measured: the single VPS, the HA pair with the store, or (``store=False``) the pair alone;
    ``site_gogc=False``: Prometheus and the Alertmanagers at Go's default GOGC (the baseline)."""
    run = Path(tempfile.mkdtemp(prefix="lookout-bench-cost-"))
    has_store = ha and store
    opts = Options(run_dir=run, ha=ha, store="victoriametrics" if has_store else None, admin_api=True,
                   site_gogc=site_gogc)
    out: dict[str, Any] = {"stack": ("HA + store" if has_store else "HA, no remote_write") if ha else "single VPS"}
    try:
        with Stack(opts) as s:
            time.sleep(warmup)
            procs = {n: _group(s.procs[n].popen.pid) for n in MONITORING if n in s.procs and s.procs[n].popen}
            replicas = [("prometheus", s.prometheus_url)] + ([("prometheus-2", s.replica_url(2))] if ha else [])
            # sizes at both ends of the window: the marginal bytes per sample leave out the per-series costs
            # (index, chunk headers) that dominate a few minutes of data
            snap0 = {name: _prom_snapshot(s, name, base) for name, base in replicas}
            vm0 = _vm_sizes(s.store_url) if has_store else {}
            c0, t0 = {n: _cpu(p) for n, p in procs.items()}, time.monotonic()
            sent0 = _q(s.prometheus_url, "sum(prometheus_remote_storage_bytes_total)") if has_store else 0.0
            ins0 = _vm_metric(s.store_url, "vm_rows_inserted_total") if has_store else 0.0
            time.sleep(seconds)
            wall = time.monotonic() - t0
            rows = {}
            for n, p in procs.items():
                mem = tree_memory(p)
                rss, pss = mem["rss_mb"], mem["pss_mb"]
                rows[n] = {"cpu_pct": 100 * (_cpu(p) - c0[n]) / wall, "rss_mib": rss, "pss_mib": pss}
            out["processes"] = rows
            out["total"] = {k: sum(r[k] for r in rows.values()) for k in ("cpu_pct", "rss_mib", "pss_mib")}
            for name, base in replicas:
                instance = base.removeprefix("http://")
                snap = _prom_snapshot(s, name, base)
                d_samples = snap["samples"] - snap0[name]["samples"]
                series = _q(base, f'prometheus_tsdb_head_series{{instance="{instance}"}}')
                out.setdefault("tsdb", {})[name] = {
                    "series": series,
                    "samples_per_s": _q(base, f'rate(prometheus_tsdb_head_samples_appended_total'
                                              f'{{instance="{instance}"}}[1m])'),
                    "bytes_per_sample": (snap["chunk_bytes"] - snap0[name]["chunk_bytes"]) / d_samples,
                    "index_bytes_per_series": snap["index_bytes"] / series,
                }
            if has_store:
                sent = _q(s.prometheus_url, "sum(prometheus_remote_storage_bytes_total)") - sent0
                out["remote_write_bytes_per_s"] = sent / wall
                vm = s.store_url
                vm1 = _vm_sizes(vm)
                series = _q(vm, 'count({__name__!=""})')
                out["store"] = {
                    "series": series,
                    # both replicas' samples, before deduplication
                    "samples_per_s": (_vm_metric(vm, "vm_rows_inserted_total") - ins0) / wall,
                    "bytes_per_sample": (vm1["data_bytes"] - vm0["data_bytes"]) / max(1.0, vm1["rows"] - vm0["rows"]),
                    "index_bytes_per_series": vm1["index_bytes"] / series,
                    "deduplicated_samples": _vm_metric(vm, "vm_deduplicated_samples_total"),
                }
    finally:
        shutil.rmtree(run, ignore_errors=True)
    return out


def project(single: dict[str, Any], ha: dict[str, Any]) -> dict[str, Any]:
    p = single["tsdb"]["prometheus"]
    # samples x marginal bytes, plus one index a day (blocks are compacted to about a day at 15 days' retention)
    local_day = p["samples_per_s"] * 86400 * p["bytes_per_sample"] + p["series"] * p["index_bytes_per_series"]
    st = ha["store"]
    # the store keeps one copy of what each replica appends (deduplicated): a replica's rate is the store's;
    # its index grows with new series only (a per-day index entry per series, counted once here)
    store_rate = ha["tsdb"]["prometheus"]["samples_per_s"]
    store_day = store_rate * 86400 * st["bytes_per_sample"] + st["series"] * st["index_bytes_per_series"]
    return {
        "prometheus_bytes_per_day": local_day, "store_bytes_per_day": store_day,
        "local_15d": {"demo": 15 * local_day, "10x": 150 * local_day},
        "store_1y": {"demo": 365 * store_day, "10x": 3650 * store_day},
    }


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024:
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} PiB"


def gogc_table(default: dict[str, Any], single: dict[str, Any]) -> str:
    """The single VPS at Go's default GOGC against the site's, process by process (the same bench run)."""
    lines = ["single VPS, GOGC: Go's default (100) -> the site's (monitoring.gogc), same run:",
             f"{'process':<20} {'CPU%':>13} {'RSS MiB':>15} {'PSS MiB':>15}"]
    names = [n for n in MONITORING if n in single["processes"]]
    rows = [(n, default["processes"][n], single["processes"][n]) for n in names] + \
        [("total", default["total"], single["total"])]
    for n, a, b in rows:
        lines.append(f"{n:<20} {a['cpu_pct']:>5.2f} -> {b['cpu_pct']:<5.2f} {a['rss_mib']:>6.1f} -> "
                     f"{b['rss_mib']:<6.1f} {a['pss_mib']:>6.1f} -> {b['pss_mib']:<6.1f}")
    return "\n".join(lines)


def table(single: dict[str, Any], ha: dict[str, Any], proj: dict[str, Any], bare: dict[str, Any] | None = None) -> str:
    lines = [f"{'process':<20} {'single CPU%':>11} {'RSS MiB':>8} {'PSS MiB':>8}   {'HA CPU%':>8} {'RSS MiB':>8} "
             f"{'PSS MiB':>8}"]
    for n in MONITORING:
        a, b = single["processes"].get(n), ha["processes"].get(n)
        if not a and not b:
            continue

        def cols(r: dict[str, float] | None) -> str:
            if not r:
                return f"{'-':>8} {'-':>8} {'-':>8}"
            return f"{r['cpu_pct']:>8.2f} {r['rss_mib']:>8.1f} {r['pss_mib']:>8.1f}"
        lines.append(f"{n:<20} {cols(a):>29}   {cols(b)}")
    ts, th = single["total"], ha["total"]
    lines.append(f"{'total':<20} {ts['cpu_pct']:>11.2f} {ts['rss_mib']:>8.1f} {ts['pss_mib']:>8.1f}   "
                 f"{th['cpu_pct']:>8.2f} {th['rss_mib']:>8.1f} {th['pss_mib']:>8.1f}")
    lines.append(f"{'ratio HA / single':<20} {th['cpu_pct'] / ts['cpu_pct']:>11.2f} "
                 f"{th['rss_mib'] / ts['rss_mib']:>8.2f} {th['pss_mib'] / ts['pss_mib']:>8.2f}")
    lines.append(f"{'issue baseline':<20} {BASELINE['cpu_pct']:>11.2f} {BASELINE['rss_mib']:>8.1f} "
                 f"{BASELINE['pss_mib']:>8.1f}   (target: single < 2% and < 300 MiB RSS; HA < twice that)")
    lines.append("")
    sp, hp = single["tsdb"]["prometheus"], ha["tsdb"]["prometheus"]
    st = ha["store"]
    lines.append(f"{'':<28} {'single':>12} {'HA replica':>12} {'store':>12}")
    lines.append(f"{'series':<28} {sp['series']:>12,.0f} {hp['series']:>12,.0f} {st['series']:>12,.0f}"
                 f"   (issue baseline {BASELINE['series']:,})")
    lines.append(f"{'samples/s appended':<28} {sp['samples_per_s']:>12,.1f} {hp['samples_per_s']:>12,.1f} "
                 f"{st['samples_per_s']:>12,.1f}   (store: both replicas, before dedup)")
    lines.append(f"{'bytes/sample (marginal)':<28} {sp['bytes_per_sample']:>12.2f} {hp['bytes_per_sample']:>12.2f} "
                 f"{st['bytes_per_sample']:>12.2f}")
    lines.append(f"{'index bytes/series':<28} {sp['index_bytes_per_series']:>12.0f} "
                 f"{hp['index_bytes_per_series']:>12.0f} {st['index_bytes_per_series']:>12.0f}")
    lines.append(f"{'disk per day':<28} {_fmt_bytes(proj['prometheus_bytes_per_day']):>12} "
                 f"{_fmt_bytes(proj['prometheus_bytes_per_day']):>12} {_fmt_bytes(proj['store_bytes_per_day']):>12}")
    lines.append(f"{'15 days local (demo / 10x)':<28} {_fmt_bytes(proj['local_15d']['demo']):>12} "
                 f"{_fmt_bytes(proj['local_15d']['10x']):>12}")
    lines.append(f"{'1 year in store (demo / 10x)':<28} {_fmt_bytes(proj['store_1y']['demo']):>12} "
                 f"{_fmt_bytes(proj['store_1y']['10x']):>12}")
    ps, pr = single["processes"]["prometheus"], ha["processes"]["prometheus"]
    lines.append("")
    lines.append(f"remote-write overhead on a replica: CPU {pr['cpu_pct'] - ps['cpu_pct']:+.2f} points of a core, "
                 f"RSS {pr['rss_mib'] - ps['rss_mib']:+.1f} MiB, PSS {pr['pss_mib'] - ps['pss_mib']:+.1f} MiB; "
                 f"sends {_fmt_bytes(ha['remote_write_bytes_per_s'])}/s")
    # what the 2x target would read without that overhead (Prometheus 2.42 polls its WAL every 10 ms for remote
    # write whatever the load; docs/scaling.md measured a replica without remote_write at the single's CPU)
    overhead = sum(r["cpu_pct"] - ps["cpu_pct"] for n, r in ha["processes"].items() if n.startswith("prometheus"))
    rest = th["cpu_pct"] - overhead
    lines.append(f"HA less the replicas' remote-write overhead: {rest:.2f}% of a core ({rest / ts['cpu_pct']:.2f}x "
                 f"single; target < 2x); the overhead: {overhead:.2f} points")
    if bare:
        # the same pair, the same run: the replicas with remote_write against themselves without it
        lines.append(f"remote-write overhead, HA + store vs the same pair without the store "
                     f"(total {bare['total']['cpu_pct']:.2f}% of a core, {bare['total']['rss_mib']:.1f} MiB RSS):")
        for n in ("prometheus", "prometheus-2"):
            w, wo = ha["processes"][n], bare["processes"][n]
            lines.append(f"  {n:<14} CPU {wo['cpu_pct']:.2f}% -> {w['cpu_pct']:.2f}% "
                         f"({w['cpu_pct'] - wo['cpu_pct']:+.2f} points), "
                         f"RSS {wo['rss_mib']:.1f} -> {w['rss_mib']:.1f} MiB, "
                         f"PSS {wo['pss_mib']:.1f} -> {w['pss_mib']:.1f} MiB")
    lines.append("Grafana: no Debian package, not run here (not measured).")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    ap.add_argument("--no-bare", action="store_true", help="skip the third run (the HA pair without the store)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the first run (the single VPS at Go's default GOGC)")
    args = ap.parse_args()
    default = None if args.no_baseline else measure(False, args.seconds, args.warmup, site_gogc=False)
    single = measure(False, args.seconds, args.warmup)
    ha = measure(True, args.seconds, args.warmup)
    bare = None if args.no_bare else measure(True, args.seconds, args.warmup, store=False)
    proj = project(single, ha)
    if args.json:
        print(json.dumps({"single_go_default_gogc": default, "single": single, "ha": ha, "ha_no_remote_write": bare,
                          "projection": proj}, indent=2, default=str))
    else:
        print(table(single, ha, proj, bare))
        if default:
            print()
            print(gogc_table(default, single))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
