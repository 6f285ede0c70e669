"""Input series of the promtool unit tests: fixed labels, independent of the site (the tests feed them)."""

from __future__ import annotations

GiB = 1024**3
DAY = 86400
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


def num(x: float) -> str:
    """A sample value for promtool's series notation: ``150``, ``0.05``, ``2e9`` (never ``2e+09``, whose ``+``
    would read as an increment)."""
    x = round(float(x), 6)
    if not x.is_integer():
        return repr(x)
    m, e = int(x), 0
    while m and m % 10 == 0 and abs(x) >= 1e8:
        m, e = m // 10, e + 1
    return f"{m}e{e}" if e else str(m)
