"""The worker pools' TCP sockets, per network namespace: listen queues and the connections workers hold.

Reads: in the exporter's own network namespace, NETLINK_SOCK_DIAG (``_sockdiag``: fast, and it has the
backlog limit); in another one, ``/proc/<pid>/net/tcp{,6}`` of a process living there (no limit: netlink
cannot reach that namespace). Only the pools' ports are kept.
Publishes: ``SocketTables`` (one per collector: ``namespace(pid)``, ``read(pid, namespace)``) and the
``Sockets`` it returns.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from exporters.collectors import _sockdiag
from exporters.collectors._procfs import TCP_ESTABLISHED, TCP_LISTEN, ProcReader


@dataclass
class Sockets:
    """TCP sockets on the pools' ports in one network namespace."""

    listen: dict[int, list[tuple[int, int | None]]] = field(default_factory=dict)  # port -> (queue, limit)
    established: dict[int, set[int]] = field(default_factory=dict)  # port -> inodes held by a process


class SocketTables:
    def __init__(self, proc: ProcReader, ports: set[int], note: Callable[[str, str], None]):
        self.proc, self.ports, self.note = proc, ports, note
        try:
            self.own_netns = os.readlink("/proc/self/ns/net")
        except OSError:
            self.own_netns = ""

    def namespace(self, pid: int) -> str:
        try:
            return self.proc.netns(pid)
        except OSError:
            return f"pid:{pid}"

    def read(self, pid: int, namespace: str) -> Sockets:
        if namespace == self.own_netns:
            try:
                return _diag_view(self.ports)
            except OSError as exc:
                self.note("sock_diag", f"sock_diag unavailable ({exc}): reading /proc/<pid>/net/tcp, no listen "
                          "queue limit")
        return _procfs_view(self.proc, pid, self.ports)


def _diag_view(ports: set[int]) -> Sockets:
    """The listeners first (a cheap dump), then the connections only in the families of those listeners: an
    accepted connection has its listener's family, and each family's ESTABLISHED dump walks the kernel's whole
    connection hash table, so IPv4-only pools skip the IPv6 walk (and pools not listening skip both)."""
    view = Sockets()
    wanted = sorted(ports)
    try:
        listen = _sockdiag.dump(1 << _sockdiag.TCP_LISTEN, ports=wanted)
        families = tuple(sorted({s.family for s in listen if s.port in ports}))
        found = listen + (_sockdiag.dump(1 << _sockdiag.TCP_ESTABLISHED, ports=wanted, families=families)
                          if families else [])
    except OSError:  # a kernel refusing the port filter: every socket, filtered here
        found = _sockdiag.dump((1 << _sockdiag.TCP_LISTEN) | (1 << _sockdiag.TCP_ESTABLISHED))
    for s in found:
        if s.port not in ports:
            continue
        if s.state == _sockdiag.TCP_LISTEN:
            view.listen.setdefault(s.port, []).append((s.queue, s.limit))
        elif s.inode:
            view.established.setdefault(s.port, set()).add(s.inode)
    return view


def _procfs_view(proc: ProcReader, pid: int, ports: set[int]) -> Sockets:
    view = Sockets()
    for r in proc.net_tcp(pid, ports):
        if r.state == TCP_LISTEN:
            view.listen.setdefault(r.local_port, []).append((r.rx_queue, None))
        elif r.state == TCP_ESTABLISHED and r.inode:
            view.established.setdefault(r.local_port, set()).add(r.inode)
    return view
