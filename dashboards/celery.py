"""Celery: true queue depth, waiting age, live workers, task outcomes and periodic-task freshness."""

from lookout.dashboards._lib import Board, board, timeseries
from lookout.monitoring.catalog import uids
from lookout.monitoring.catalog.context import Ctx

SEL = 'instance=~"$instance"'


def build(k: Ctx) -> Board | None:
    if not k.has("celery"):
        return None
    t = k.t
    tasks = ", ".join(f"{name} {v:g} s" for name, v in k.site.periodic_tasks.items())
    return board(
        k,
        uids.CELERY, "Lookout / Celery",
        f"Queues over all priority steps, waiting age, workers, and the beat schedule ({tasks}).",
        [
            timeseries("Queue length", "Ready messages per queue, summed over kombu's priority sub-queues; "
                       "_other sums the queues beyond max_queues (the backlog line is for one queue).",
                       [(f"celery_queue_length{{{SEL}}}", "{{queue_name}}")], "short", [t.celery_backlog]),
            timeseries("Oldest message age", "How long the oldest ready message of each queue has waited.",
                       [(f"lookout_celery_queue_oldest_message_age_seconds{{{SEL}}}", "{{queue_name}}")], "s",
                           [t.celery_wait_seconds]),
            timeseries("Live workers", "Workers sending heartbeats (lookout_celery_workers) and per worker up.",
                       [(f"lookout_celery_workers{{{SEL}}}", "live workers"), (f"celery_worker_up{{{SEL}}}",
                                                                               "{{hostname}}")],
                       "short", [t.celery_live_workers], w=8),
            timeseries("Periodic tasks: intervals since last success",
                       f"Time since each periodic task last succeeded, in its own intervals ({tasks}); stale above 3.",
                       [(f"task:lookout_celery_periodic_staleness:intervals{{{SEL}}}",
                         "{{name}}")], "short",
                           [t.periodic_stale_intervals],
                       w=8),
            timeseries("Task failure share", "Share of task runs that failed over 5 minutes, per task.",
                       [("task:lookout_celery_task_failure:ratio_rate5m", "{{name}}")], "percentunit",
                       [t.celery_failure_ratio],
                       w=8),
            timeseries("Reserved messages (prefetched, ETA)", "Messages delivered to a worker but not acknowledged.",
                       [(f"lookout_celery_queue_reserved{{{SEL}}}", "{{queue_name}}")], "short", [t.celery_backlog]),
            timeseries("Task runtime p95", "95th percentile of task runtime per task.",
                       [("histogram_quantile(0.95, sum by (name, le) "
                         f"(rate(lookout_celery_task_runtime_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                         "{{name}}")], "s", [t.celery_wait_seconds]),
            timeseries("Queues folded or not read",
                       'Queues known, folded into queue_name="_other" beyond max_queues (totals stay exact), and '
                       "not read beyond max_discovered_queues (totals are lower bounds).",
                       [(f"lookout_celery_queues_discovered{{{SEL}}}", "known"),
                        (f"lookout_celery_queues_folded{{{SEL}}}", "folded"),
                        (f"lookout_celery_queues_unread{{{SEL}}}", "not read")], "short", [], w=24),
        ],
        ("instance", "Exporter", "label_values(lookout_celery_workers, instance)"),
        requires={"Periodic tasks: intervals since last success": ("beat",)},
    )
