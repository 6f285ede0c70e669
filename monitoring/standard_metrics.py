"""Metric names the boards and rules read from exporters that are not ours, by source and version.

Reads nothing. Publishes ``STANDARD_METRICS`` (source -> names). Tests check that every metric a panel or
rule uses is either published by one of our collectors (``lookout.exporters.docs.all_metric_names()``), listed
here, or recorded by one of our recording rules. Versions: Debian 12's node_exporter 1.5,
postgres_exporter 0.11, redis_exporter 1.45, blackbox_exporter 0.23, Prometheus 2.42.
"""

from __future__ import annotations

STANDARD_METRICS: dict[str, tuple[str, ...]] = {
    "prometheus": ("up", "ALERTS"),
    "node_exporter": (
        "node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes", "node_load5", "node_cpu_seconds_total",
    ),
    "postgres_exporter": ("pg_up", "pg_stat_activity_count", "pg_settings_max_connections"),
    "redis_exporter": ("redis_up", "redis_memory_used_bytes", "redis_memory_max_bytes"),
    "blackbox_exporter": ("probe_success", "probe_ssl_earliest_cert_expiry"),
    # the chat center's own /api/metrics (second seed's names, the demo publishes the same)
    "chatcenter_api": (
        "http_requests_total", "http_request_duration_seconds_bucket", "http_request_duration_seconds_count",
    ),
    # martin-helmich/prometheus-nginxlog-exporter with namespace "nginx" on the voice platform's access log
    "nginxlog_exporter": ("nginx_http_response_count_total",),
}


def names() -> set[str]:
    return {n for ns in STANDARD_METRICS.values() for n in ns}
