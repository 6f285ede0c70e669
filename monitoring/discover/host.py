"""One read-only snapshot of the host's processes for ``lookout discover``.

Reads (procfs, through ``lookout.exporters.collectors._procfs``): ``stat`` and ``cmdline`` of every process,
``cgroup`` (the systemd unit), ``cwd``, ``exe`` and ``environ`` of the few processes discover looks at
(each only when readable: another user's process is simply less described), ``fd`` links and
``net/tcp{,6}`` for the listening TCP sockets a process holds; ``/proc/meminfo`` and the root file system's
size for the host entry.
Publishes: ``Host`` (``procs``, ``children``, ``listening(pid)``, ``unit(pid)``, ``cwd(pid)``, ``env(pid)``,
``exe(pid)``) and ``Listen`` (port and address of one LISTEN socket). Never writes anything.
"""

from __future__ import annotations

import os
import re
import socket
import struct
from dataclasses import dataclass, field

from lookout.exporters.collectors._procfs import TCP_ESTABLISHED, TCP_LISTEN, ProcReader, ProcStat, _read

MAX_ARGS_BYTES = 16384  # a command line longer than this is cut (and still matched on its beginning)


@dataclass(frozen=True, order=True)
class Listen:
    port: int
    address: str  # "127.0.0.1", "0.0.0.0", "::", "::1"...

    @property
    def loopback_reachable(self) -> bool:
        """Whether a probe to 127.0.0.1 (or ::1) reaches it: bound to loopback or to every address."""
        return self.address in ("0.0.0.0", "::", "127.0.0.1", "::1") or self.address.startswith("127.")


def _addr(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc/net/tcp6 prints the address as four host-order 32-bit words
    words = struct.unpack("<4I", raw)
    addr = socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))
    return addr.removeprefix("::ffff:") if addr.startswith("::ffff:") and "." in addr else addr


def parse_listen(text: str) -> dict[int, Listen]:
    """LISTEN rows of ``/proc/net/tcp`` or ``tcp6`` by socket inode."""
    out: dict[int, Listen] = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or int(f[3], 16) != TCP_LISTEN:
            continue
        addr, _, port = f[1].rpartition(":")
        out[int(f[9])] = Listen(int(port, 16), _addr(addr))
    return out


def parse_connected(text: str) -> dict[int, tuple[str, int]]:
    """ESTABLISHED rows of ``/proc/net/tcp`` or ``tcp6``: socket inode -> (remote address, remote port)."""
    out: dict[int, tuple[str, int]] = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or int(f[3], 16) != TCP_ESTABLISHED:
            continue
        addr, _, port = f[2].rpartition(":")
        out[int(f[9])] = (_addr(addr), int(port, 16))
    return out


def unit_of(cgroup_text: str) -> str | None:
    """The systemd service of a process from ``/proc/<pid>/cgroup`` (v2 ``0::/system.slice/x.service``, or
    the v1 ``name=systemd`` line); None for a login session, a user's shell or a container."""
    for line in cgroup_text.splitlines():
        _id, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if controllers not in ("", "name=systemd"):
            continue
        for part in reversed(path.split("/")):
            if part.endswith(".service") and not part.startswith("user@"):
                return part
    return None


@dataclass
class Host:
    """The process table at one instant, with lazily read per-process details."""

    root: str = "/proc"
    procs: dict[int, ProcStat] = field(default_factory=dict)
    args: dict[int, list[str]] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=dict)
    _listen: dict[int, Listen] | None = None
    _connected: dict[int, tuple[str, int]] | None = None

    @classmethod
    def scan(cls, root: str = "/proc") -> Host:
        reader = ProcReader(root)
        h = cls(root=reader.root)
        h.procs = {pid: st for pid, st in reader.scan().items() if st.alive}
        for pid, st in sorted(h.procs.items()):
            try:
                h.args[pid] = reader.cmdline(pid)[:256]
            except OSError:
                h.args[pid] = []
            h.children.setdefault(st.ppid, []).append(pid)
        h.reader = reader  # type: ignore[attr-defined]
        return h

    def joined(self, pid: int) -> str:
        return " ".join(self.args.get(pid, []))[:MAX_ARGS_BYTES]

    def descendants(self, pid: int) -> set[int]:
        out, todo = set(), [pid]
        while todo:
            for c in self.children.get(todo.pop(), []):
                if c not in out:
                    out.add(c)
                    todo.append(c)
        return out

    def _text(self, pid: int, name: str) -> str | None:
        try:
            return _read(f"{self.root}/{pid}/{name}").decode(errors="replace")
        except OSError:
            return None

    def unit(self, pid: int) -> str | None:
        text = self._text(pid, "cgroup")
        return unit_of(text) if text else None

    def cwd(self, pid: int) -> str | None:
        try:
            return os.readlink(f"{self.root}/{pid}/cwd")
        except OSError:
            return None

    def exe(self, pid: int) -> str | None:
        try:
            return os.readlink(f"{self.root}/{pid}/exe").removesuffix(" (deleted)")
        except OSError:
            return None

    def env(self, pid: int) -> dict[str, str] | None:
        """The process' environment, or None when unreadable. Holds secrets: never printed."""
        try:
            return ProcReader(self.root).environ(pid)
        except OSError:
            return None

    def env_or_neighbour(self, pid: int) -> tuple[dict[str, str] | None, int | None]:
        """The environment of ``pid``, or, when it reads empty (setproctitle writes the process title over
        the environment's memory), that of the first process with the same working directory and a readable
        environment; and the pid it came from."""
        env = self.env(pid)
        if env:
            return env, pid
        cwd, owner = self.cwd(pid), self.owner(pid)
        if cwd is None or cwd == "/":
            return env, None
        found: list[tuple[bool, int, dict[str, str]]] = []
        for other in sorted(self.procs):
            if other != pid and self.cwd(other) == cwd and self.owner(other) == owner:
                o = self.env(other)
                if o:
                    # an app's neighbour (its URLs in it) before a shell opened in the same directory
                    urls = any("://" in v for v in o.values())
                    found.append((not urls, other, o))
        if not found:
            return env, None
        _, other, o = min(found, key=lambda x: (x[0], x[1]))
        return o, other

    def owner(self, pid: int) -> tuple[int, int] | None:
        """(uid, gid) the process runs as, from ``status``."""
        text = self._text(pid, "status") or ""
        uid = re.search(r"^Uid:\s+(\d+)", text, re.M)
        gid = re.search(r"^Gid:\s+(\d+)", text, re.M)
        return (int(uid.group(1)), int(gid.group(1))) if uid and gid else None

    def python_of(self, pid: int) -> str | None:
        """The Python interpreter ``pid`` runs, with its virtualenv: the command line's first word when it is
        a python, else the prefix of the ``site-packages`` it mapped (a title hides the command line), else
        its executable. None when it is no Python."""
        args = self.args.get(pid, [])
        if args and args[0].startswith("/") and os.path.basename(args[0]).startswith("python") \
                and os.path.exists(args[0]):
            return args[0]
        text = self._text(pid, "maps") or ""
        m = re.search(r"(/\S+?)/lib/python3[0-9.]*/site-packages/", text)
        if m:
            for name in ("python", "python3"):
                cand = f"{m.group(1)}/bin/{name}"
                if os.path.exists(cand):
                    return cand
        exe = self.exe(pid)
        return exe if exe and os.path.basename(exe).startswith("python") else None

    def unix_listening(self, pid: int) -> list[str]:
        """Paths of the listening Unix sockets ``pid`` holds (a Gunicorn control socket: ``*.ctl`` first)."""
        reader = ProcReader(self.root)
        try:
            inodes = reader.socket_inodes(pid)
            held = [u.path for u in reader.net_unix(pid) if u.listening and u.inode in inodes]
        except OSError:
            return []
        return sorted(held, key=lambda p: (not p.endswith(".ctl"), p))

    def _tables(self) -> None:
        """The socket tables of PID 1's network namespace (discover's own, on a host; one namespace is read)."""
        self._listen, self._connected = {}, {}
        for name in ("tcp", "tcp6"):
            text = self._text(1, f"net/{name}") or self._text(os.getpid(), f"net/{name}")
            if text:
                self._listen.update(parse_listen(text))
                self._connected.update(parse_connected(text))

    def _inodes(self, pid: int) -> set[int]:
        try:
            return ProcReader(self.root).socket_inodes(pid)
        except OSError:
            return set()

    def listening(self, pid: int) -> list[Listen]:
        """TCP sockets ``pid`` holds in LISTEN state (sorted; empty when its fds are unreadable)."""
        if self._listen is None:
            self._tables()
        assert self._listen is not None
        return sorted({self._listen[i] for i in self._inodes(pid) if i in self._listen})

    def connected(self, pid: int) -> list[tuple[str, int]]:
        """(remote address, port) of the TCP connections ``pid`` holds (a Celery worker's broker)."""
        if self._connected is None:
            self._tables()
        assert self._connected is not None
        return sorted({self._connected[i] for i in self._inodes(pid) if i in self._connected})


def memory_text(root: str = "/proc") -> str:
    """Memory size as the site writes it (``4GiB``), rounded to the nearest GiB (at least 1)."""
    try:
        for line in _read(f"{root}/meminfo").decode().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{max(1, round(kib / 2**20))}GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "4GiB"


def disk_text(path: str = "/") -> str:
    try:
        st = os.statvfs(path)
    except OSError:
        return "20GB"
    return f"{max(1, round(st.f_blocks * st.f_frsize / 10**9))}GB"
