"""Gunicorn, Uvicorn and Celery worker pools: masters, workers, restarts, listen queue, memory.

Reads the thresholds and facts of the catalog. Publishes ``RECORDINGS`` and ``ALERTS``.
"""

from __future__ import annotations

from monitoring.catalog import uids
from monitoring.catalog.facts import POOLS, GiB
from monitoring.catalog.series import GUNICORN, X, _x
from monitoring.catalog.thresholds import T_LISTEN_QUEUE, T_POOL_MEMORY, T_WORKER_RESTARTS
from monitoring.model import Alert, Case, Recording, above

RECORDINGS: list[Recording] = [
    Recording(
        record="service:worker_pool_restarts:increase10m",
        group="worker-pools",
        expr="sum by (host, platform, service, server) (increase(worker_pool_worker_restarts_total[10m]))",
        test=Case({f'worker_pool_worker_restarts_total{{{X},platform="voice",service="voice-api",server="gunicorn"}}':
              "0+1x20"},
             at="15m",
             samples=(('service:worker_pool_restarts:increase10m{platform="voice",service="voice-api",'
                       'server="gunicorn"}', 10),)),
    ),
]

ALERTS: list[Alert] = [
    Alert(
        name="WorkerPoolMasterDown",
        group="worker-pools",
        expr="worker_pool_master_up == 0",
        severity="critical",
        summary="A Gunicorn, Uvicorn or Celery master process is not running.",
        description="The {{ $labels.server }} master of {{ $labels.service }} is down: the service does not serve.",
        panel=(uids.WORKER_POOLS, "Master up"),
        fire=Case({f"worker_pool_master_up{_x(**GUNICORN)}": "0x10"}),
        quiet=Case({f"worker_pool_master_up{_x(**GUNICORN)}": "1x10"}),
        for_="1m",
        meaning="The arbiter/master process is gone, and its workers with it: for Gunicorn this is the 502 of "
        "playbook incident 1; for Celery no task runs.",
        confirm="`systemctl status api.service` (or the chat/celery unit); "
        "`ps aux | grep -E 'gunicorn|uvicorn|celery'`.",
        fix="Read the journal for the crash reason, then `sudo systemctl restart <unit>`; check that systemd's "
        "`Restart=` policy is set so it comes back by itself.",
    ),
    Alert(
        name="WorkerPoolWorkersBelowExpected",
        group="worker-pools",
        expr="worker_pool_workers < worker_pool_workers_expected and worker_pool_master_up == 1",
        severity="warning",
        summary="A worker pool runs fewer workers than configured.",
        description="{{ $labels.service }} ({{ $labels.server }}) has fewer live workers than expected for 2 minutes.",
        panel=(uids.WORKER_POOLS, "Workers vs expected"),
        fire=Case(
            {f"worker_pool_workers{_x(**GUNICORN)}": "3x10", f"worker_pool_workers_expected{_x(**GUNICORN)}": "4x10",
              f"worker_pool_master_up{_x(**GUNICORN)}": "1x10"}, labels={**GUNICORN, "job": "lookout",
             "instance": "exporters:9808"}, value=3),
        quiet=Case(
            {f"worker_pool_workers{_x(**GUNICORN)}": "4x10", f"worker_pool_workers_expected{_x(**GUNICORN)}": "4x10",
              f"worker_pool_master_up{_x(**GUNICORN)}": "1x10"}),
        for_="2m",
        meaning=f"The master is alive but does not keep its workers up ({POOLS[0].expected_workers} Gunicorn "
        f"workers, {POOLS[1].expected_workers} Uvicorn workers, Celery concurrency {POOLS[2].expected_workers}): "
        "workers crash at boot or are killed (OOM) faster than they are replaced.",
        confirm="`ps aux | grep gunicorn | wc -l` should print 5; the journal shows worker boot errors or "
        "`WORKER TIMEOUT`; `dmesg | grep -i oom`.",
        fix="Fix the boot error or memory pressure; restart the service.",
    ),
    Alert(
        name="WorkerPoolRestartLoop",
        group="worker-pools",
        expr=above("service:worker_pool_restarts:increase10m", T_WORKER_RESTARTS),
        severity="warning",
        summary="Workers of a pool keep dying and being replaced.",
        description="{{ $value | humanize }} workers of {{ $labels.service }} were replaced in 10 minutes.",
        panel=(uids.WORKER_POOLS, "Worker restarts (10 min)"),
        fire=Case(
            {f"worker_pool_worker_restarts_total{_x(**GUNICORN)}": "0+1x20"}, at="12m", labels=GUNICORN, value=10),
        quiet=Case({f"worker_pool_worker_restarts_total{_x(**GUNICORN)}": "0+0.19x30"}, at="25m"),
        for_="1m",
        meaning="Worker PIDs churn under a live master: workers crash (exceptions at import, segfaults), hit "
        "the timeout (`WORKER TIMEOUT`), max_requests, or the OOM killer.",
        confirm="Journal of the unit around the restarts; `dmesg -T | grep -i -E 'killed process|oom'`.",
        fix="Fix the crash; raise the worker timeout for slow endpoints; reduce memory per worker.",
    ),
    Alert(
        name="WorkerPoolListenQueueSaturated",
        group="worker-pools",
        expr=above("worker_pool_listen_queue_length", T_LISTEN_QUEUE),
        severity="warning",
        summary="Connections wait in the accept queue: all workers are busy.",
        description="{{ $value | humanize }} connections wait to be accepted by {{ $labels.service }} for 2 minutes.",
        panel=(uids.WORKER_POOLS, "Listen queue"),
        fire=Case({f"worker_pool_listen_queue_length{_x(**GUNICORN)}": "25x10"}, value=25),
        quiet=Case({f"worker_pool_listen_queue_length{_x(**GUNICORN)}": "10x10"}),
        for_="2m",
        meaning="Every worker is busy and new connections pile up in the kernel's accept queue: latency grows "
        "and nginx will time out (504/502) when it is full.",
        confirm="`ss -ltn 'sport = :5002'` (Recv-Q is the queue, Send-Q the limit); the busy-workers panel.",
        fix="Find the slow requests (a slow DB query, an LLM call in the request path); add workers if CPU "
        "allows (2 vCPU: 2-4 sync workers), or move slow work to Celery.",
    ),
    Alert(
        name="WorkerPoolMemoryHigh",
        group="worker-pools",
        expr=above("worker_pool_workers_resident_memory_bytes", T_POOL_MEMORY),
        severity="warning",
        summary="A worker pool uses more than half of the VPS memory.",
        description="The workers of {{ $labels.service }} use {{ $value | humanize1024 }}B of resident memory.",
        panel=(uids.WORKER_POOLS, "Worker memory (RSS)"),
        fire=Case({f"worker_pool_workers_resident_memory_bytes{_x(**GUNICORN)}": f"{3 * GiB}x20"}, value=3 * GiB),
        quiet=Case({f"worker_pool_workers_resident_memory_bytes{_x(**GUNICORN)}": f"{2 * GiB}x20"}),
        for_="5m",
        meaning="The pool's workers grow (a leak, large responses held in memory, too many workers for 4 GB): "
        "the OOM killer is next, and it may pick PostgreSQL or Redis.",
        confirm="`ps -o pid,rss,cmd -C gunicorn` (or uvicorn/celery); the largest-worker series on the board.",
        fix="Set `max_requests` (Gunicorn) or `--max-tasks-per-child` (Celery) to recycle leaking workers; "
        "lower the worker count; fix the leak.",
    ),
]
