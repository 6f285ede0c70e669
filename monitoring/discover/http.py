"""HTTP probes of discovered ports, for ``lookout discover``: a health endpoint and a metrics endpoint.

Reads: ``GET http://127.0.0.1:PORT/PATH`` for the health paths (``/health``, ``/api/health``, ``/healthz``)
and the metrics paths (``/metrics``, ``/api/metrics``); loopback only, no redirects followed, a short
timeout, at most ``MAX_BODY`` bytes of each answer read.
Publishes: ``probe(port) -> Probe`` (the first health path answering 2xx, the first metrics path answering
200 with the Prometheus text format).
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass

HEALTH_PATHS = ("/health", "/api/health", "/healthz")
METRICS_PATHS = ("/metrics", "/api/metrics")
TIMEOUT = 2.0
MAX_BODY = 65536
_SAMPLE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfNa]+( \d+)?$", re.M)


@dataclass
class Probe:
    port: int
    health: str | None = None
    metrics: str | None = None
    answered: bool = False  # anything spoke HTTP on the port


def get(port: int, path: str, timeout: float = TIMEOUT) -> tuple[int, str, str] | None:
    """(status, content type, start of the body), or None when nothing answered HTTP."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "lookout-discover", "Accept": "text/plain"})
        resp = conn.getresponse()
        body = resp.read(MAX_BODY)
        return resp.status, resp.getheader("Content-Type", ""), body.decode(errors="replace")
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()


def is_exposition(content_type: str, body: str) -> bool:
    """Prometheus text (or OpenMetrics) format: a ``# TYPE`` line or sample lines."""
    if "openmetrics" in content_type:
        return True
    return "# TYPE " in body or "# HELP " in body or bool(_SAMPLE.search(body))


def probe(port: int, timeout: float = TIMEOUT) -> Probe:
    p = Probe(port)
    for path in HEALTH_PATHS:
        r = get(port, path, timeout)
        if r is None:
            return p  # nothing speaks HTTP there: no further paths
        p.answered = True
        if 200 <= r[0] < 300:
            p.health = path
            break
    for path in METRICS_PATHS:
        r = get(port, path, timeout)
        if r is not None and r[0] == 200 and is_exposition(r[1], r[2]):
            p.metrics = path
            break
    return p
