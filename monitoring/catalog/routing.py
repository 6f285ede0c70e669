"""Routing: severity -> receiver, the heartbeat, and inhibitions."""

INHIBITIONS = (
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
