"""Celery: the broker, its queues and the beat schedule, for ``lookout discover``.

Reads: the worker's and beat's command line (``-b``/``--broker``, ``-Q``) and environment
(``CELERY_BROKER_URL``, ``BROKER_URL``); the app itself, imported by the process' own interpreter in a
subprocess with the process' working directory and environment, with a timeout and ``-B`` (no bytecode
written), for ``broker_url``, the default queue and ``beat_schedule``; the broker's kombu bindings
(``_kombu.binding.*``) for the queues declared there.
Publishes: ``broker_of(...)``, ``ask_app(...)``, ``broker_queues(...)``, ``intervals(...)`` and
``site_url(url, env)``, which turns a URL into what the site file may hold: a password never appears, it
becomes ``${VAR}`` (the variable the app reads it from when one holds the URL).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from lookout.exporters import conninfo, secrets
from lookout.exporters.collectors import _servers

ASK_TIMEOUT = 20.0
MAX_OUTPUT = 1 << 20
BROKER_VARS = ("CELERY_BROKER_URL", "BROKER_URL", "REDIS_URL")

_ASK = r"""
import datetime, json, sys
sys.path.insert(0, ".")
from celery.app.utils import find_app
app = find_app(sys.argv[1])
out = {"broker": app.conf.broker_url, "default_queue": app.conf.task_default_queue, "beat": {}}
for key, e in sorted(dict(app.conf.beat_schedule or {}).items()):
    s = e.get("schedule")
    secs = None
    if isinstance(s, (int, float)):
        secs = float(s)
    elif isinstance(s, datetime.timedelta):
        secs = s.total_seconds()
    elif type(s).__name__ == "schedule" and hasattr(s, "run_every"):
        secs = s.run_every.total_seconds()
    out["beat"][str(key)] = {"task": str(e.get("task")), "seconds": secs, "kind": type(s).__name__}
sys.stdout.write("\n" + json.dumps(out) + "\n")
"""


@dataclass
class AppAnswer:
    broker: str | None
    default_queue: str | None
    beat: dict[str, dict]  # schedule key -> {task, seconds, kind}
    error: str | None = None


def broker_of(args: list[str], env: dict[str, str] | None) -> tuple[str | None, str]:
    """The broker URL from the command line or the environment, and where it came from."""
    w = _servers.words(args)
    url = _servers.option(w, "--broker", "-b")
    if url:
        return url, "command line"
    for name in BROKER_VARS:
        if env and env.get(name):
            return env[name], f"${name}"
    return None, ""


def queues_of(args: list[str]) -> list[str]:
    q = _servers.option(_servers.words(args), "--queues", "-Q")
    return sorted({x.strip() for x in q.split(",") if x.strip()}) if q else []


def ask_app(python: str, app: str, cwd: str | None, env: dict[str, str] | None,
            timeout: float = ASK_TIMEOUT, owner: tuple[int, int] | None = None) -> AppAnswer:
    """Import the app as its process does and read its configuration; the subprocess is killed (its whole
    process group) after ``timeout``. Run as root, it runs as ``owner`` (the process' uid and gid): the app's
    code never gets more rights than the app has. Its output may hold the broker's password: kept in memory
    only."""
    as_owner: dict = {}
    if owner is not None and os.geteuid() == 0 and owner != (0, 0):
        as_owner = {"user": owner[0], "group": owner[1], "extra_groups": []}
    try:
        proc = subprocess.Popen([python, "-B", "-c", _ASK, app], cwd=cwd or "/", env=env or {},
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, **as_owner)
    except OSError as exc:
        return AppAnswer(None, None, {}, f"cannot run {python} ({exc.strerror})")
    try:
        out, err = _tails(proc, timeout)
    except TimeoutError:
        return AppAnswer(None, None, {}, f"the app did not answer within {timeout:g}s")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever the import left running
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    last = out.decode(errors="replace").strip().rpartition("\n")[2]
    try:
        data = json.loads(last)
    except ValueError:
        tail = err.decode(errors="replace").strip().rpartition("\n")[2]
        # the error line may quote a URL or anything else: only an exception's class name is shown
        name = tail.partition(":")[0].strip()
        shown = name if _CLASS.match(name) else "see the app's own output"
        return AppAnswer(None, None, {}, f"importing {app} failed ({shown})")
    return AppAnswer(data.get("broker"), data.get("default_queue"), dict(data.get("beat") or {}))


def _tails(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes]:
    """Read both pipes until they close, keeping only the last ``MAX_OUTPUT`` bytes of each (an app that prints
    without end costs no memory); TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    kept = {proc.stdout: b"", proc.stderr: b""}
    with selectors.DefaultSelector() as sel:
        for pipe in kept:
            sel.register(pipe, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                kept[key.fileobj] = (kept[key.fileobj] + chunk)[-MAX_OUTPUT:]
    return kept[proc.stdout], kept[proc.stderr]


def short_names(beat: dict[str, dict]) -> dict[str, str]:
    """Schedule key -> the task name the site uses: the last dotted part when no other task shares it."""
    tasks = [e["task"] for e in beat.values()]
    shorts = [t.rsplit(".", 1)[-1] for t in tasks]
    return {k: (s if shorts.count(s) == 1 else t) for (k, e), t, s in zip(beat.items(), tasks, shorts, strict=True)}


def duration_text(seconds: float) -> str:
    """``30s``, ``2m``, ``24h``: the largest unit that divides exactly."""
    s = round(seconds, 3)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{int(s // size)}{unit}"
    return f"{int(s)}s" if s == int(s) else f"{s:g}s"


_CLASS = re.compile(r"^[A-Za-z_][\w.]{0,80}(Error|Exception|Exit|Interrupt|Timeout)$")
_PASSWORD = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/]*)(?::(?P<pw>[^@/]*))?@")


def has_password(url: str) -> bool:
    """Any password the URL carries, read as libpq, redis-py and urllib would (user information,
    ``?password=``, ``?%70assword=``...): the exporter's own reading (``lookout.exporters.conninfo``)."""
    return any(conninfo.passwords(url))


def site_url(url: str, env: dict[str, str] | None, prefer: tuple[str, ...] = BROKER_VARS,
             placeholder: str = "REDIS_PASSWORD") -> tuple[str, str | None]:
    """What the site file holds for ``url``, and a comment. Without a password: the URL itself. With one:
    ``${VAR}`` when a variable of the process' environment holds exactly that URL, else the URL with its
    password replaced by ``${placeholder}``. The password itself is never returned."""
    if not has_password(url):
        return url, None
    names = sorted(k for k, v in (env or {}).items() if v == url)
    names.sort(key=lambda k: (k not in prefer, k))
    if names:
        return (f"${{{names[0]}}}",
                f"holds a password: the app reads it from ${names[0]}; give the exporter that variable")
    m = _PASSWORD.match(url)
    if m is not None and m.group("pw") and not has_password(url[: m.start("pw")] + url[m.end("pw"):]):
        return (f"{m.group('scheme')}{m.group('user')}:${{{placeholder}}}@{url[m.end():]}",
                f"holds a password: set ${placeholder} in the exporter's environment")
    var = placeholder.removesuffix("_PASSWORD") + "_URL"
    return f"${{{var}}}", f"holds a password: set ${var} to the whole URL in the exporter's environment"


def redacted(url: str) -> str:
    """``url`` for people: every password as ``***`` (or the whole URL when its password hides elsewhere)."""
    text = secrets.redact_dsn(url)
    return text if not has_password(text.replace("***", "")) else "(a URL with a password)"


def host_port_db(url: str) -> tuple[str, int, int] | None:
    try:
        u = urlsplit(url)
        db = int((u.path or "/0").strip("/") or 0)
        return (u.hostname or "127.0.0.1", u.port or 6379, db)
    except ValueError:
        return None
