"""What a Gunicorn master tells about itself beyond the process table: its control socket and dirty arbiters.

Reads: the master's control socket (Gunicorn >= 25, ``show stats``: ``pid``, ``workers_target``,
``dirty_arbiter_pid``), found at the path its command line or environment names, else among the listening
Unix sockets the master holds (with setproctitle both are gone from /proc), ``*.ctl`` first, reached through
``/proc/<pid>/root`` when the master lives in another mount namespace; the dirty arbiters' PID files
(``$TMPDIR/gunicorn-dirty-NAME.pid``) when the control socket does not answer.
Publishes: ``GunicornMaster`` (one per master process: ``stats(now)``, ``dirty_pids(now)``) and ``query_stats``.
"""

from __future__ import annotations

import glob
import json
import os
import socket
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lookout.exporters.collectors._servers import Master

RETRY_SECONDS = 30.0  # after a failure: a stopped or busy master times out, do not ask every refresh
REFRESH_SECONDS = 30.0  # workers_target and the dirty arbiter's pid change rarely: ask this often


class GunicornMaster:
    """The control socket and PID files of one master process, read at most every 30 seconds."""

    def __init__(self, master: Master, path: str | None):
        self.master = master
        self.path = path  # where the socket should be (command line, environment), then where it answered
        self.last_stats: dict | None = None
        self.retry_at = 0.0  # next query; sooner after a failure than after a success
        self._dirty: tuple[float, set[int]] | None = None

    def stats(self, now: float) -> dict | None:
        """The last ``show stats`` answer of this master (a master that answered before keeps it while
        it does not answer), or None."""
        if now < self.retry_at:
            return self.last_stats
        m = self.master
        error = "not found"
        for path in self._candidates():
            for where in (m.proc.path_in(m.pid, path), path):
                try:
                    stats = query_stats(where)
                except (OSError, ValueError) as exc:
                    error = f"{path}: {exc}"
                    continue
                if stats.get("pid") == m.pid:
                    self.path, self.last_stats, self.retry_at = path, stats, now + REFRESH_SECONDS
                    return stats
                error = f"{path} belongs to pid {stats.get('pid')}"
        self.retry_at = now + RETRY_SECONDS
        m.note(f"ctl:{m.pid}", f"gunicorn pid {m.pid}: control socket not usable ({error})")
        return self.last_stats

    def _candidates(self) -> list[str]:
        m = self.master
        try:
            inodes = m.proc.socket_inodes(m.pid)
            held = [u.path for u in m.proc.net_unix(m.pid) if u.listening and u.inode in inodes]
        except OSError:
            held = []
        held.sort(key=lambda p: not p.endswith(".ctl"))
        return list(dict.fromkeys([self.path, *held] if self.path else held))

    def dirty_pids(self, now: float) -> set[int]:
        """Dirty arbiter PIDs from Gunicorn's PID files."""
        if self._dirty and now - self._dirty[0] < RETRY_SECONDS:
            return self._dirty[1]
        m = self.master
        tmp = (m.environ() or {}).get("TMPDIR") or "/tmp"
        pids: set[int] = set()
        for path in glob.glob(m.proc.path_in(m.pid, os.path.join(tmp, "gunicorn-dirty-*.pid"))):
            try:
                with open(path) as f:
                    pids.add(int(f.read().strip()))
            except (OSError, ValueError):
                continue
        self._dirty = (now, pids)
        return pids


def query_stats(path: str, timeout: float = 0.3) -> dict:
    """``show stats`` over the control socket: ``pid``, ``workers_target``, ``dirty_arbiter_pid``...

    The path is opened with O_PATH and connected through ``/proc/self/fd/N`` so that paths
    longer than a sockaddr_un (``/proc/<pid>/root/...``) work.
    """
    fd = os.open(path, os.O_PATH)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(f"/proc/self/fd/{fd}")
            payload = json.dumps({"id": 1, "command": "show stats", "args": []}).encode()
            s.sendall(struct.pack(">I", len(payload)) + payload)
            head = _recv_exact(s, 4)
            (length,) = struct.unpack(">I", head)
            if length > 1 << 20:
                raise ValueError("control socket reply too large")
            reply = json.loads(_recv_exact(s, length))
    finally:
        os.close(fd)
    if reply.get("status") != "ok" or not isinstance(reply.get("data"), dict):
        raise ValueError(f"control socket error: {reply.get('error')}")
    return reply["data"]


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("control socket closed")
        buf += chunk
    return buf
