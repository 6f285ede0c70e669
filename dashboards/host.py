"""Host, PostgreSQL, Redis and containers of the small VPS, from the standard exporters."""

from lookout.dashboards._lib import Board, board, stat, timeseries
from lookout.monitoring.catalog import uids
from lookout.monitoring.catalog.context import Ctx

SEL = 'host=~"$host"'  # every target carries `host`: one selector for node, PostgreSQL, Redis and containers
FS = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"'


def build(k: Ctx) -> Board | None:
    t = k.t
    sizes = sorted({f"{h.vcpus} vCPU / {h.memory_bytes // 1024**3} GB / {h.disk_bytes // 10**9} GB"
                    for h in k.site.hosts})
    # several hosts: the host panels repeat once per host (one row of panels each)
    rep = "host" if len(k.site.hosts) > 1 else None
    return board(
        k,
        uids.HOST, "Lookout / Host, PostgreSQL, Redis",
        f"The {' and '.join(sizes)} {'hosts' if len(k.site.hosts) > 1 else 'VPS'} "
        "(node_exporter), PostgreSQL (postgres_exporter), Redis (redis_exporter) and containers.",
        [
            stat("Host up", "1 while Prometheus scrapes the node exporter.",
                 [(f'up{{job="node",{SEL}}}', "{{instance}}")], "bool", w=8, repeat=rep),
            stat("PostgreSQL up", "1 while postgres_exporter can connect to PostgreSQL.",
                 [(f"pg_up{{{SEL}}}", "{{instance}}")], "bool", w=8, requires=("postgres",)),
            stat("Redis up", "1 while redis_exporter can reach Redis.", [(f"redis_up{{{SEL}}}", "{{instance}}")],
                 "bool",
                 w=8, requires=("redis",)),
            timeseries("Disk free", "Free share of each real filesystem.",
                       [(f"instance:node_filesystem_avail:ratio{{{SEL},{FS}}}", "{{mountpoint}}")], "percentunit",
                       [t.disk_free_warning, t.disk_free_critical], w=8, repeat=rep),
            timeseries("Memory available", "MemAvailable / MemTotal.",
                       [(f"instance:node_memory_available:ratio{{{SEL}}}", "available")], "percentunit",
                       [t.memory_available], w=8, repeat=rep),
            timeseries("Load per vCPU", "5-minute load average divided by the number of CPUs.",
                       [(f"instance:node_load5_per_cpu:ratio{{{SEL}}}", "load5 / vCPU")], "short", [t.load_per_cpu],
                       w=8, repeat=rep),
            timeseries("PostgreSQL connections / max_connections", "Sessions in pg_stat_activity over max_connections.",
                       [(f"instance:pg_connections:ratio{{{SEL}}}", "{{instance}}")], "percentunit",
                           [t.pg_connections_ratio],
                       w=8, requires=("postgres",)),
            timeseries("Redis memory", "Memory used by Redis against a quarter of the VPS memory.",
                       [(f"redis_memory_used_bytes{{{SEL}}}", "used")], "bytes", [t.redis_memory_bytes], w=8,
                       requires=("redis",)),
            timeseries("Redis memory / maxmemory", "Memory used over maxmemory (absent when maxmemory is 0).",
                       [(f"redis_memory_used_bytes{{{SEL}}} / (redis_memory_max_bytes{{{SEL}}} > 0)",
                         "used / maxmemory")],
                       "percentunit",
                       [t.redis_maxmemory_ratio], w=8, requires=("redis",)),
            timeseries("Container exits", "Die events per container over the rate interval (Docker event stream).",
                       [(f"increase(lookout_docker_container_die_events_total{{{SEL}}}[$__rate_interval])",
                         "{{name}}")],
                           "short",
                       [t.container_restarts_10m], w=12, requires=("containers",)),
            timeseries("Containers unhealthy or OOM-killed", "Containers whose health check fails (1 each) and OOM "
                       "kills per rate interval: above 0 is a problem.",
                       [(f'lookout_docker_container_health_status{{status="unhealthy",{SEL}}}', "{{name}} unhealthy"),
                        (f"increase(lookout_docker_container_oom_events_total{{{SEL}}}[$__rate_interval])",
                         "{{name}} OOM kills")], "short", [t.containers_unhealthy_or_oom], w=12,
                       requires=("containers",)),
        ],
        ("host", "Host", 'label_values(up{job="node"}, host)'),
    )
