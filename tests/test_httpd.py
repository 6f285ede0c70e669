"""lookout.stack.httpd, the loopback server every stand-in and fake uses: serves on a free port, answers JSON, stops
cleanly (also when it never started)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from lookout.stack.httpd import LocalServer, QuietHandler
from lookout.stack.procs import free_port


class Echo(QuietHandler):
    def do_GET(self) -> None:
        self.send_json(418, {"path": self.path}, headers={"X-Fake": "yes"})


def test_serves_json_on_a_free_loopback_port_and_stops():
    with LocalServer(Echo) as srv:
        assert srv.url == f"http://127.0.0.1:{srv.port}" and srv.port > 0
        r = requests.get(srv.url + "/x?y=1", timeout=5)
        assert (r.status_code, r.json(), r.headers["X-Fake"]) == (418, {"path": "/x?y=1"}, "yes")
        assert r.headers["Content-Type"] == "application/json"
    with pytest.raises(requests.ConnectionError):
        requests.get(srv.url, timeout=1)


def test_stop_without_start_returns():
    LocalServer(Echo).stop()  # shutdown() alone would wait forever for a loop that never ran


def test_a_taken_port_is_named_in_the_error():
    with LocalServer(Echo) as srv, pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{srv.port}: "):
        LocalServer(Echo, port=srv.port)


def test_free_ports_are_distinct_and_below_the_ephemeral_range():
    """Outgoing connections take their local ports from the ephemeral range: a port chosen there could be taken
    before the server binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(100)]
    assert len(set(ports)) == 100 and all(p < low for p in ports)
