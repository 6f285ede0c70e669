"""Labels of the input series of the promtool unit tests."""

from __future__ import annotations

X = 'job="lookout",instance="exporters:9808"'  # labels of our exporter's series in the unit tests
PG = 'job="postgres",instance="postgres-exporter:9187"'
NODE = 'job="node",instance="node-exporter:9100"'
REDIS = 'job="redis",instance="redis-exporter:9121"'


def _x(**labels: str) -> str:
    """Series selector of our exporter with extra labels (unit tests)."""
    return "{" + X + "".join(f',{k}="{v}"' for k, v in labels.items()) + "}"




GUNICORN = {"platform": "voice", "service": "voice-api", "server": "gunicorn"}
CTR = _x(name="demo-chat", compose_project="lookout", compose_service="demo-chat")
CTR_UNHEALTHY = _x(name="grafana", compose_project="lookout", compose_service="grafana", status="unhealthy")
