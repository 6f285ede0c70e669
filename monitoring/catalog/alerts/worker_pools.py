"""Gunicorn, Uvicorn and Celery worker pools: masters, workers, restarts, listen queue, memory.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import GUNICORN, _x
from lookout.monitoring.model import Alert, Case, Recording, above


def recordings(k: Ctx) -> list[Recording]:
    P = _pool_labels(k)
    return [
        Recording(
            record="service:lookout_worker_pool_restarts:increase10m",
            requires=("pools",),
            group="worker-pools",
            expr="sum by (host, platform, service, server) (increase(lookout_worker_pool_worker_restarts_total[10m]))",
            test=Case({f"lookout_worker_pool_worker_restarts_total{_x(**P)}": "0+1x20"}, at="15m",
                      samples=(("service:lookout_worker_pool_restarts:increase10m{"
                                + ",".join(f'{k}="{v}"' for k, v in P.items()) + "}", 10),)),
        ),
    ]

def _pool_labels(k: Ctx) -> dict[str, str]:
    s = k.site.pools[0] if k.site.pools else None
    return GUNICORN if s is None else {"platform": s.platform, "service": s.name, "server": str(s.pool_server)}


def _expected(k: Ctx) -> str:
    what = {"gunicorn": "Gunicorn workers", "uvicorn": "Uvicorn workers", "celery": "Celery concurrency"}
    parts = []
    for s in k.site.pools:
        n = "?" if s.workers is None else s.workers
        parts.append(f"Celery concurrency {n}" if s.pool_server == "celery" else f"{n} {what[s.pool_server]}")
    return ", ".join(dict.fromkeys(parts))


def alerts(k: Ctx) -> list[Alert]:
    if not k.has("pools"):
        return []
    t = k.t
    P = _pool_labels(k)
    mem = int(t.pool_memory_bytes.value)
    first = k.site.pools[0]
    port = next((s.port for s in k.site.pools if s.port), "<port>")
    vcpus, mem_gb, _ = k.host_size
    return [
        Alert(
            name="WorkerPoolMasterDown",
            requires=("pools",),
            group="worker-pools",
            expr="lookout_worker_pool_master_up == 0",
            severity="critical",
            summary="A Gunicorn, Uvicorn or Celery master process is not running.",
            description="The {{ $labels.server }} master of {{ $labels.service }} is down: the service does not serve.",
            panel=(uids.WORKER_POOLS, "Master up"),
            value=v.NO_VALUE,
            fire=Case({f"lookout_worker_pool_master_up{_x(**P)}": "0x10"}),
            quiet=Case({f"lookout_worker_pool_master_up{_x(**P)}": "1x10"}),
            for_="1m",
            meaning="The arbiter/master process is gone, and its workers with it: for Gunicorn this is the 502 of "
            "playbook incident 1; for Celery no task runs.",
            confirm=f"`systemctl status UNIT` ({k.units('gunicorn', 'uvicorn', 'celery_worker')}); "
            "`ps aux | grep -E 'gunicorn|uvicorn|celery'`.",
            fix="Read the journal for the crash reason, then `sudo systemctl restart UNIT`; check that systemd's "
            "`Restart=` policy is set so it comes back by itself.",
        ),
        Alert(
            name="WorkerPoolWorkersBelowExpected",
            requires=("pools",),
            group="worker-pools",
            expr="lookout_worker_pool_workers < lookout_worker_pool_workers_expected"
            " and lookout_worker_pool_master_up == 1",
            severity="warning",
            summary="A worker pool runs fewer workers than configured.",
            description="{{ $labels.service }} ({{ $labels.server }}) has fewer live workers than expected for 2 "
            "minutes.",
            panel=(uids.WORKER_POOLS, "Workers vs expected"),
            value=v.WHOLE + v.companion("lookout_worker_pool_workers_expected", ("instance", "service", "server"),
                                        " of ")
            + " workers",
            fire=Case(
                {f"lookout_worker_pool_workers{_x(**P)}": "3x10",
                 f"lookout_worker_pool_workers_expected{_x(**P)}": "4x10",
                  f"lookout_worker_pool_master_up{_x(**P)}": "1x10"}, labels={**P, "job": "lookout",
                 "instance": "exporters:9808"}, value=3),
            quiet=Case(
                {f"lookout_worker_pool_workers{_x(**P)}": "4x10",
                 f"lookout_worker_pool_workers_expected{_x(**P)}": "4x10",
                  f"lookout_worker_pool_master_up{_x(**P)}": "1x10"}),
            for_="2m",
            meaning=f"The master is alive but does not keep its workers up ({_expected(k)}): "
            "workers crash at boot or are killed (OOM) faster than they are replaced.",
            confirm=f"`ps aux | grep {first.pool_server} | wc -l` should print {(first.workers or 0) + 1} for "
            f"{first.name}; the journal shows worker boot errors or "
            "`WORKER TIMEOUT`; `dmesg | grep -i oom`.",
            fix="Fix the boot error or memory pressure; restart the service.",
        ),
        Alert(
            name="WorkerPoolRestartLoop",
            requires=("pools",),
            group="worker-pools",
            expr=above("service:lookout_worker_pool_restarts:increase10m", t.worker_restarts_10m),
            severity="warning",
            summary="Workers of a pool keep dying and being replaced.",
            description="{{ $value | humanize }} workers of {{ $labels.service }} were replaced in 10 minutes.",
            panel=(uids.WORKER_POOLS, "Worker restarts (10 min)"),
            value=v.count("workers replaced in 10 min"),
            fire=Case(
                {f"lookout_worker_pool_worker_restarts_total{_x(**P)}": "0+1x20"}, at="12m", labels=P, value=10),
            quiet=Case({f"lookout_worker_pool_worker_restarts_total{_x(**P)}": "0+0.19x30"}, at="25m"),
            for_="1m",
            meaning="Worker PIDs churn under a live master: workers crash (exceptions at import, segfaults), hit "
            "the timeout (`WORKER TIMEOUT`), max_requests, or the OOM killer.",
            confirm="Journal of the unit around the restarts; `dmesg -T | grep -i -E 'killed process|oom'`.",
            fix="Fix the crash; raise the worker timeout for slow endpoints; reduce memory per worker.",
        ),
        Alert(
            name="WorkerPoolListenQueueSaturated",
            requires=("pools",),
            group="worker-pools",
            expr=above("lookout_worker_pool_listen_queue_length", t.listen_queue),
            severity="warning",
            summary="Connections wait in the accept queue: all workers are busy.",
            description="{{ $value | humanize }} connections wait to be accepted by {{ $labels.service }} for 2 "
            "minutes.",
            panel=(uids.WORKER_POOLS, "Listen queue"),
            value=v.count("connections waiting"),
            fire=Case({f"lookout_worker_pool_listen_queue_length{_x(**P)}": "25x10"}, value=25),
            quiet=Case({f"lookout_worker_pool_listen_queue_length{_x(**P)}": "10x10"}),
            for_="2m",
            meaning="Every worker is busy and new connections pile up in the kernel's accept queue: latency grows "
            "and nginx will time out (504/502) when it is full.",
            confirm=f"`ss -ltn 'sport = :{port}'` (Recv-Q is the queue, Send-Q the limit); the busy-workers panel.",
            fix="Find the slow requests (a slow DB query, an LLM call in the request path); add workers if CPU "
            f"allows ({vcpus} vCPU: {vcpus}-{2 * vcpus} sync workers), or move slow work to Celery.",
        ),
        Alert(
            name="WorkerPoolMemoryHigh",
            requires=("pools",),
            group="worker-pools",
            expr=above("lookout_worker_pool_workers_resident_memory_bytes", t.pool_memory_bytes),
            severity="warning",
            summary="A worker pool uses more than half of the VPS memory.",
            description="The workers of {{ $labels.service }} use {{ $value | humanize1024 }}B of resident memory.",
            panel=(uids.WORKER_POOLS, "Worker memory (RSS)"),
            value=v.amount("B resident", "humanize1024"),
            fire=Case({f"lookout_worker_pool_workers_resident_memory_bytes{_x(**P)}": f"{mem * 3 // 2}x20"},
                      value=mem * 3 // 2),
            quiet=Case({f"lookout_worker_pool_workers_resident_memory_bytes{_x(**P)}": f"{mem}x20"}),
            for_="5m",
            meaning=f"The pool's workers grow (a leak, large responses held in memory, too many workers for {mem_gb} "
            "GB): "
            "the OOM killer is next, and it may pick PostgreSQL or Redis.",
            confirm="`ps -o pid,rss,cmd -C gunicorn` (or uvicorn/celery); the largest-worker series on the board.",
            fix="Set `max_requests` (Gunicorn) or `--max-tasks-per-child` (Celery) to recycle leaking workers; "
            "lower the worker count; fix the leak.",
        ),
    ]
