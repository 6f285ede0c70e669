"""Hostile HTTP clients for the exporter's server: slow (one header byte at a time) and half-open
(connected, silent) loopback connections, kept open and reopened when the server closes them, while
well-behaved scrapes are timed. Used by tests/test_server.py and bench/bench_server.py.

The hostile clients run in a child process (``python -m tests.support.slowclients PORT N``): in the scrapers'
own process their reopening loop held the GIL, so a scrape's request left up to 66 ms after its connect on a
busy machine, which no real scraper does, and the test measured the GIL rather than the server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests


@dataclass
class Figures:
    scrapes: int = 0
    ok: int = 0
    latencies: list[float] = field(default_factory=list)
    reconnects: int = 0  # hostile connections the server closed (and we reopened)
    connect_failures: int = 0
    failures: list[str] = field(default_factory=list)  # what the failed scrapes saw

    def p(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    def summary(self) -> str:
        med = statistics.median(self.latencies) if self.latencies else float("nan")
        return (f"{self.ok}/{self.scrapes} scrapes ok, p50 {med * 1000:.1f} ms, p99 {self.p(0.99) * 1000:.1f} ms, "
                f"max {max(self.latencies, default=float('nan')) * 1000:.1f} ms; hostile connections closed by "
                f"the server {self.reconnects}, connect failures {self.connect_failures}"
                + (f"; failures: {self.failures[:3]}" if self.failures else ""))


class Attackers:
    """``n`` hostile connections to ``port``: even ones slow, odd ones half-open."""

    def __init__(self, port: int, n: int, figures: Figures):
        self.port, self.n, self.fig = port, n, figures
        self.socks: list[socket.socket | None] = [None] * n
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _open(self, i: int) -> None:
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", self.port))
            if i % 2 == 0:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
            self.socks[i] = s
        except OSError:
            self.fig.connect_failures += 1
            s.close()
            self.socks[i] = None

    def _alive(self, i: int, s: socket.socket) -> bool:
        try:
            if s.recv(4096) == b"":
                return False
        except BlockingIOError:
            pass
        except OSError:
            return False
        if i % 2 == 0:
            try:
                s.send(b"X")  # one more byte of an endless header
            except BlockingIOError:
                pass
            except OSError:
                return False
        return True

    def open_all(self) -> None:
        for i in range(self.n):
            self._open(i)

    def _loop(self) -> None:
        while not self.stop.wait(0.5):
            for i in range(self.n):
                s = self.socks[i]
                if s is not None and self._alive(i, s):
                    continue
                if s is not None:
                    s.close()
                    self.fig.reconnects += 1
                if self.stop.is_set():
                    return
                self._open(i)

    def __enter__(self) -> Attackers:
        self.open_all()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        for i, s in enumerate(self.socks):
            if s is None:
                continue
            if i % 4 == 1:  # some leave with a reset rather than a FIN
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()


def _attack_in_child(port: int, n: int) -> None:
    """The child's side: open ``n`` hostile connections, say ``ready``, keep them up until stdin closes, then
    print the counters as one JSON line."""
    fig = Figures()
    with Attackers(port, n, fig):
        print("ready", flush=True)
        sys.stdin.read()
    print(json.dumps({"reconnects": fig.reconnects, "connect_failures": fig.connect_failures}), flush=True)


def scrape_under_attack(url: str, port: int, hostile: int, scrapes: int, timeout: float = 10.0,
                        pause: float = 0.01) -> Figures:
    """``scrapes`` sequential GET /metrics (new connection each) while ``hostile`` clients hold on."""
    fig = Figures()
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen([sys.executable, "-m", "tests.support.slowclients", str(port), str(hostile)],
                             cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"hostile clients did not start (exit {child.poll()})")
        for _ in range(scrapes):
            fig.scrapes += 1
            t0 = time.monotonic()
            try:
                r = requests.get(url + "/metrics", timeout=timeout, headers={"Connection": "close"})
                if r.status_code == 200 and "lookout_exporter_build_info" in r.text:
                    fig.ok += 1
                    fig.latencies.append(time.monotonic() - t0)
                else:
                    fig.failures.append(f"HTTP {r.status_code}")
            except requests.RequestException as exc:
                fig.failures.append(f"{type(exc).__name__}: {exc}"[:200])
            time.sleep(pause)  # the attack goes on meanwhile: closed connections are reopened
        out, _ = child.communicate("", timeout=30)
        counts = json.loads(out.strip().splitlines()[-1])
        fig.reconnects, fig.connect_failures = counts["reconnects"], counts["connect_failures"]
    finally:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)  # our own child's group, nothing else
            child.wait(10)
    return fig


if __name__ == "__main__":
    _attack_in_child(int(sys.argv[1]), int(sys.argv[2]))
