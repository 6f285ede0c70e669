"""Redis from redis_exporter: up, memory against the VPS and maxmemory.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import REDIS, num
from lookout.monitoring.model import Alert, Case, Recording, above


def recordings(k: Ctx) -> list[Recording]:
    return []


def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    mem = int(t.redis_memory_bytes.value)
    maxat = 100 * float(t.redis_maxmemory_ratio.value)  # bytes of a 100-byte maxmemory
    maxhi = min(100.0, maxat + 5)
    return [
        Alert(
            name="RedisDown",
            requires=("redis",),
            group="host",
            expr="redis_up == 0",
            severity="critical",
            summary="Redis does not answer the exporter.",
            description="redis_exporter {{ $labels.instance }} cannot reach Redis for 1 minute: Celery's broker is "
            "down.",
            panel=(uids.HOST, "Redis up"),
            value=v.NO_VALUE,
            fire=Case({f"redis_up{{{REDIS}}}": "0x10"}),
            quiet=Case({f"redis_up{{{REDIS}}}": "1x10"}), for_="1m",
            meaning="Redis is the Celery broker, the response cache and the rate limiter: tasks stop, API calls "
            "that use the cache fail.",
            confirm=f"`systemctl status {k.server_unit('redis')}`; `redis-cli ping`.",
            fix="Restart Redis after reading its log (OOM? disk full for the RDB?).",
        ),
        Alert(
            name="RedisMemoryHigh",
            requires=("redis",),
            group="host",
            expr=above("redis_memory_used_bytes", t.redis_memory_bytes),
            severity="warning",
            summary="Redis uses more than a quarter of the VPS memory.",
            description="Redis {{ $labels.instance }} uses {{ $value | humanize1024 }}B.",
            panel=(uids.HOST, "Redis memory"),
            value=v.amount("B", "humanize1024"),
            fire=Case({f"redis_memory_used_bytes{{{REDIS}}}": f"{2 * mem}x10"}, value=2 * mem),
            quiet=Case({f"redis_memory_used_bytes{{{REDIS}}}": f"{mem}x10"}),
            for_="5m",
            meaning=f"On a {k.host_size[1]} GB host Redis competes with the workers and PostgreSQL: a queue backlog "
            "or a cache "
            "without TTLs grows until the OOM killer acts.",
            confirm="`redis-cli info memory | grep used_memory_human`; `redis-cli --bigkeys`.",
            fix="Drain the backlog (Celery board); set TTLs on cache keys; set `maxmemory` with an eviction policy "
            "for the cache database.",
        ),
        Alert(
            name="RedisMemoryNearMaxmemory",
            requires=("redis",),
            group="host",
            expr=above("redis_memory_used_bytes / (redis_memory_max_bytes > 0)", t.redis_maxmemory_ratio),
            severity="warning",
            summary="Redis memory is close to its maxmemory limit.",
            description="Redis {{ $labels.instance }} uses {{ $value | humanizePercentage }} of maxmemory.",
            panel=(uids.HOST, "Redis memory / maxmemory"),
            value=v.ratio("of maxmemory"),
            fire=Case({f"redis_memory_used_bytes{{{REDIS}}}": f"{num(maxhi)}x10",
                       f"redis_memory_max_bytes{{{REDIS}}}": "100x10"},
                      labels={"job": "redis", "instance": "redis-exporter:9121"}, value=maxhi / 100),
            quiet=Case({f"redis_memory_used_bytes{{{REDIS}}}": f"{num(maxat)}x10",
                        f"redis_memory_max_bytes{{{REDIS}}}": "100x10"}),
            for_="5m",
            meaning="At maxmemory Redis evicts keys (cache) or refuses writes (noeviction): Celery can lose or "
            "fail to queue tasks.",
            confirm="`redis-cli info memory`; `redis-cli config get maxmemory-policy`.",
            fix="Raise maxmemory if the host allows, or drain what fills it.",
        ),
    ]
