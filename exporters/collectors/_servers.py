"""How Gunicorn, Uvicorn and Celery processes look in the process table, and their configured size.

Reads: nothing by itself except Gunicorn's control socket (``query_gunicorn_stats``); everything
else is pure functions of command lines and environments, tested on fixture argument lists.
Publishes: ``Server`` rules per server kind (``SERVERS``): is a process a master, is a child of a
master a worker, and how many workers the master was told to run.

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
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

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


def query_gunicorn_stats(path: str, timeout: float = 0.3) -> dict:
    """``show stats`` over the control socket: ``pid``, ``workers_target``, ``dirty_arbiter_pid``...

    The path is opened with O_PATH and connected through ``/proc/self/fd/N`` so that paths
    longer than a sockaddr_un (``/proc/<pid>/root/...``) work.
    """
    import json

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


@dataclass(frozen=True)
class Server:
    name: str
    is_master: Callable[[list[str]], bool]
    is_worker: Callable[[list[str], list[str]], bool]


SERVERS: dict[str, Server] = {
    "gunicorn": Server("gunicorn", gunicorn_is_master, gunicorn_is_worker),
    "uvicorn": Server("uvicorn", uvicorn_is_master, uvicorn_is_worker),
    "celery": Server("celery", celery_is_master, celery_is_worker),
}
