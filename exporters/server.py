"""HTTP endpoint: ``/metrics`` (prometheus_client's exposition: text or OpenMetrics as the scraper
asks, gzip when accepted) and ``/healthz`` (JSON: 200 while the process runs, each collector's state,
redacted), served by waitress.

Reads: the ``Runtime``'s snapshots only, never a source, so a scrape takes milliseconds.

Why waitress and what is bounded (docs/security.md, "HTTP server"): one event loop owns every socket,
a small fixed pool of threads renders responses, and no client can hold the server:

- open connections are capped below the process's descriptor limit (``RLIMIT_NOFILE``); when the cap
  is reached, the oldest connection that has not sent a complete request (counting bytes that arrived
  but are not read yet) is closed to make room, so a well-behaved scraper always gets in however many
  slow or half-open clients are connected; a connection is never closed this way in the first
  ``EVICTION_GRACE`` seconds after its TCP handshake (time spent in the listen backlog counts: on Linux
  the kernel tells how long ago the handshake completed); when all are that young, new ones wait in the
  backlog until the oldest is not;
- a connection idle for ``CHANNEL_TIMEOUT`` seconds is closed; request headers are capped in size;
- the listen backlog is ``BACKLOG``; clients that disconnect mid-request are dropped without a log line.
"""

from __future__ import annotations

import json
import logging
import resource
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.process_collector import ProcessCollector
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.server import TcpWSGIServer

from lookout.exporters import secrets
from lookout.exporters.runtime import Runtime

log = logging.getLogger("lookout.exporters.server")

MAX_CONNECTIONS = 100  # an exporter has two Prometheus servers and a few curious people as clients
RESERVED_FDS = 64  # descriptors kept for collectors (database and HTTP clients, Docker, log files)
CHANNEL_TIMEOUT = 30  # seconds without any byte in or out before a connection is closed
BACKLOG = 512
# a new connection is not evicted before it is this old (seconds, from its TCP handshake): a scraper may
# be late with its request after the connect (up to 17 ms seen in the starvation test with an idle CPU,
# its process busy with the attackers), and a flood of newer connections must not push it out meanwhile;
# a burst of more new connections than the cap waits in the backlog up to this long
EVICTION_GRACE = 0.025
THREADS = 4
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024  # the endpoints take GET only

StartResponse = Callable[..., Any]


def make_registry(runtime: Runtime) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(runtime)
    ProcessCollector(registry=registry)
    return registry


def connection_limit(cap: int = MAX_CONNECTIONS) -> int:
    """At most ``cap`` connections, and always fewer than the soft ``RLIMIT_NOFILE`` minus a reserve."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return cap
    reserve = min(RESERVED_FDS, soft // 2)
    return max(4, min(cap, soft - reserve))


def make_app(runtime: Runtime) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    metrics = make_wsgi_app(make_registry(runtime))
    page = (
        b'<html><body><h1>lookout exporter</h1><a href="/metrics">metrics</a> '
        b'<a href="/healthz">healthz</a></body></html>'
    )

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain"), ("Allow", "GET, HEAD")])
            return [b"method not allowed\n"]
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            # last_error is already classified and redacted by the runtime; redact again at the exit
            body = secrets.redact(json.dumps({"status": "ok", "collectors": runtime.health()})).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html")])
            return [page]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


# struct tcp_info (linux/tcp.h, stable ABI): 8 one-byte fields, 9 u32, then tcpi_last_data_sent,
# tcpi_last_ack_sent, tcpi_last_data_recv, tcpi_last_ack_recv (u32 milliseconds ago)
_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform.startswith("linux") else None  # BSDs: other layout
_TCP_INFO_TIMES = struct.Struct("=4I")
_TCP_INFO_TIMES_AT = 44


def connected_at(conn: socket.socket, now: float) -> float:
    """When ``conn``'s TCP handshake completed, for a connection just accepted (``now`` without TCP_INFO).

    The kernel stamps a new connection when the handshake completes and restamps only on traffic, so the
    oldest of its "last data sent" (nothing was sent yet), "last data received" and "last ACK received"
    ages is at most the connection's age: never older than the truth, so never evicted too early.
    """
    if _TCP_INFO is None:
        return now
    try:
        info = conn.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_TIMES_AT + _TCP_INFO_TIMES.size)
        sent, _ack_sent, data_recv, ack_recv = _TCP_INFO_TIMES.unpack_from(info, _TCP_INFO_TIMES_AT)
    except (OSError, struct.error):
        return now
    age_ms = max(sent, data_recv, ack_recv)
    # a value beyond the idle timeout is not a plausible wait in the backlog: trust the accept instead
    return now - age_ms / 1000 if age_ms <= CHANNEL_TIMEOUT * 1000 else now


class _Server(TcpWSGIServer):
    """waitress's TCP server, with eviction instead of refusal when the connection cap is reached.

    waitress stops accepting when full, so idle clients would keep a scraper waiting in the backlog
    until they leave; here the oldest connection without a complete request makes room instead. Several
    pending connections are accepted per turn of the event loop, so a flood of reconnecting clients does
    not queue a scraper behind them one loop turn each.

    Accepting happens after the turn's reads (``accept_pending``, called by the loop's owner), never in
    the middle of the turn: the listening socket comes first in every poll turn, so a scraper whose
    request had arrived but was not read yet looked idle and was evicted (about one scrape in 2,000
    under a reconnecting flood), and reading it there instead would leave the turn a stale "readable"
    flag for it (its own read then fails and closes it). A connection in its first ``EVICTION_GRACE``
    seconds is not evicted either: a burst of more new connections than the cap otherwise pushed out a
    scraper that had connected but whose request was a few milliseconds behind.

    The grace counts from the TCP handshake (``connected_at``), not from the accept: a connection that
    waited in the backlog has had that time to send its request. Counted from the accept, a reconnecting
    flood of three times the cap cost three whole graces of waiting in the backlog per burst (a scrape
    behind it waited 45-65 ms); counted from the handshake, the flood's connections that waited are
    evictable as soon as they are accepted, and a burst costs at most one grace.
    """

    limit = MAX_CONNECTIONS
    accept_batch = 32
    _full_logged = False
    _accept_waiting = False

    def _open(self) -> int:
        """Connections that count against the cap (those being closed do not)."""
        return sum(1 for ch in self.active_channels.values() if not ch.will_close)

    @staticmethod
    def _idle(ch: Any) -> bool:
        return not ch.requests and not ch.total_outbufs_len and not ch.will_close

    def _past_grace_idle(self, ch: Any, now: float) -> bool:
        """Evictable as far as the event loop has read: idle, and connected ``EVICTION_GRACE`` ago."""
        return self._idle(ch) and now - ch.creation_time >= EVICTION_GRACE

    def _take_pending_input(self, ch: Any) -> None:
        """Hand ``ch`` the bytes the kernel already holds for it, as its own read would have.

        A request that arrived during this turn is then parsed (and served) instead of being judged
        absent. Never closes the socket: a client that left is only marked, and closed next turn.
        """
        try:
            data = ch.socket.recv(self.adj.recv_bytes, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            ch.will_close = True
            return
        if not data:  # the client has left
            ch.connected = False
            ch.will_close = True
            return
        ch.last_activity = time.time()
        ch.received(data)

    def _victim(self) -> Any:
        """The oldest connection past its grace still without a complete request once its pending input
        is read; None when every idle connection is younger than ``EVICTION_GRACE``."""
        now = time.time()
        # active_channels is in accept order, which is the backlog's, which is the handshakes' (a dict;
        # a reused descriptor is a new, last key)
        for ch in list(self.active_channels.values()):
            if not self._past_grace_idle(ch, now):
                continue
            self._take_pending_input(ch)
            if self._idle(ch) or ch.will_close:
                return ch
        return None

    def _evictable(self) -> bool:
        now = time.time()
        return any(self._past_grace_idle(ch, now) for ch in self.active_channels.values())

    def poll_timeout(self) -> float:
        """How long the event loop may sleep: while full and every idle connection is in its grace, until
        the first grace ends (that connection then makes room for what waits in the backlog); otherwise a
        new connection or a request wakes the loop, and the timeout only paces ``maintenance``."""
        if self._open() < self.limit:
            return 1.0
        now = time.time()
        first_end = min((ch.creation_time + EVICTION_GRACE - now for ch in self.active_channels.values()
                         if self._idle(ch)), default=0.0)
        return min(EVICTION_GRACE, max(0.001, first_end)) if first_end > 0 else 1.0

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        # full, and every connection is busy with a request or still in its grace: wait in the backlog
        return self._open() < self.limit or self._evictable()

    def handle_accept(self) -> None:
        self._accept_waiting = True  # accepted by accept_pending() once this turn's reads are done

    def accept_pending(self) -> None:
        """Accept what waits in the backlog, evicting the oldest idle connections when full."""
        if not self._accept_waiting:
            return
        self._accept_waiting = False
        open_now = self._open()
        for _ in range(self.accept_batch):
            if open_now >= self.limit:
                victim = self._victim()
                if victim is None:
                    return
                # closed by the event loop on its next turn (writable() is true once will_close is set):
                # until then it keeps its descriptor, so no poll result of this turn can name a new
                # connection that reused that number
                victim.will_close = True
                open_now -= 1
                if not self._full_logged:
                    self._full_logged = True
                    log.warning("connection limit %d reached: closing the oldest idle connections", self.limit)
            try:
                pair = self.accept()
            except OSError:
                return
            if pair is None:  # nothing more pending
                break
            conn, addr = pair
            try:
                self.set_socket_options(conn)
            except OSError:  # the client already left
                conn.close()
                continue
            channel = self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)
            # waitress reads creation_time for nothing else: the grace counts from the handshake
            channel.creation_time = connected_at(conn, channel.creation_time)
            open_now += 1
        if self._full_logged and open_now < self.limit * 3 // 4:
            self._full_logged = False
            log.info("open connections back below the limit (%d)", self.limit)


class MetricsServer:
    def __init__(self, runtime: Runtime, host: str, port: int, max_connections: int = MAX_CONNECTIONS):
        limit = connection_limit(max_connections)
        adj = Adjustments(
            host=host, port=port, threads=THREADS, backlog=BACKLOG, channel_timeout=CHANNEL_TIMEOUT,
            cleanup_interval=min(5, CHANNEL_TIMEOUT), connection_limit=limit + 1,
            max_request_header_size=MAX_HEADER_BYTES, max_request_body_size=MAX_BODY_BYTES,
            log_socket_errors=False, expose_tracebacks=False, ident="lookout-exporter",
            asyncore_use_poll=True,  # select() cannot watch a descriptor above 1023
        )
        self._map: dict[int, Any] = {}
        self.httpd = _Server(make_app(runtime), map=self._map, adj=adj, sockinfo=adj.listen[0])
        self.httpd.limit = limit
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="http-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.effective_port)

    @property
    def limit(self) -> int:
        return self.httpd.limit

    def _serve(self) -> None:
        # one loop turn at a time so that stop() is honoured within a second; every socket is closed
        # by this thread, the only one that touches the map
        while not self._stopping.is_set():
            wasyncore.loop(timeout=self.httpd.poll_timeout(), map=self._map, use_poll=True, count=1)
            self.httpd.accept_pending()
        for obj in list(self._map.values()):
            obj.close()
        self.httpd.task_dispatcher.shutdown(timeout=1)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.pull_trigger()
        self._thread.join(5)
