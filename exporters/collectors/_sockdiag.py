"""TCP sockets through NETLINK_SOCK_DIAG (inet_diag): accept-queue length and limit, connections.

Reads: a netlink dump of LISTEN and ESTABLISHED TCP sockets (``ss -t`` asks the kernel the same
way) in the network namespace of the calling process, optionally only those on given local ports
(an inet_diag bytecode filter, as ``ss 'sport = :P'`` sends). For a LISTEN socket the kernel reports
``rqueue`` = connections waiting to be accepted and ``wqueue`` = the backlog limit
(``min(listen(backlog), somaxconn)``); ``/proc/net/tcp`` carries only the first, and reading it
costs ~35 ms per 1,000 sockets against ~1 ms for this dump.
Publishes: ``build_request`` and ``parse_dump`` (pure, tested on fixture bytes), ``dump()`` and
``listen_sockets()`` -> ``{inode: DiagSocket}``.

No privilege is needed. Sockets of another network namespace are not visible: callers match
sockets by inode, so a socket from another namespace simply is not found.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_ESTABLISHED = 1
TCP_LISTEN = 10

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
# inet_diag_req_v2: family, protocol, ext, pad, states, then inet_diag_sockid (48 bytes)
_REQ = struct.Struct("=BBBxI48x")
# inet_diag_msg: family, state, timer, retrans, sockid(sport, dport big-endian + 44 bytes),
# expires, rqueue, wqueue, uid, inode
_MSG = struct.Struct("=BBBBHH44xIIIII")  # ports are in network byte order: ntohs


@dataclass(frozen=True)
class DiagSocket:
    family: int
    state: int
    port: int
    queue: int
    limit: int
    inode: int


INET_DIAG_REQ_BYTECODE = 1
_BC_JMP, _BC_S_GE, _BC_S_LE = 1, 2, 3
_OP = struct.Struct("=BBH")  # inet_diag_bc_op: code, yes, no (byte offsets to jump by)


def port_filter(ports: list[int]) -> bytes:
    """inet_diag bytecode accepting sockets whose local port is one of ``ports``, so the kernel sends only
    those (the dump's cost then follows the pools' sockets, not the host's). Per port a block of 20 bytes:
    ``sport >= P`` and ``sport <= P`` (each failure jumps to the next block, or past the end: reject),
    then a jump to the end (accept). The kernel's audit follows the ``yes`` chain, which is linear here."""
    out = b""
    total = 20 * len(ports)
    for i, port in enumerate(ports):
        last = i == len(ports) - 1
        left = total - 20 * i  # bytes from this block's start to the end
        out += _OP.pack(_BC_S_GE, 8, 24 if last else 20) + _OP.pack(0, 0, port)
        out += _OP.pack(_BC_S_LE, 8, 16 if last else 12) + _OP.pack(0, 0, port)
        out += _OP.pack(_BC_JMP, 4, left - 16)
    return out


def build_request(family: int, seq: int = 1, states: int = 1 << TCP_LISTEN, ports: list[int] | None = None) -> bytes:
    body = _REQ.pack(family, socket.IPPROTO_TCP, 0, states)
    if ports:
        bc = port_filter(ports)
        body += struct.pack("=HH", 4 + len(bc), INET_DIAG_REQ_BYTECODE) + bc
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def parse_dump(data: bytes) -> tuple[list[DiagSocket], bool]:
    """Parse netlink messages; return the sockets found and whether the dump is complete."""
    out: list[DiagSocket] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, mtype, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            raise ValueError(f"bad netlink message length {length}")
        body = offset + _NLMSGHDR.size
        if mtype == NLMSG_DONE:
            return out, True
        if mtype == NLMSG_ERROR:
            (err,) = struct.unpack_from("=i", data, body)
            raise OSError(-err, f"sock_diag: {os.strerror(-err)}")
        if mtype == SOCK_DIAG_BY_FAMILY and body + _MSG.size <= len(data):
            family, state, _t, _r, sport, _dport, _exp, rqueue, wqueue, _uid, inode = _MSG.unpack_from(data, body)
            out.append(DiagSocket(family, state, socket.ntohs(sport), rqueue, wqueue, inode))
        offset += (length + 3) & ~3
    return out, False


def dump(states: int = 1 << TCP_LISTEN, timeout: float = 1.0, ports: list[int] | None = None,
         families: tuple[int, ...] = (socket.AF_INET, socket.AF_INET6)) -> list[DiagSocket]:
    """TCP sockets in ``states`` (a bit mask) of this network namespace, IPv4 and IPv6 (or ``families``); with
    ``ports``, only those whose local port is one of them (filtered by the kernel; callers still check the port).
    Each family is one walk of the kernel's whole socket hash table for ESTABLISHED (thousands of buckets,
    whatever the filter), so callers ask only for the families they need."""
    out: list[DiagSocket] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(timeout)
        for seq, family in enumerate(families, start=1):
            nl.send(build_request(family, seq, states, ports))
            done = False
            while not done:
                rows, done = parse_dump(nl.recv(1 << 20))
                out.extend(rows)
    return out


def listen_sockets(timeout: float = 1.0) -> dict[int, DiagSocket]:
    """Every LISTEN TCP socket of this network namespace, by inode."""
    return {s.inode: s for s in dump(1 << TCP_LISTEN, timeout)}
