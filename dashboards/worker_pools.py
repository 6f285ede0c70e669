"""Worker pools: Gunicorn (voice API), Uvicorn (chat API) and Celery processes, restarts, listen queue."""

from dashboards._lib import board, timeseries
from monitoring import catalog as c
from monitoring.catalog import thresholds as t
from monitoring.catalog import uids

S = 'service=~"$service"'
expected = ", ".join(f"{p.service} {p.expected_workers}" for p in c.POOLS)
DASHBOARD = board(
    uids.WORKER_POOLS, "Lookout / Worker pools",
    f"Masters, workers against the expected count ({expected}), restarts and the accept queue.",
    [
        timeseries("Master up", "1 while the master/arbiter process of the pool is alive.",
                   [(f"worker_pool_master_up{{{S}}}", "{{service}}")], "bool", w=8),
        timeseries("Workers vs expected", f"Live worker processes against the expected count ({expected}).",
                   [(f"worker_pool_workers{{{S}}}", "{{service}} live"),
                    (f"worker_pool_workers_expected{{{S}}}", "{{service}} expected")], "short", w=8),
        timeseries("Worker restarts (10 min)", "Workers that died and were replaced under a live master, over 10 "
                   "minutes.",
                   [(f"service:worker_pool_restarts:increase10m{{{S}}}", "{{service}}")], "short",
                   [t.T_WORKER_RESTARTS], w=8),
        timeseries("Listen queue", "Connections waiting in the listening socket's accept queue (all workers "
                   "busy), with the queue's limit.",
                   [(f"worker_pool_listen_queue_length{{{S}}}", "{{service}} queued"),
                    (f"worker_pool_listen_queue_limit{{{S}}}", "{{service}} limit")], "short",
                   [t.T_LISTEN_QUEUE], w=12),
        timeseries("Busy workers", "Workers serving a request now, against live workers.",
                   [(f"worker_pool_workers_busy{{{S}}}", "{{service}} busy"),
                    (f"worker_pool_workers{{{S}}}", "{{service}} live")], "short", w=12),
        timeseries("Worker memory (RSS)", "Resident memory of all workers of each pool, and of its largest worker.",
                   [(f"worker_pool_workers_resident_memory_bytes{{{S}}}", "{{service}} all workers"),
                    (f"worker_pool_worker_resident_memory_max_bytes{{{S}}}", "{{service}} largest")], "bytes",
                   [t.T_POOL_MEMORY], w=12),
        timeseries("Worker CPU", "CPU seconds per second used by each pool's workers (2 vCPU in total).",
                   [(f"rate(worker_pool_workers_cpu_seconds_total{{{S}}}[$__rate_interval])", "{{service}}")],
                   "short", w=12),
    ],
    ("service", "Service", "label_values(worker_pool_workers, service)"),
)
