"""How Gunicorn, Uvicorn and Celery processes look in the process table, and their configured size.

Reads: a master's environment and files when its rules ask (``Master``), Gunicorn's control socket
through ``_gunicorn_ctl``; the rules themselves are pure functions of command lines and environments,
tested on fixture argument lists.
Publishes: the strategy per server kind (``SERVERS``, ``Server``): is a process a master, is a child of a
master a worker, and ``facts``: how many workers the master was told to run, which children are not
workers, whether the master serves requests itself.

Recognised shapes (with and without setproctitle):

- Gunicorn: master ``gunicorn ...`` / ``python -m gunicorn ...`` or the title ``gunicorn: master [NAME]``;
  workers are the master's children titled ``gunicorn: worker [NAME]`` or, without setproctitle,
  children whose command line equals the master's (they are forks). The dirty arbiter
  (``gunicorn: dirty-arbiter``, or the PID the control socket or its PID file names) and its dirty
  workers are not HTTP workers and are ignored.
- Uvicorn: master ``uvicorn ...`` / ``python -m uvicorn``; with ``--workers N`` its children are
  multiprocessing *spawn* children; the ``multiprocessing.resource_tracker`` child is ignored.
  Without ``--workers`` (or 1) the master serves requests itself and counts as the one worker.
- Celery: master ``celery ... worker ...`` or the title ``[celeryd: NAME:MainProcess] ...``;
  workers are children titled ``...:ForkPoolWorker-N]`` or forks with the master's command line.
  An embedded beat (``worker -B``, title ``[celery beat]``) is not a worker.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from lookout.exporters.collectors._gunicorn_ctl import GunicornMaster
from lookout.exporters.collectors._procfs import ProcReader, ProcStat

_PY_RE = re.compile(r"^python[0-9.]*$")


def program(args: list[str]) -> str:
    """The program a command line runs: ``gunicorn`` for ``/venv/bin/gunicorn`` and
    ``python3 /venv/bin/gunicorn`` and ``python -m gunicorn.app.wsgiapp``; "" if unknown."""
    if not args:
        return ""
    first = os.path.basename(args[0])
    if not _PY_RE.match(first):
        return first
    i = 1
    while i < len(args):
        a = args[i]
        if a == "-m" and i + 1 < len(args):
            return args[i + 1].split(".")[0]
        if a.startswith("-m") and len(a) > 2:
            return a[2:].split(".")[0]
        if a in ("-c",):
            return ""
        if a in ("-X", "-W"):
            i += 2
            continue
        if not a.startswith("-"):
            return os.path.basename(a)
        i += 1
    return ""


def words(args: list[str]) -> list[str]:
    """Arguments as separate words, also when a title folded them into one string."""
    if len(args) == 1 and " " in args[0]:
        try:
            return shlex.split(args[0])
        except ValueError:
            return args[0].split()
    return args


def option(args: list[str], long: str, short: str | None = None) -> str | None:
    """Value of ``--long V``, ``--long=V``, ``-s V`` or ``-sV`` (the last one given wins)."""
    found = None
    it = iter(range(len(args)))
    for i in it:
        a = args[i]
        if a == long or (short and a == short):
            if i + 1 < len(args):
                found = args[i + 1]
                next(it, None)
        elif a.startswith(long + "="):
            found = a[len(long) + 1 :]
        elif short and a.startswith(short) and not a.startswith("--") and len(a) > len(short):
            found = a[len(short) :]
    return found


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        n = int(value.strip())
    except ValueError:
        return None
    return n if n >= 0 else None


@dataclass(frozen=True)
class Expected:
    """How many workers a master runs, and where that number came from (for docs and debugging)."""

    workers: int | None
    source: str


# --- Gunicorn ------------------------------------------------------------------------------------

GUNICORN_MASTER_TITLE = "gunicorn: master"
GUNICORN_WORKER_TITLE = "gunicorn: worker"
GUNICORN_DIRTY_TITLE = "gunicorn: dirty-"


def gunicorn_is_master(args: list[str]) -> bool:
    if args and args[0].startswith(GUNICORN_MASTER_TITLE):
        return True
    return program(args) == "gunicorn"


def gunicorn_is_worker(args: list[str], master_args: list[str]) -> bool:
    if args and args[0].startswith(GUNICORN_DIRTY_TITLE):
        return False
    if args and args[0].startswith(GUNICORN_WORKER_TITLE):
        return True
    return args == master_args  # a fork that has not (or cannot) set its title


def gunicorn_expected(args: list[str], env: dict[str, str] | None, config_file_exists: bool | None) -> Expected:
    """Workers from ``-w``, then ``GUNICORN_CMD_ARGS``; a config file may set it (unknown then),
    otherwise ``WEB_CONCURRENCY`` or Gunicorn's default of 1. ``env`` None = unreadable."""
    w = _int(option(args, "--workers", "-w"))
    if w is not None:
        return Expected(w, "command line")
    if env is None:
        return Expected(None, "environment unreadable")
    env_args = shlex.split(env.get("GUNICORN_CMD_ARGS", ""))
    w = _int(option(env_args, "--workers", "-w"))
    if w is not None:
        return Expected(w, "GUNICORN_CMD_ARGS")
    if option(args, "--config", "-c") or option(env_args, "--config", "-c") or config_file_exists is not False:
        return Expected(None, "set in a configuration file")
    w = _int(env.get("WEB_CONCURRENCY"))
    if w is not None:
        return Expected(w, "WEB_CONCURRENCY")
    return Expected(1, "default")


def gunicorn_control_socket(args: list[str], env: dict[str, str] | None) -> str | None:
    """Where the master's control socket should be (Gunicorn >= 25), or None if disabled/unknown."""
    env_args = shlex.split((env or {}).get("GUNICORN_CMD_ARGS", ""))
    if "--no-control-socket" in args or "--no-control-socket" in env_args:
        return None
    path = option(args, "--control-socket") or option(env_args, "--control-socket")
    if path:
        return path
    if env is None:
        return None
    xdg = env.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "gunicorn.ctl")
    if env.get("HOME"):
        return os.path.join(env["HOME"], ".gunicorn", "gunicorn.ctl")
    return None


# --- Uvicorn -------------------------------------------------------------------------------------


def uvicorn_is_master(args: list[str]) -> bool:
    return program(args) == "uvicorn"


def uvicorn_is_worker(args: list[str], master_args: list[str]) -> bool:
    joined = " ".join(args)
    return "resource_tracker" not in joined and "multiprocessing.forkserver" not in joined


def uvicorn_expected(args: list[str], env: dict[str, str] | None) -> Expected:
    if "--reload" in args:
        return Expected(1, "--reload")
    w = _int(option(args, "--workers"))
    if w is not None:
        return Expected(max(w, 1), "command line")
    if env is None:
        return Expected(None, "environment unreadable")
    w = _int(env.get("WEB_CONCURRENCY"))
    if w is not None:
        return Expected(max(w, 1), "WEB_CONCURRENCY")
    return Expected(1, "default")


def uvicorn_single_process(args: list[str], env: dict[str, str] | None) -> bool:
    """Uvicorn without a worker supervisor: the master itself serves requests."""
    exp = uvicorn_expected(args, env)
    return exp.workers == 1 and "--reload" not in args


# --- Celery --------------------------------------------------------------------------------------

CELERY_TITLE = "[celeryd:"


def celery_is_master(args: list[str]) -> bool:
    if args and args[0].startswith(CELERY_TITLE):
        return ":MainProcess]" in args[0]
    return program(args) == "celery" and "worker" in args


def celery_is_worker(args: list[str], master_args: list[str]) -> bool:
    if args and args[0].startswith(CELERY_TITLE):
        return ":MainProcess]" not in args[0]
    if args and args[0].startswith("[celery beat]"):
        return False
    return args == master_args


def celery_expected(args: list[str], env: dict[str, str] | None) -> Expected:
    w = words(args)
    if "worker" in w:
        w = w[w.index("worker") + 1 :]
    n = _int(option(w, "--concurrency", "-c"))
    if n is not None:
        return Expected(n, "command line")
    return Expected(None, "not on the command line (--autoscale, app configuration or CPU count)")


# --- the strategy per server kind ------------------------------------------------------------------


@dataclass(frozen=True)
class MasterFacts:
    """What a server's rules tell about one master, beyond its children."""

    expected: int | None  # workers it was told to run; None when unknown
    skip: frozenset[int] = frozenset()  # children that are not workers (Gunicorn's dirty arbiter)
    serves_itself: bool = False  # with no worker, the master serves requests itself (single-process Uvicorn)


_UNREAD: Any = object()


class Master:
    """One master process as the server rules see it. The collector keeps one per live master, so that its
    environment is read once and a server's own state (Gunicorn's control socket) lives as long as it."""

    def __init__(self, st: ProcStat, proc: ProcReader, note: Callable[[str, str], None]):
        self.pid, self.key = st.pid, st.key
        self.proc, self.note = proc, note
        self.args: list[str] = []  # the current command line (a title may replace it after start)
        self.state: Any = None  # the server's own
        self._env: dict[str, str] | None = _UNREAD

    def environ(self) -> dict[str, str] | None:
        """None when unreadable (another user without CAP_SYS_PTRACE), or all NULs (setproctitle reuses the
        environment's memory for long titles)."""
        if self._env is _UNREAD:
            try:
                self._env = self.proc.environ(self.pid) or None
            except OSError:
                self._env = None
                self.note(f"environ:{self.pid}", f"cannot read the environment of pid {self.pid} (needs the same "
                          "user or CAP_SYS_PTRACE): expected workers may be unknown")
        return self._env

    def file_exists(self, path: str) -> bool | None:
        """``path`` (relative: to the master's working directory) exists for the master; None if unknown."""
        try:
            os.stat(self.proc.path_in(self.pid, path))
            return True
        except FileNotFoundError:
            return False
        except OSError:
            return None


class Server:
    """The rules of one server kind: which processes are masters, which children workers, and the facts
    that vary between servers (``facts``)."""

    name: ClassVar[str]
    is_master: Callable[[list[str]], bool]  # is a process with this command line a master
    is_worker: Callable[[list[str], list[str]], bool]  # is a child with this command line a worker of the master

    def facts(self, master: Master, now: float) -> MasterFacts:
        raise NotImplementedError


class Gunicorn(Server):
    name = "gunicorn"
    is_master = staticmethod(gunicorn_is_master)
    is_worker = staticmethod(gunicorn_is_worker)

    def facts(self, master: Master, now: float) -> MasterFacts:
        """The control socket first (the configured worker count, the dirty arbiter's pid), else the command
        line, environment and config file, and the dirty arbiters' PID files."""
        if master.state is None:
            master.state = GunicornMaster(master, gunicorn_control_socket(master.args, master.environ()))
        ctl: GunicornMaster = master.state
        stats = ctl.stats(now)
        if stats is None:
            skip = ctl.dirty_pids(now)
        else:
            skip = {int(stats["dirty_arbiter_pid"])} if stats.get("dirty_arbiter_pid") else set()
        if stats and isinstance(stats.get("workers_target"), int):
            expected: int | None = stats["workers_target"]
        else:
            conf = master.file_exists("gunicorn.conf.py")
            expected = gunicorn_expected(master.args, master.environ(), conf).workers
        return MasterFacts(expected, frozenset(skip))


class Uvicorn(Server):
    name = "uvicorn"
    is_master = staticmethod(uvicorn_is_master)
    is_worker = staticmethod(uvicorn_is_worker)

    def facts(self, master: Master, now: float) -> MasterFacts:
        env = master.environ()
        return MasterFacts(uvicorn_expected(master.args, env).workers,
                           serves_itself=uvicorn_single_process(master.args, env))


class Celery(Server):
    name = "celery"
    is_master = staticmethod(celery_is_master)
    is_worker = staticmethod(celery_is_worker)

    def facts(self, master: Master, now: float) -> MasterFacts:
        return MasterFacts(celery_expected(master.args, None).workers)


SERVERS: dict[str, Server] = {s.name: s for s in (Gunicorn(), Uvicorn(), Celery())}
