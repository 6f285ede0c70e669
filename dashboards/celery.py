"""Celery: true queue depth, waiting age, live workers, task outcomes and periodic-task freshness."""

from dashboards._lib import board, timeseries
from monitoring import catalog as c
from monitoring.catalog import thresholds as t
from monitoring.catalog import uids

SEL = 'instance=~"$instance"'
tasks = ", ".join(f"{k} {v} s" for k, v in c.PERIODIC_TASKS.items())
DASHBOARD = board(
    uids.CELERY, "Lookout / Celery",
    f"Queues over all priority steps, waiting age, workers, and the beat schedule ({tasks}).",
    [
        timeseries("Queue length", "Ready messages per queue, summed over kombu's priority sub-queues.",
                   [(f"celery_queue_length{{{SEL}}}", "{{queue_name}}")], "short", [t.T_CELERY_BACKLOG]),
        timeseries("Oldest message age", "How long the oldest ready message of each queue has waited.",
                   [(f"celery_queue_oldest_message_age_seconds{{{SEL}}}", "{{queue_name}}")], "s", [t.T_CELERY_WAIT]),
        timeseries("Live workers", "Workers sending heartbeats (celery_workers) and per worker up.",
                   [(f"celery_workers{{{SEL}}}", "live workers"), (f"celery_worker_up{{{SEL}}}", "{{hostname}}")],
                   "short", [t.T_CELERY_MIN_WORKERS], w=8),
        timeseries("Periodic tasks: intervals since last success",
                   f"Time since each periodic task last succeeded, in its own intervals ({tasks}); stale above 3.",
                   [(f"task:celery_periodic_staleness:intervals{{{SEL}}}", "{{name}}")], "short", [t.T_STALE_INTERVALS],
                   w=8),
        timeseries("Task failure share", "Share of task runs that failed over 5 minutes, per task.",
                   [("task:celery_task_failure:ratio_rate5m", "{{name}}")], "percentunit", [t.T_CELERY_FAILURE_RATIO],
                   w=8),
        timeseries("Reserved messages (prefetched, ETA)", "Messages delivered to a worker but not acknowledged.",
                   [(f"celery_queue_reserved{{{SEL}}}", "{{queue_name}}")], "short", [t.T_CELERY_BACKLOG]),
        timeseries("Task runtime p95", "95th percentile of task runtime per task.",
                   [(f"histogram_quantile(0.95, sum by (name, le) (rate(celery_task_runtime_seconds_bucket{{{SEL}}}"
                     "[$__rate_interval])))", "{{name}}")], "s", [t.T_CELERY_WAIT]),
    ],
    ("instance", "Exporter", "label_values(celery_workers, instance)"),
)
