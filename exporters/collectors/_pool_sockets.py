"""The worker pools' TCP sockets, per network namespace: listen queues and the connections workers hold.

Reads: in the exporter's own network namespace, NETLINK_SOCK_DIAG (``_sockdiag``: fast, and it has the
backlog limit); in another one, ``/proc/<pid>/net/tcp{,6}`` of a process living there (no limit: netlink
cannot reach that namespace). Only the pools' ports are kept.
Publishes: ``SocketTables`` (one per collector: ``namespace(pid)``, ``read(pid, namespace)`` for the
listeners, ``connections(view)`` for the ESTABLISHED connections) and the ``Sockets`` they fill.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from lookout.exporters.collectors import _sockdiag
from lookout.exporters.collectors._procfs import TCP_ESTABLISHED, TCP_LISTEN, ProcReader


@dataclass
class Sockets:
    """TCP sockets on the pools' ports in one network namespace."""

    pid: int  # a process living in that namespace
    namespace: str
    listen: dict[int, list[tuple[int, int | None]]] = field(default_factory=dict)  # port -> (queue, limit)
    listen_inodes: set[int] = field(default_factory=set)
    families: tuple[int, ...] = ()  # address families of the listeners
    # port -> inodes of ESTABLISHED connections; None until asked for (``SocketTables.connections``)
    established: dict[int, set[int]] | None = None


class SocketTables:
    """Reads the listeners cheaply, and the connections only when asked: in our own namespace the connection
    dump walks the kernel's whole connection hash table (~3 ms per address family on a 24 GiB host, whatever
    the filter), so callers ask for it only when a worker holds a socket they cannot tell apart otherwise."""

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
        """The listeners (and, where they come from the same read, the connections)."""
        view = Sockets(pid, namespace)
        if namespace == self.own_netns:
            try:
                self._diag_listen(view)
                return view
            except OSError as exc:
                self.note("sock_diag", f"sock_diag unavailable ({exc}): reading /proc/<pid>/net/tcp, no listen "
                          "queue limit")
        self._procfs(view)
        return view

    def connections(self, view: Sockets) -> dict[int, set[int]]:
        """The ESTABLISHED connections on the pools' ports, read once per ``view``."""
        if view.established is None:
            view.established = {}
            if view.families:
                try:
                    found = _sockdiag.dump(1 << _sockdiag.TCP_ESTABLISHED, ports=sorted(self.ports),
                                           families=view.families)
                except OSError:  # a kernel refusing the port filter: every socket, filtered here
                    found = _sockdiag.dump(1 << _sockdiag.TCP_ESTABLISHED)
                self._add(view, found)
        return view.established

    def _diag_listen(self, view: Sockets) -> None:
        """An accepted connection has its listener's family: the families of the listeners are the only ones
        whose connections are dumped later (IPv4-only pools skip the IPv6 walk, pools not listening both)."""
        try:
            found = _sockdiag.dump(1 << _sockdiag.TCP_LISTEN, ports=sorted(self.ports))
        except OSError:  # a kernel refusing the port filter: every socket, filtered here
            found = _sockdiag.dump((1 << _sockdiag.TCP_LISTEN) | (1 << _sockdiag.TCP_ESTABLISHED))
            view.established = {}
        view.families = tuple(sorted({s.family for s in found if s.port in self.ports}))
        self._add(view, found)

    def _add(self, view: Sockets, found: list[_sockdiag.DiagSocket]) -> None:
        for s in found:
            if s.port not in self.ports:
                continue
            if s.state == _sockdiag.TCP_LISTEN:
                view.listen.setdefault(s.port, []).append((s.queue, s.limit))
                view.listen_inodes.add(s.inode)
            elif s.inode and view.established is not None:
                view.established.setdefault(s.port, set()).add(s.inode)

    def _procfs(self, view: Sockets) -> None:
        view.established = {}
        for r in self.proc.net_tcp(view.pid, self.ports):
            if r.state == TCP_LISTEN:
                view.listen.setdefault(r.local_port, []).append((r.rx_queue, None))
                view.listen_inodes.add(r.inode)
            elif r.state == TCP_ESTABLISHED and r.inode:
                view.established.setdefault(r.local_port, set()).add(r.inode)
