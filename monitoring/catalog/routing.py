"""Routing: severity -> receiver, the heartbeat, and inhibitions (a down host or master mutes what follows).

Reads nothing. Publishes ``RECEIVER_OF_SEVERITY``, ``HEARTBEAT_RECEIVER``, ``INHIBITIONS`` and
``inhibitions(alert_names)``: those whose source alert the site has.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

INHIBITIONS: tuple[dict[str, Any], ...] = (
    {"source_matchers": ['alertname="HostDown"'],
     "target_matchers": ['alertname!~"HostDown|Watchdog"'], "equal": ["host"]},
    {"source_matchers": ['alertname="WorkerPoolMasterDown"'],
     "target_matchers": ['alertname!~"WorkerPoolMasterDown|Watchdog"'], "equal": ["service"]},
    {"source_matchers": ['alertname="PostgresDown"'],
     "target_matchers": ['alertname=~"PostgresConnectionsNearMax|ExporterCollectorDown"'], "equal": ["host"]},
    {"source_matchers": ['alertname="RedisDown"'],
     "target_matchers": ['alertname=~"Celery.+|ExporterCollectorDown"'], "equal": ["host"]},
    {"source_matchers": ['alertname="HostDiskSpaceCritical"'],
     "target_matchers": ['alertname="HostDiskSpaceLow"'], "equal": ["instance", "mountpoint"]},
)
RECEIVER_OF_SEVERITY = {"critical": "page", "warning": "ticket", "info": "blackhole"}
HEARTBEAT_RECEIVER = "heartbeat"
# Alertmanager 0.25 (Debian 12) has no `bot_token_file` (0.26 has): the generated file carries this
# placeholder, substituted at deploy time from the site's `bot_token_file` (docs/runbooks.md).
TELEGRAM_BOT_TOKEN_PLACEHOLDER = "TELEGRAM_BOT_TOKEN"


def inhibitions(alert_names: Iterable[str]) -> list[dict[str, Any]]:
    names = set(alert_names)
    return [dict(r) for r in INHIBITIONS if r["source_matchers"][0].split('"')[1] in names]
