"""Host, PostgreSQL, Redis and containers of the small VPS, from the standard exporters."""

from dashboards._lib import board, stat, timeseries
from monitoring import catalog as c
from monitoring.catalog import thresholds as t
from monitoring.catalog import uids

SEL = 'host=~"$host"'  # every target carries `host`: one selector for node, PostgreSQL, Redis and containers
FS = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"'
DASHBOARD = board(
    uids.HOST, "Lookout / Host, PostgreSQL, Redis",
    f"The {c.VPS.vcpus} vCPU / {c.VPS.memory_bytes // c.GiB} GB / {c.VPS.disk_bytes // 10**9} GB VPS "
    "(node_exporter), PostgreSQL (postgres_exporter), Redis (redis_exporter) and containers.",
    [
        stat("Host up", "1 while Prometheus scrapes the node exporter.",
             [(f'up{{job="node",{SEL}}}', "{{instance}}")], "bool", w=8),
        stat("PostgreSQL up", "1 while postgres_exporter can connect to PostgreSQL.",
             [(f"pg_up{{{SEL}}}", "{{instance}}")], "bool", w=8),
        stat("Redis up", "1 while redis_exporter can reach Redis.", [(f"redis_up{{{SEL}}}", "{{instance}}")], "bool",
             w=8),
        timeseries("Disk free", "Free share of each real filesystem.",
                   [(f"instance:node_filesystem_avail:ratio{{{SEL},{FS}}}", "{{mountpoint}}")], "percentunit",
                   [t.T_DISK_FREE_WARN, t.T_DISK_FREE_CRIT], w=8),
        timeseries("Memory available", "MemAvailable / MemTotal.",
                   [(f"instance:node_memory_available:ratio{{{SEL}}}", "available")], "percentunit",
                   [t.T_MEM_AVAILABLE], w=8),
        timeseries("Load per vCPU", "5-minute load average divided by the number of CPUs.",
                   [(f"instance:node_load5_per_cpu:ratio{{{SEL}}}", "load5 / vCPU")], "short", [t.T_LOAD_PER_CPU], w=8),
        timeseries("PostgreSQL connections / max_connections", "Sessions in pg_stat_activity over max_connections.",
                   [(f"instance:pg_connections:ratio{{{SEL}}}", "{{instance}}")], "percentunit", [t.T_PG_CONN_RATIO],
                   w=8),
        timeseries("Redis memory", "Memory used by Redis against a quarter of the VPS memory.",
                   [(f"redis_memory_used_bytes{{{SEL}}}", "used")], "bytes", [t.T_REDIS_MEMORY], w=8),
        timeseries("Redis memory / maxmemory", "Memory used over maxmemory (absent when maxmemory is 0).",
                   [(f"redis_memory_used_bytes{{{SEL}}} / (redis_memory_max_bytes{{{SEL}}} > 0)", "used / maxmemory")],
                   "percentunit",
                   [t.T_REDIS_MAXMEMORY_RATIO], w=8),
        timeseries("Container exits", "Die events per container over the rate interval (Docker event stream).",
                   [(f"increase(docker_container_die_events_total{{{SEL}}}[$__rate_interval])", "{{name}}")], "short",
                   [t.T_CONTAINER_RESTARTS], w=12),
        timeseries("Containers unhealthy or OOM-killed", "Containers whose health check fails (1 each) and OOM "
                   "kills per rate interval: above 0 is a problem.",
                   [(f'docker_container_health_status{{status="unhealthy",{SEL}}}', "{{name}} unhealthy"),
                    (f"increase(docker_container_oom_events_total{{{SEL}}}[$__rate_interval])",
                     "{{name}} OOM kills")], "short", [t.T_CONTAINER_TROUBLE], w=12),
    ],
    ("host", "Host", 'label_values(up{job="node"}, host)'),
)
