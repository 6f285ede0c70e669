"""Worker pools of Gunicorn, Uvicorn and Celery: is the master alive, how many workers run, are they busy.

Reads (procfs, see ``_procfs``): on a full scan the ``/proc`` directory and ``stat`` of every process
not already known to be no server's, for all pools at once; between full scans (see below) only ``stat``
of the known masters, of their children (``/proc/<pid>/task/<tid>/children``) and of the workers
already tracked; ``cmdline`` of new and young processes (cached by pid and start time), ``environ`` and
``cwd`` of masters, ``fd`` links of workers of pools with a ``port``; the pools' sockets
(``_pool_sockets``: listeners every refresh, connections only when a worker holds a socket not known
to be something else); Gunicorn's control socket (``_gunicorn_ctl``) for the configured worker count
and the dirty arbiter's PID.
Publishes, labels ``server`` and ``service``: ``lookout_worker_pool_master_up``, ``lookout_worker_pool_masters``,
``lookout_worker_pool_workers``, ``lookout_worker_pool_workers_expected``, ``lookout_worker_pool_workers_busy``,
``lookout_worker_pool_worker_restarts_total``, ``lookout_worker_pool_listen_queue_length`` / ``_limit``, worker
memory (sum and max RSS), ``lookout_worker_pool_workers_cpu_seconds_total`` and the master's RSS and start time.
No PID is ever a label.

How processes are told apart (``_servers`` has the per-server rules): a master is a process whose
command line or title is the server's and whose parent is not a copy of it; its workers are its
children that the server's rule accepts. Without setproctitle, forked workers share the master's
command line: a process once seen as a worker is never taken for a master, so workers orphaned by
a SIGKILLed master do not turn into masters. They still count as workers while they live.

Cost follows the pools, not the host: the whole process table is scanned at the first refresh,
whenever a known master is gone or a pool has none, whenever a child of a master looks like a new
master (a Gunicorn USR2 upgrade), and at least every ``rescan_interval`` (a second master started
beside a live one, or ``match`` made broader, shows up then); every other refresh reads the few
processes of the pools. A full scan reads nothing of an old process whose command line matched no
server (known by pid and ``/proc/<pid>`` inode, which a reused pid does not keep), so it costs one
directory read plus the processes that are new, young or the pools'. Kernels without the ``children``
file get a full scan reading every process every refresh.

Restarts: a worker that exits while its master lives, followed by a new worker under that master,
is one restart (so a shutdown, or scaling down, counts none; max_requests recycling counts).

Busy workers, and the method's limits:

- pools with a ``port``: a worker is busy when it holds an ESTABLISHED connection on that port
  (its fds against the socket table; the kernel's connection table, the costly read, is read only
  when some worker holds a socket that is neither the listener nor one seen before not to be such a
  connection: an idle pool costs no connection read). Exact for sync workers at the refresh instant; for gthread,
  gevent and async workers an idle keep-alive connection also counts; connections still waiting in
  the accept queue belong to no worker and show up in the listen queue instead. Needs the
  worker's ``/proc/<pid>/fd`` (same user, or CAP_SYS_PTRACE); when unreadable, the CPU method is used.
- otherwise (Celery, no port): a worker is busy when it used at least ``busy_cpu_share`` of a CPU
  since the previous refresh. A worker waiting on I/O (an HTTP call to an LLM) looks idle; the
  ``celery`` collector's task metrics are the better signal for Celery. 0 on the first refresh.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Literal

from lookout.exporters.binding import Duration, setting
from lookout.exporters.collector import Collector, CollectorSettings, Snapshot, counter, gauge
from lookout.exporters.collectors import _procfs, _servers
from lookout.exporters.collectors._pool_sockets import Sockets, SocketTables
from lookout.exporters.collectors._procfs import CLK_TCK, ProcReader, ProcStat

log = logging.getLogger("lookout.exporters.worker_pools")

Key = tuple[int, int]  # (pid, start ticks): a process, robust to PID reuse
# a command line is read when a process is first seen and again once it is older than each of
# these ages: titles (setproctitle) and exec'ing wrappers change it shortly after start
REREAD_AGES = (1.0, 10.0)
L = ("server", "service")


@dataclass
class PoolSettings:
    service: str = setting(help="Value of the `service` label.", example="voice-api")
    server: Literal["gunicorn", "uvicorn", "celery"] = setting(help="What runs the pool.")
    match: str | None = setting(
        None,
        help="Text that must appear in the master's command line (or its title with setproctitle, e.g. "
        "`gunicorn: master [app:app]`). Needed when several masters of the same server run on the host.",
    )
    expected_workers: int | None = setting(
        None,
        help="Workers the pool should run. Default: Gunicorn's control socket, then `-w`/`--workers`, "
        "`GUNICORN_CMD_ARGS`, `WEB_CONCURRENCY`; Uvicorn's `--workers`; Celery's `--concurrency`/`-c`. "
        "When none is known `lookout_worker_pool_workers_expected` is not published.",
    )
    port: int | None = setting(
        None, help="Listening TCP port: enables the listen-queue metrics and connection-based busy workers."
    )

    def validate(self) -> None:
        if not self.service.strip():
            raise ValueError("service: must not be empty")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"port: expected 1-65535, got {self.port}")
        if self.expected_workers is not None and self.expected_workers < 0:
            raise ValueError(f"expected_workers: must be >= 0, got {self.expected_workers}")


@dataclass
class WorkerPoolsSettings(CollectorSettings):
    interval: Duration = setting(Duration(5), help="How often the process table is scanned.")
    pools: list[PoolSettings] = setting([], help="The pools to watch, one entry per master.")
    busy_cpu_share: float = setting(
        0.05, help="Without a port, a worker using at least this share of one CPU since the last refresh is busy."
    )
    proc_root: str = setting(
        "/proc", help="Where the host's procfs is: `/proc` with `pid: host`, or a bind mount such as `/host/proc`."
    )
    rescan_interval: Duration = setting(
        Duration(60), help="How often the whole process table is scanned while every pool's master is known "
        "(new masters beside live ones are found then); in between, only the pools' processes are read. A "
        "master gone, or a pool without one, scans the whole table at once."
    )

    def validate(self) -> None:
        if not self.pools:
            raise ValueError("pools: at least one pool is required")
        seen: set[tuple[str, str]] = set()
        for i, p in enumerate(self.pools):
            if (p.server, p.service) in seen:
                raise ValueError(f"pools[{i}]: server {p.server} and service {p.service} already used")
            seen.add((p.server, p.service))
        if not 0 < self.busy_cpu_share <= 1:
            raise ValueError(f"busy_cpu_share: expected a number in (0, 1], got {self.busy_cpu_share}")


@dataclass
class _Worker:
    master: Key
    cpu_ticks: int
    seen_at: float


@dataclass
class _Pool:
    cfg: PoolSettings
    workers: dict[Key, _Worker] = field(default_factory=dict)
    pending_deaths: dict[Key, int] = field(default_factory=dict)
    restarts: int = 0
    dead_cpu_ticks: int = 0
    not_connections: set[int] = field(default_factory=set)  # socket inodes the workers hold that are no connection


class _Scan:
    """One refresh's view of the process table (all of it, or only the pools' processes when ``full``
    is false); socket tables read at most once per network namespace."""

    def __init__(self, now: float, uptime: float, procs: dict[int, ProcStat], full: bool, tables: SocketTables):
        self.now, self.uptime = now, uptime
        self.procs = procs
        self.full = full
        self.children: dict[int, list[ProcStat]] = {}  # filled by the refresh's single pass
        self._tables = tables
        self._sockets: dict[str, Sockets] = {}

    def alive(self, key: Key) -> bool:
        st = self.procs.get(key[0])
        return st is not None and st.key == key and st.alive

    def sockets(self, pid: int) -> Sockets:
        ns = self._tables.namespace(pid)
        if ns not in self._sockets:
            self._sockets[ns] = self._tables.read(pid, ns)
        return self._sockets[ns]


class WorkerPools(Collector[WorkerPoolsSettings]):
    name = "worker_pools"
    Settings = WorkerPoolsSettings
    summary = (
        "Gunicorn, Uvicorn and Celery worker pools from the process table: master alive, live, expected "
        "and busy workers, worker restarts, the listening socket's accept queue, worker memory and CPU. "
        "Reads only the pools' processes between full scans of `/proc` (every minute, or when a master is "
        "gone); works with and without setproctitle and from a container with `pid: host` (see "
        "docs/worker_pools.md)."
    )
    example = """
worker_pools:
  interval: 5s
  pools:
    - service: voice-api
      server: gunicorn
      match: "app:app"
      port: 5002
    - service: chat-api
      server: uvicorn
      expected_workers: 2
      port: 8001
    - service: celery-worker
      server: celery
      match: "worker"
"""
    metrics = (
        gauge("lookout_worker_pool_master_up", "1 if a master (arbiter) process of the pool is alive.", *L),
        gauge("lookout_worker_pool_masters", "Master processes matched (more than 1 during a Gunicorn USR2 upgrade, "
              "or when `match` is too broad).", *L),
        gauge("lookout_worker_pool_workers", "Live worker processes (zombies, dirty arbiters and the multiprocessing "
              "resource tracker excluded; orphans of a dead master included while they live).", *L),
        gauge("lookout_worker_pool_workers_expected", "Workers the pool is configured to run.", *L),
        gauge("lookout_worker_pool_workers_busy", "Workers serving a request now: holding an established connection "
              "on the pool's port, else using CPU (see docs/worker_pools.md).", *L),
        counter("lookout_worker_pool_worker_restarts_total",
                "Workers that died and were replaced under a live master.", *L),
        gauge("lookout_worker_pool_listen_queue_length", "Connections waiting in the listening socket's accept queue.",
              *L),
        gauge("lookout_worker_pool_listen_queue_limit", "Accept queue limit (listen backlog) of the listening socket.",
              *L),
        gauge("lookout_worker_pool_workers_resident_memory_bytes", "Resident memory of all workers (RSS, shared pages "
              "counted once per worker).", *L),
        gauge("lookout_worker_pool_worker_resident_memory_max_bytes", "Resident memory of the largest worker.", *L),
        counter("lookout_worker_pool_workers_cpu_seconds_total", "CPU time (user + system) used by the pool's workers, "
                "including workers that have exited.", *L),
        gauge("lookout_worker_pool_master_resident_memory_bytes", "Resident memory of the master process(es).", *L),
        gauge("lookout_worker_pool_master_start_time_seconds", "Unix time the (oldest) master process started.", *L),
    )

    def __init__(self, settings: WorkerPoolsSettings):
        super().__init__(settings)
        self.proc = ProcReader(settings.proc_root)
        self.pools = [_Pool(p) for p in settings.pools]
        self.kinds = sorted({p.server for p in settings.pools})
        self._tables = SocketTables(self.proc, {p.port for p in settings.pools if p.port is not None}, self.note)
        self._args: dict[Key, tuple[list[str], tuple[str, ...], float]] = {}
        self._master_views: dict[Key, _servers.Master] = {}
        self._seen_workers: set[Key] = set()
        self._notes: dict[str, str] = {}
        self._boot_time: float | None = None
        self._masters: set[Key] = set()  # masters of the pools at the last refresh
        self._last_full: float | None = None  # monotonic time of the last full scan
        self._need_full = True  # a pool without a master: look for one in the whole table
        self._children_ok = True  # False on kernels without /proc/<pid>/task/<tid>/children
        # pid -> (/proc/<pid> inode, key) of old processes that are no server's: full scans skip them
        self._others: dict[int, tuple[int, Key]] = {}
        self.skip_others = True  # False: full scans read every process (the bench's "before")
        self.full_scans = 0  # for tests and the bench

    # --- small readers with caches ---------------------------------------------------------------

    def _read_boot_time(self) -> float:
        with open(f"{self.proc.root}/stat") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
        raise OSError("no btime in /proc/stat")

    def uptime(self) -> float:
        with open(f"{self.proc.root}/uptime") as f:
            return float(f.read().split()[0])

    def note(self, topic: str, message: str) -> None:
        """Log a degraded mode once per change, not once per refresh."""
        if self._notes.get(topic) != message:
            self._notes[topic] = message
            log.info("%s", message)

    def args(self, st: ProcStat, scan: _Scan) -> list[str]:
        return self._cmd(st, scan)[0]

    def _cmd(self, st: ProcStat, scan: _Scan) -> tuple[list[str], tuple[str, ...], float]:
        """Command line, the server kinds it is a master of (mostly none), process age when read."""
        cached = self._args.get(st.key)
        if cached is not None and cached[2] >= REREAD_AGES[-1]:
            return cached
        age = scan.uptime - st.start_ticks / CLK_TCK
        if cached is None or any(cached[2] < t <= age for t in REREAD_AGES):
            try:
                args = self.proc.cmdline(st.pid)
            except OSError:
                args = []
            kinds = tuple(k for k in self.kinds if args and _servers.SERVERS[k].is_master(args))
            cached = (args, kinds, age)
            self._args[st.key] = cached
        return cached

    def _master(self, st: ProcStat, args: list[str]) -> _servers.Master:
        view = self._master_views.get(st.key)
        if view is None:
            view = self._master_views[st.key] = _servers.Master(st, self.proc, self.note)
        view.args = args
        return view

    # --- the refresh ------------------------------------------------------------------------------

    def refresh(self, snap: Snapshot) -> None:
        if self._boot_time is None:
            self._boot_time = self._read_boot_time()
        now = time.monotonic()
        found = self._pools_scan(now) or self._full_scan(now)
        scan, candidates, alive_keys = found
        self._masters = set()
        self._need_full = False
        for pool in self.pools:
            masters = self._refresh_pool(pool, candidates[pool.cfg.server], scan, snap)
            self._need_full |= not masters
            self._masters.update(m.key for m in masters)
        if scan.full:  # a partial view cannot tell which other processes are gone
            self._seen_workers &= alive_keys
            for cache in (self._args, self._master_views):
                for key in [k for k in cache if k not in alive_keys]:
                    del cache[key]

    def _full_scan(self, now: float) -> tuple[_Scan, dict[str, list[ProcStat]], set[Key]]:
        """The whole process table, but nothing of the processes already known to be no server's: an old
        process whose command line matched no server is remembered by pid and ``/proc/<pid>`` inode (a new
        process on a reused pid has a new inode) and not read again. The masters' children, which such
        processes may be (workers with a title), are then read from the masters' ``children`` files."""
        listing = self.proc.listing()
        others = {pid: v for pid, v in self._others.items() if listing.get(pid) == v[0]}
        procs: dict[int, ProcStat] = {}
        for pid in listing.keys() - others.keys():
            with contextlib.suppress(OSError):
                procs[pid] = self.proc.stat(pid)
        scan = _Scan(now, self.uptime(), procs, True, self._tables)
        candidates, alive_keys = self._classify(scan)
        if others:
            try:
                self._read_pools_children(scan, candidates)
            except _procfs.ChildrenUnsupported:
                self._no_children_file()
                return self._full_scan(now)
        alive_keys.update(key for _ino, key in others.values())
        if self._children_ok and self.skip_others:
            for st in procs.values():
                cached = self._args.get(st.key)
                if st.alive and cached is not None and not cached[1] and cached[2] >= REREAD_AGES[-1]:
                    others[st.pid] = (listing[st.pid], st.key)
        self._others = others
        self._last_full = now
        self.full_scans += 1
        return scan, candidates, alive_keys

    def _read_pools_children(self, scan: _Scan, candidates: dict[str, list[ProcStat]]) -> None:
        """Add the candidates' children and the tracked workers (orphans included) that the scan skipped."""
        pids: set[int] = set()
        for st in {st.pid: st for found in candidates.values() for st in found}.values():
            try:
                pids.update(self.proc.children(st.pid))
            except _procfs.ChildrenUnsupported:
                raise
            except OSError:  # gone since
                continue
        pids.update(k[0] for pool in self.pools for k in pool.workers)
        for pid in pids - scan.procs.keys():
            try:
                st = scan.procs[pid] = self.proc.stat(pid)
            except OSError:
                continue
            if st.alive:
                scan.children.setdefault(st.ppid, []).append(st)

    def _no_children_file(self) -> None:
        self._children_ok = False
        self._others.clear()
        self.note("children", "this kernel has no /proc/<pid>/task/<tid>/children: every refresh scans the "
                  "whole process table")

    def _classify(self, scan: _Scan) -> tuple[dict[str, list[ProcStat]], set[Key]]:
        """Children of every process read, and the master candidates per server kind, in one pass."""
        candidates: dict[str, list[ProcStat]] = {k: [] for k in self.kinds}
        alive_keys = set()
        children = scan.children
        for st in scan.procs.values():
            if not st.alive:
                continue
            key = (st.pid, st.start_ticks)
            alive_keys.add(key)
            children.setdefault(st.ppid, []).append(st)
            args, kinds, _age = self._cmd(st, scan)
            if not kinds or key in self._seen_workers:
                continue
            # a fork with the same command line is a worker that has no title (yet); a parent skipped by the
            # scan matched no server, so its command line differs
            parent = scan.procs.get(st.ppid)
            if parent is None or self.args(parent, scan) != args:
                for kind in kinds:
                    candidates[kind].append(st)
        return candidates, alive_keys

    def _pools_scan(self, now: float) -> tuple[_Scan, dict[str, list[ProcStat]], set[Key]] | None:
        """The pools' processes only: the known masters, their children and the tracked workers (orphans
        included). None when the whole table must be scanned instead."""
        if (self._need_full or not self._children_ok or self._last_full is None
                or now - self._last_full >= float(self.settings.rescan_interval)):
            return None
        procs: dict[int, ProcStat] = {}
        kids: set[int] = set()
        try:
            for key in self._masters:
                st = self.proc.stat(key[0])
                if st.key != key or not st.alive:
                    return None  # a master gone (or its pid reused): find the pool's master again
                procs[st.pid] = st
                kids.update(self.proc.children(st.pid))
        except _procfs.ChildrenUnsupported:
            self._no_children_file()
            return None
        except OSError:
            return None
        # tracked workers are read directly too: an orphan, or a child the children file missed, stays counted
        kids.update(k[0] for pool in self.pools for k in pool.workers)
        for pid in kids - procs.keys():
            try:
                procs[pid] = self.proc.stat(pid)
            except OSError:
                continue
        scan = _Scan(now, self.uptime(), procs, False, self._tables)
        alive_keys = set()
        for st in procs.values():
            if st.alive:
                alive_keys.add(st.key)
                scan.children.setdefault(st.ppid, []).append(st)
        candidates: dict[str, list[ProcStat]] = {k: [] for k in self.kinds}
        for key in self._masters:
            for kind in self._cmd(procs[key[0]], scan)[1]:  # a title that changed is seen as in a full scan
                candidates[kind].append(procs[key[0]])
        # a child that the full scan would take for a master (a USR2 upgrade's new master): scan it all
        for mkey in self._masters:
            margs = self.args(procs[mkey[0]], scan)
            for c in scan.children.get(mkey[0], []):
                args, kinds, _age = self._cmd(c, scan)
                if kinds and c.key not in self._seen_workers and args != margs:
                    return None
        return scan, candidates, alive_keys

    def _refresh_pool(self, pool: _Pool, candidates: list[ProcStat], scan: _Scan, snap: Snapshot) -> list[ProcStat]:
        """Publish one pool; return its masters."""
        cfg = pool.cfg
        labels = {"server": cfg.server, "service": cfg.service}
        rule = _servers.SERVERS[cfg.server]
        masters = [m for m in candidates if cfg.match is None or cfg.match in " ".join(self.args(m, scan))]
        masters.sort(key=lambda m: m.start_ticks)
        found: dict[Key, ProcStat] = {}
        expected: int | None = 0
        for m in masters:
            margs = self.args(m, scan)
            facts = rule.facts(self._master(m, margs), scan.now)
            kids = [c for c in scan.children.get(m.pid, []) if c.pid not in facts.skip]
            workers = [c for c in kids if rule.is_worker(self.args(c, scan), margs)]
            for w in workers:
                found[w.key] = w
                self._seen_workers.add(w.key)
            if facts.serves_itself and not workers:
                found[m.key] = m
            expected = None if expected is None or facts.expected is None else expected + facts.expected
        if cfg.expected_workers is not None:
            expected = cfg.expected_workers

        # orphans of a dead master stay workers while they live
        for key in pool.workers:
            if key not in found and scan.alive(key):
                found[key] = scan.procs[key[0]]
        self._track(pool, found, masters, scan)

        snap.add("lookout_worker_pool_master_up", 1 if masters else 0, **labels)
        snap.add("lookout_worker_pool_masters", len(masters), **labels)
        snap.add("lookout_worker_pool_workers", len(found), **labels)
        if expected is not None:
            snap.add("lookout_worker_pool_workers_expected", expected, **labels)
        snap.add("lookout_worker_pool_worker_restarts_total", pool.restarts, **labels)
        cpu = pool.dead_cpu_ticks + sum(w.cpu_ticks for w in found.values())
        snap.add("lookout_worker_pool_workers_cpu_seconds_total", cpu / CLK_TCK, **labels)
        snap.add("lookout_worker_pool_workers_resident_memory_bytes", sum(w.rss_bytes for w in found.values()),
                 **labels)
        if found:
            snap.add("lookout_worker_pool_worker_resident_memory_max_bytes", max(w.rss_bytes for w in found.values()),
                     **labels)
        if masters:
            snap.add("lookout_worker_pool_master_resident_memory_bytes", sum(m.rss_bytes for m in masters), **labels)
            snap.add("lookout_worker_pool_master_start_time_seconds",
                     (self._boot_time or 0) + masters[0].start_ticks / CLK_TCK, **labels)

        net_pid = masters[0].pid if masters else next(iter(found.values())).pid if found else None
        socks = scan.sockets(net_pid) if cfg.port is not None and net_pid is not None else None
        busy = self._busy(pool, found, socks, scan)
        if masters or found:
            snap.add("lookout_worker_pool_workers_busy", busy, **labels)
        listening = socks.listen.get(cfg.port or 0) if socks is not None else None
        if listening:
            snap.add("lookout_worker_pool_listen_queue_length", sum(q for q, _ in listening), **labels)
            if all(limit is not None for _, limit in listening):
                snap.add("lookout_worker_pool_listen_queue_limit", sum(limit or 0 for _, limit in listening), **labels)
            else:
                self.note(f"limit:{cfg.service}", f"pool {cfg.service}: the listening socket is in another network "
                          "namespace, listen queue limit not published")
        for w in found.values():
            prev = pool.workers.get(w.key)
            if prev is not None:
                prev.cpu_ticks, prev.seen_at = w.cpu_ticks, scan.now
        return masters

    def _track(self, pool: _Pool, found: dict[Key, ProcStat], masters: list[ProcStat], scan: _Scan) -> None:
        """Deaths under a live master wait for a replacement; each replacement is one restart."""
        for key in [k for k in pool.workers if k not in found]:
            gone = pool.workers.pop(key)
            pool.dead_cpu_ticks += gone.cpu_ticks
            if scan.alive(gone.master):
                pool.pending_deaths[gone.master] = pool.pending_deaths.get(gone.master, 0) + 1
        for key, st in found.items():
            if key in pool.workers:
                continue
            master = (st.ppid, scan.procs[st.ppid].start_ticks) if st.ppid in scan.procs else (0, 0)
            if key in {m.key for m in masters}:
                master = key
            # seen_at -1: no CPU delta yet for a new worker
            pool.workers[key] = _Worker(master, st.cpu_ticks, -1.0)
            if pool.pending_deaths.get(master, 0) > 0:
                pool.pending_deaths[master] -= 1
                pool.restarts += 1
        for mkey in [k for k in pool.pending_deaths if not scan.alive(k)]:
            del pool.pending_deaths[mkey]

    def _busy(self, pool: _Pool, found: dict[Key, ProcStat], socks: Sockets | None, scan: _Scan) -> int:
        held: dict[Key, set[int]] = {}  # socket inodes of each worker whose fds are readable
        if socks is not None:
            for key, st in found.items():
                try:
                    held[key] = self.proc.socket_inodes(st.pid)
                except OSError:
                    self.note(f"fd:{pool.cfg.service}", f"pool {pool.cfg.service}: cannot read workers' fds "
                              "(needs the same user or CAP_SYS_PTRACE), busy workers from CPU time")
        established: set[int] = set()
        if socks is not None and held:
            inodes = set().union(*held.values())
            unknown = inodes - socks.listen_inodes - pool.not_connections
            if unknown:  # else no worker holds a connection: the connection table is not read at all
                connections = self._tables.connections(socks)
                established = connections.get(pool.cfg.port or 0, set())
                # a socket that is not an ESTABLISHED connection on a pool's port now never becomes one (accepted
                # connections are born established, and nothing else has that local port)
                pool.not_connections |= unknown - set().union(*connections.values())
            pool.not_connections &= inodes
        busy = 0
        for key, st in found.items():
            if key in held:
                busy += bool(held[key] & established)
                continue
            prev = pool.workers.get(key)
            if prev is None or prev.seen_at < 0:
                continue
            elapsed = scan.now - prev.seen_at
            if elapsed > 0 and (st.cpu_ticks - prev.cpu_ticks) / CLK_TCK / elapsed >= self.settings.busy_cpu_share:
                busy += 1
        return busy


COLLECTOR = WorkerPools
