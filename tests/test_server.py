"""The exporter's HTTP server under hostile clients, and its exposition (OpenMetrics, gzip, /healthz).

The real exporter runs with a descriptor limit of 256 while 400 slow and half-open loopback clients
hold on (reopening whatever the server closes) and 300 scrapes are made: every scrape must succeed and
no traceback may reach the log. Latencies are printed (bench/bench_server.py compares with the old
server), not asserted beyond the client's own timeout."""

from __future__ import annotations

import gzip
import socket
import time

import requests

from lookout.exporters.server import connected_at, connection_limit
from tests.support.exporter import exporter, write_config
from tests.support.slowclients import scrape_under_attack

POOL = {"service": "voice-api", "server": "gunicorn", "match": "no-such-app-here:app"}
NOFILE = 256


def _config(tmp_path):
    return write_config(tmp_path / "c.yaml", {"worker_pools": {"interval": "1s", "pools": [POOL]}})


def test_scrapes_succeed_with_more_slow_clients_than_descriptors(tmp_path):
    with exporter(_config(tmp_path), nofile=NOFILE) as exp:
        fig = scrape_under_attack(exp.url, exp.port, hostile=400, scrapes=300)
        print("\n400 hostile clients, RLIMIT_NOFILE 256:", fig.summary())
        assert fig.scrapes == 300 and fig.ok == 300, fig.summary()
        assert fig.reconnects > 0  # the server did close hostile connections to make room
        assert fig.p(0.99) < 5.0, fig.summary()  # sanity only: the figures are bench/bench_server.py's
        # the exporter is still fine afterwards, and said nothing alarming
        assert requests.get(exp.url + "/healthz", timeout=5).json()["status"] == "ok"
    log = exp.log()
    assert "Traceback" not in log, log[-3000:]
    assert "Too many open files" not in log, log[-3000:]


def test_connection_limit_stays_below_descriptor_limit():
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        for n in (64, 256, 1024):
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
            assert 4 <= connection_limit() < n - 16
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_eviction_grace_counts_from_the_handshake_not_the_accept():
    # a connection that waited 80 ms in the backlog has had those 80 ms to send its request
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname(), timeout=5)
    try:
        time.sleep(0.08)
        conn, _ = listener.accept()
        now = time.time()
        waited = now - connected_at(conn, now)
        assert 0.06 <= waited <= 1.0, waited  # the kernel's clock ticks in milliseconds (or jiffies)
        conn.close()
    finally:
        client.close()
        listener.close()
    a, b = socket.socketpair()  # no TCP_INFO: the accept's own time
    with a, b:
        assert connected_at(a, 123.0) == 123.0


def test_exposition_negotiation_and_healthz(tmp_path):
    with exporter(_config(tmp_path)) as exp:
        om = requests.get(exp.url + "/metrics", timeout=5,
                          headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        assert om.text.rstrip().endswith("# EOF")
        plain = requests.get(exp.url + "/metrics", timeout=5, headers={"Accept-Encoding": "identity"})
        assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "Content-Encoding" not in plain.headers
        # gzip only when the client says so (not on a substring such as "nogzip")
        raw = socket.create_connection(("127.0.0.1", exp.port), timeout=5)
        raw.sendall(b"GET /metrics HTTP/1.0\r\nAccept-Encoding: gzip;q=1.0\r\n\r\n")
        data = b""
        while chunk := raw.recv(65536):
            data += chunk
        raw.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"Content-Encoding: gzip" in head
        assert b"lookout_exporter_build_info" in gzip.decompress(body)
        h = requests.get(exp.url + "/healthz", timeout=5)
        assert h.headers["Content-Type"] == "application/json" and h.json()["status"] == "ok"
        assert requests.get(exp.url + "/nope", timeout=5).status_code == 404
        assert requests.post(exp.url + "/metrics", timeout=5).status_code == 405
    assert "Traceback" not in exp.log()
