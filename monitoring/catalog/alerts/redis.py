"""Redis from redis_exporter: up, memory against the VPS and maxmemory.

Reads the thresholds and facts of the catalog. Publishes ``RECORDINGS`` and ``ALERTS``.
"""

from __future__ import annotations

from monitoring.catalog import uids
from monitoring.catalog.facts import GiB
from monitoring.catalog.series import REDIS
from monitoring.catalog.thresholds import T_REDIS_MAXMEMORY_RATIO, T_REDIS_MEMORY
from monitoring.model import Alert, Case, Recording, above

RECORDINGS: list[Recording] = [
]

ALERTS: list[Alert] = [
    Alert(
        name="RedisDown",
        group="host",
        expr="redis_up == 0",
        severity="critical",
        summary="Redis does not answer the exporter.",
        description="redis_exporter {{ $labels.instance }} cannot reach Redis for 1 minute: Celery's broker is down.",
        panel=(uids.HOST, "Redis up"),
        fire=Case({f"redis_up{{{REDIS}}}": "0x10"}),
        quiet=Case({f"redis_up{{{REDIS}}}": "1x10"}), for_="1m",
        meaning="Redis is the Celery broker, the response cache and the rate limiter: tasks stop, API calls "
        "that use the cache fail.",
        confirm="`systemctl status redis-server`; `redis-cli ping`.",
        fix="Restart Redis after reading its log (OOM? disk full for the RDB?).",
    ),
    Alert(
        name="RedisMemoryHigh",
        group="host",
        expr=above("redis_memory_used_bytes", T_REDIS_MEMORY),
        severity="warning",
        summary="Redis uses more than a quarter of the VPS memory.",
        description="Redis {{ $labels.instance }} uses {{ $value | humanize1024 }}B.",
        panel=(uids.HOST, "Redis memory"),
        fire=Case({f"redis_memory_used_bytes{{{REDIS}}}": f"{2 * GiB}x10"}, value=2 * GiB),
        quiet=Case({f"redis_memory_used_bytes{{{REDIS}}}": f"{GiB}x10"}),
        for_="5m",
        meaning="On a 4 GB VPS Redis competes with the workers and PostgreSQL: a queue backlog or a cache "
        "without TTLs grows until the OOM killer acts.",
        confirm="`redis-cli info memory | grep used_memory_human`; `redis-cli --bigkeys`.",
        fix="Drain the backlog (Celery board); set TTLs on cache keys; set `maxmemory` with an eviction policy "
        "for the cache database.",
    ),
    Alert(
        name="RedisMemoryNearMaxmemory",
        group="host",
        expr=above("redis_memory_used_bytes / (redis_memory_max_bytes > 0)", T_REDIS_MAXMEMORY_RATIO),
        severity="warning",
        summary="Redis memory is close to its maxmemory limit.",
        description="Redis {{ $labels.instance }} uses {{ $value | humanizePercentage }} of maxmemory.",
        panel=(uids.HOST, "Redis memory / maxmemory"),
        fire=Case({f"redis_memory_used_bytes{{{REDIS}}}": "95x10", f"redis_memory_max_bytes{{{REDIS}}}": "100x10"},
             labels={"job": "redis", "instance": "redis-exporter:9121"}, value=0.95),
        quiet=Case({f"redis_memory_used_bytes{{{REDIS}}}": "90x10", f"redis_memory_max_bytes{{{REDIS}}}": "100x10"}),
        for_="5m",
        meaning="At maxmemory Redis evicts keys (cache) or refuses writes (noeviction): Celery can lose or "
        "fail to queue tasks.",
        confirm="`redis-cli info memory`; `redis-cli config get maxmemory-policy`.",
        fix="Raise maxmemory if the host allows, or drain what fills it.",
    ),
]
