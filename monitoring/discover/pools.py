"""Worker pools on the host: every Gunicorn, Uvicorn and Celery master, and Celery beat.

Reads: the ``Host`` snapshot (command lines, children, cgroup, cwd, environment, listening sockets).
Publishes: ``find_pools(host) -> list[Pool]``, each with its kind, app, workers (configured and running),
ports, working directory, systemd unit and a ``match`` text that selects that master and nothing else on
the host (``match_text``). The same rules as the exporter's worker_pools collector (``_servers``) decide what
a master and a worker are, so what discover writes is what the exporter will find.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from lookout.exporters.collectors import _gunicorn_ctl, _servers
from lookout.monitoring.discover.host import Host, Listen

_APP = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(.*\))?$")
KINDS = {"gunicorn": "gunicorn", "uvicorn": "uvicorn", "celery": "celery_worker"}


@dataclass
class Pool:
    kind: str  # gunicorn, uvicorn, celery_worker, celery_beat
    pid: int
    args: list[str]
    app: str | None
    workers: int | None  # what the master was told to run
    workers_source: str
    running: int  # workers running now
    listens: list[Listen] = field(default_factory=list)
    cwd: str | None = None
    unit: str | None = None
    match: str | None = None
    undecided: list[str] = field(default_factory=list)

    @property
    def ports(self) -> list[int]:
        return sorted({ls.port for ls in self.listens})


def app_of(kind: str, args: list[str]) -> str | None:
    """The app a master runs: ``app:app``, ``lookout.demo.chat.api:app``, the Celery ``-A`` value."""
    w = _servers.words(args)
    if kind.startswith("celery"):  # Celery's title: `[celeryd: ...] -active- (-A app ...)`
        return _servers.option([x.strip("()") for x in w], "--app", "-A")
    if args and args[0].startswith(_servers.GUNICORN_MASTER_TITLE) and "[" in args[0]:
        return args[0].split("[", 1)[1].rstrip("] ")
    # the first argument after the program that looks like module:attr (not `localhost:8000`, `unix:/x`)
    for a in w[1:]:
        if _APP.match(a):
            return a
    return None


def _is_beat(args: list[str]) -> bool:
    """A standalone ``celery beat`` (its title ``[celery beat] -A app beat ...`` with setproctitle). The
    embedded beat of ``worker -B`` carries the worker's arguments: it is part of that worker."""
    w = _servers.words(args)
    if args and args[0].startswith("[celery beat]"):
        return "beat" in w[2:]
    return _servers.program(w) == "celery" and "beat" in w


def find_pools(host: Host) -> list[Pool]:
    pools: list[Pool] = []
    workers_seen: set[int] = set()
    for pid in sorted(host.procs):
        args = host.args.get(pid, [])
        if not args or pid in workers_seen:
            continue
        parent = host.procs[pid].ppid
        if host.args.get(parent) == args:
            continue  # a fork without a title: a worker, not a master
        if _is_beat(args):
            pools.append(_describe(host, "celery_beat", pid, args, []))
            continue
        for server, rule in _servers.SERVERS.items():
            if not rule.is_master(args):
                continue
            kids = [c for c in host.children.get(pid, []) if rule.is_worker(host.args.get(c, []), args)]
            if server == "gunicorn":
                kids = [c for c in kids if not host.args.get(c, [""])[0].startswith(_servers.GUNICORN_DIRTY_TITLE)]
            workers_seen.update(kids)
            pools.append(_describe(host, KINDS[server], pid, args, kids))
            break
    for p in pools:
        p.match = match_text(host, p)
        if p.match is None:
            p.undecided.append("no text of its command line tells it from another process: set `match` by hand")
    return pools


def _gunicorn_target(host: Host, pid: int) -> int | None:
    """``workers_target`` from the master's control socket (Gunicorn >= 25), a read-only ``show stats``."""
    for path in host.unix_listening(pid):
        for where in (f"{host.root}/{pid}/root{path}", path):
            try:
                stats = _gunicorn_ctl.query_stats(where)
            except (OSError, ValueError):
                continue
            if stats.get("pid") == pid and isinstance(stats.get("workers_target"), int):
                return int(stats["workers_target"])
    return None


def _describe(host: Host, kind: str, pid: int, args: list[str], kids: list[int]) -> Pool:
    env = host.env(pid)
    cwd = host.cwd(pid)
    undecided: list[str] = []
    running = len(kids)
    if kind == "gunicorn":
        cfg = None if cwd is None else os.path.exists(os.path.join(cwd, "gunicorn.conf.py"))
        target = _gunicorn_target(host, pid)
        titled = bool(args) and args[0].startswith(_servers.GUNICORN_MASTER_TITLE)
        if target is not None:
            exp = _servers.Expected(target, "the master's control socket")
        elif titled:
            exp = _servers.Expected(None, "its command line is hidden by its title and no control socket answered")
        else:
            exp = _servers.gunicorn_expected(args, env, cfg)
    elif kind == "uvicorn":
        exp = _servers.uvicorn_expected(args, env)
        if not kids and _servers.uvicorn_single_process(args, env):
            running = 1
    elif kind == "celery_worker":
        exp = _servers.celery_expected(args, env)
    else:
        exp = _servers.Expected(None, "beat runs no pool")
    workers = exp.workers
    if workers is None and kind != "celery_beat":
        workers = running
        undecided.append(f"workers: {exp.source}; {running} running now, written as the expected count")
    app = app_of(kind, args)
    if app is None:
        undecided.append("app: not found on its command line")
    return Pool(kind=kind, pid=pid, args=args, app=app, workers=workers, workers_source=exp.source,
                running=running, listens=host.listening(pid), cwd=cwd, unit=host.unit(pid), undecided=undecided)


def match_text(host: Host, pool: Pool) -> str | None:
    """The shortest run of whole arguments of the master's command line that appears in no other process'
    command line on the host (its own workers aside), preferring runs that hold the app and leave out the
    interpreter's path. None when every run also appears elsewhere (two identical commands)."""
    args = _servers.words(pool.args) if len(pool.args) == 1 else pool.args
    args = [a.strip("()") for a in args] if pool.kind.startswith("celery") else args
    mine = {pool.pid} | host.descendants(pool.pid)
    others = [host.joined(p) for p in sorted(host.procs) if p not in mine]
    runs: list[tuple[tuple[int, int, int, int], str]] = []
    if pool.app:
        runs.append(((0, 0, 0, 0), pool.app))
    n = len(args)
    for i in range(n):
        for j in range(i + 1, min(n, i + 6) + 1):
            text = " ".join(args[i:j])
            has_app = pool.app is not None and pool.app in text
            rank = (0 if has_app else 1, 0 if i > 0 or n == 1 else 1, j - i, i)
            runs.append((rank, text))
    for _rank, text in sorted(runs):
        if text.strip() and text in host.joined(pool.pid) and not any(text in o for o in others):
            return text
    return None
