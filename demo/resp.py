"""A minimal Redis client (RESP2 over one TCP socket) for the fault switches.

Why not redis-py: importing it costs about 7 MB per process, and the demo's Gunicorn and Uvicorn workers and
its supervisor only ever run HGETALL, HSET and HDEL on one key. Celery keeps using redis-py as its broker
client. Supports ``redis://[[user]:password@]host[:port][/db]``; reconnects on the next call after an error.
"""

from __future__ import annotations

import socket
from urllib.parse import unquote, urlsplit


class RespError(Exception):
    """An error reply from Redis, or a URL this client does not support."""


class Resp:
    def __init__(self, url: str, timeout: float = 1.0):
        u = urlsplit(url)
        if u.scheme != "redis":
            raise RespError(f"unsupported Redis URL scheme {u.scheme!r} (use redis://)")
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 6379
        self.username = unquote(u.username) if u.username else None
        self.password = unquote(u.password) if u.password else None
        self.db = int(u.path.strip("/") or 0)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._file = None

    def _connect(self) -> None:
        self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self._file = self._sock.makefile("rb")
        if self.password:
            self._roundtrip(*(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)))
        if self.db:
            self._roundtrip("SELECT", str(self.db))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = self._file = None

    def _roundtrip(self, *args: str | bytes) -> object:
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            parts += [f"${len(b)}\r\n".encode(), b, b"\r\n"]
        assert self._sock is not None
        self._sock.sendall(b"".join(parts))
        return self._read()

    def _read(self) -> object:
        assert self._file is not None
        line = self._file.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed by Redis")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self._file.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise ConnectionError(f"unexpected reply {line[:20]!r}")

    def call(self, *args: str | bytes) -> object:
        try:
            if self._sock is None:
                self._connect()
            return self._roundtrip(*args)
        except OSError:
            self.close()
            raise
