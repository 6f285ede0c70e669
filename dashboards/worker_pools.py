"""Worker pools: Gunicorn (voice API), Uvicorn (chat API) and Celery processes, restarts, listen queue."""

from lookout.dashboards._lib import Board, board, timeseries
from lookout.monitoring.catalog import uids
from lookout.monitoring.catalog.context import Ctx

S = 'service=~"$service"'


def build(k: Ctx) -> Board | None:
    if not k.has("pools"):
        return None
    t = k.t
    expected = ", ".join(dict.fromkeys(f"{s.name} {s.workers}" for s in k.site.pools))
    vcpus = sum(h.vcpus for h in k.site.hosts if k.site.services_on(h.name))
    return board(
        k,
        uids.WORKER_POOLS, "Lookout / Worker pools",
        f"Masters, workers against the expected count ({expected}), restarts and the accept queue.",
        [
            timeseries("Master up", "1 while the master/arbiter process of the pool is alive.",
                       [(f"lookout_worker_pool_master_up{{{S}}}", "{{service}}")], "bool", w=8),
            timeseries("Workers vs expected", f"Live worker processes against the expected count ({expected}).",
                       [(f"lookout_worker_pool_workers{{{S}}}", "{{service}} live"),
                        (f"lookout_worker_pool_workers_expected{{{S}}}", "{{service}} expected")], "short", w=8),
            timeseries("Worker restarts (10 min)", "Workers that died and were replaced under a live master, over 10 "
                       "minutes.",
                       [(f"service:lookout_worker_pool_restarts:increase10m{{{S}}}", "{{service}}")], "short",
                       [t.worker_restarts_10m], w=8),
            timeseries("Listen queue", "Connections waiting in the listening socket's accept queue (all workers "
                       "busy), with the queue's limit.",
                       [(f"lookout_worker_pool_listen_queue_length{{{S}}}", "{{service}} queued"),
                        (f"lookout_worker_pool_listen_queue_limit{{{S}}}", "{{service}} limit")], "short",
                       [t.listen_queue], w=12),
            timeseries("Busy workers", "Workers serving a request now, against live workers.",
                       [(f"lookout_worker_pool_workers_busy{{{S}}}", "{{service}} busy"),
                        (f"lookout_worker_pool_workers{{{S}}}", "{{service}} live")], "short", w=12),
            timeseries("Worker memory (RSS)", "Resident memory of all workers of each pool, and of its largest worker.",
                       [(f"lookout_worker_pool_workers_resident_memory_bytes{{{S}}}", "{{service}} all workers"),
                        (f"lookout_worker_pool_worker_resident_memory_max_bytes{{{S}}}", "{{service}} largest")],
                        "bytes",
                       [t.pool_memory_bytes], w=12),
            timeseries("Worker CPU", f"CPU seconds per second used by each pool's workers ({vcpus} vCPU in total).",
                       [(f"rate(lookout_worker_pool_workers_cpu_seconds_total{{{S}}}[$__rate_interval])",
                         "{{service}}")],
                       "short", w=12),
            timeseries("Exceptions per service (5 min)", "Python tracebacks in each service's error logs over 5 "
                       "minutes (a chained traceback counts once).",
                       [(f"service:lookout_app_exceptions:increase5m{{{S}}}", "{{service}}")], "short",
                       [t.app_exceptions_5m], w=8, requires=("app_exceptions",)),
            timeseries("Exceptions by class", "Tracebacks by their final exception class (increase per graph step); "
                       "classes beyond the exporter's cap count as `other`.",
                       [("sum by (service, exception) "
                         f"(increase(lookout_app_exceptions_total{{{S}}}[$__rate_interval]))",
                         "{{service}} {{exception}}")], "short", [t.app_exceptions_5m], w=8,
                       requires=("app_exceptions",)),
            timeseries("Time since deploy", "Age of the release each service runs (revision in the legend); alerts "
                       f"starting within {k.site.alerting.deploy_window / 60:g} min of a deploy name it in their "
                       "notification.",
                       [(f"(time() - lookout_app_release_timestamp_seconds{{{S}}}) * on (instance, service) group_left "
                         "(revision) lookout_app_release_info", "{{service}} {{revision}}")], "s", w=8,
                       requires=("releases",)),
        ],
        ("service", "Service", "label_values(lookout_worker_pool_workers, service)"),
    )
