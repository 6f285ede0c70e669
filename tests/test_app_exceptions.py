"""Exceptions counted from error logs (``app_exceptions``): the traceback parser on fixture text, the tailer on
rotations and partial lines, and a real Gunicorn writing real tracebacks to its ``--error-logfile``, rotated
by rename (then ``USR1``) and by copytruncate in the middle."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from lookout.exporters.collector import Snapshot
from lookout.exporters.collectors._logtail import LogTail
from lookout.exporters.collectors.app_exceptions import (
    AppExceptions,
    AppExceptionsSettings,
    LogSettings,
    TracebackParser,
)
from lookout.exporters.config import ConfigError, build_dataclass
from tests.support.exporter import promtool_check_metrics
from tests.support.servers import free_port, wait_port
from tests.test_worker_pools import BIN, Spawner, spawn  # noqa: F401 (fixture)

SIMPLE = """\
[2026-12-04 10:00:00 +0000] [12] [ERROR] Error handling request /boom
Traceback (most recent call last):
  File "/srv/app.py", line 3, in app
    raise ValueError("bad: value")
ValueError: bad: value
[2026-12-04 10:00:01 +0000] [12] [INFO] Booting worker with pid: 13
"""
CHAINED = """\
[2026-12-04 10:00:02 +0000] [12] [ERROR] Error handling request /chain
Traceback (most recent call last):
  File "/srv/app.py", line 5, in app
    {}["x"]
KeyError: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app.py", line 7, in app
    raise RuntimeError("wrapped") from None
RuntimeError: wrapped

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/app.py", line 9, in app
    import nosuchmodule
ModuleNotFoundError: No module named 'nosuchmodule'
Error: this line looks like a final line but follows no traceback
"""
GROUP = """\
  + Exception Group Traceback (most recent call last):
  |   File "/srv/t.py", line 1, in <module>
  | ExceptionGroup: two (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | ValueError: a
    +---------------- 2 ----------------
    | TypeError: b
    +------------------------------------
[2026-12-04 10:00:03 +0000] [12] [INFO] next record
KeyboardInterrupt
"""


def parse(text: str) -> list[str]:
    p = TracebackParser()
    out: list[str] = []
    for line in text.splitlines():
        out.extend(p.feed(line))
    return out + p.flush()


def test_parser_counts_final_lines_and_chains_once():
    assert parse(SIMPLE) == ["ValueError"]
    assert parse(CHAINED) == ["ModuleNotFoundError"]
    assert parse(GROUP) == ["ExceptionGroup"]
    assert parse(SIMPLE + CHAINED + SIMPLE) == ["ValueError", "ModuleNotFoundError", "ValueError"]
    assert parse("Traceback (most recent call last):\n  File \"x\", line 1\nKeyboardInterrupt\n") == \
        ["KeyboardInterrupt"]
    assert parse("Traceback (most recent call last):\n  File \"x\", line 1\npsycopg2.errors.UniqueViolation: dup\n") \
        == ["psycopg2.errors.UniqueViolation"]


def test_parser_waits_one_tick_for_a_chain():
    p = TracebackParser()
    lines = CHAINED.splitlines()
    cut = lines.index("") + 1  # a refresh ends after the first traceback's final line and the blank line
    got = [c for line in lines[:cut] for c in p.feed(line)]
    assert got == [] and p.tick() == []  # pending, not stale yet
    got = [c for line in lines[cut:-1] for c in p.feed(line)]
    assert got == [] and p.tick() == [] and p.tick() == ["ModuleNotFoundError"]


def test_tail_partial_lines_rename_and_copytruncate(tmp_path: Path):
    log = tmp_path / "error.log"
    log.write_text("old history\n")
    t = LogTail(str(log), max_read=10_000)
    assert t.read() == []  # history is not news
    with open(log, "a") as f:
        f.write("one\ntw")
    assert t.read() == [b"one"]
    with open(log, "a") as f:
        f.write("o\n")
    assert t.read() == [b"two"]
    # rename: lines written to the old file after the rename are still read, then the new file from its start
    with open(log, "a") as f:
        f.write("before rename\n")
    os.rename(log, tmp_path / "error.log.1")
    with open(tmp_path / "error.log.1", "a") as f:
        f.write("late in old\npartial")
    log.write_text("new file\n")
    assert t.read() == [b"before rename", b"late in old", b"partial", b"new file"]
    assert t.stats.rotations == 1
    # copytruncate: the copy holds what we had not read yet
    with open(log, "a") as f:
        f.write("unread before copy\n")
    shutil.copyfile(log, tmp_path / "error.log.1")
    with open(log, "r+") as f:
        f.truncate(0)
    with open(log, "a") as f:
        f.write("after truncate, longer than what was there before it\n")
    assert t.read() == [b"unread before copy", b"after truncate, longer than what was there before it"]
    assert t.stats.truncations == 1
    # bounded reads: the rest waits, shown as backlog
    with open(log, "a") as f:
        f.write("x" * 30_000 + "\n")
    t.max_read = 10_000
    assert t.read() == [] and t.backlog > 0
    assert t.read() == [] and t.read() == [] and t.read() == [b"x" * t.max_line] and t.backlog == 0
    assert t.stats.lines_cut == 1
    t.close()


def test_settings_refused_with_the_key():
    with pytest.raises(ConfigError, match=r"app_exceptions.logs\[0\]: path"):
        build_dataclass(AppExceptionsSettings, {"logs": [{"service": "a", "path": "rel.log"}]}, "app_exceptions")
    with pytest.raises(ConfigError, match=r"classes\[0\]"):
        build_dataclass(AppExceptionsSettings, {"logs": [{"service": "a", "path": "/x"}], "classes": ["a b"]},
                        "app_exceptions")


def counts(c: AppExceptions) -> dict[tuple[str, str], float]:
    snap = Snapshot(c.metrics)
    c.refresh(snap)
    out = {}
    for fam in snap.families():
        for s in fam.samples:
            if s.name == "lookout_app_exceptions_total":
                out[(s.labels["service"], s.labels["exception"])] = s.value
    return out


def test_classes_bounded_with_other(tmp_path: Path):
    log = tmp_path / "e.log"
    log.write_text("")
    c = AppExceptions(AppExceptionsSettings(logs=[LogSettings("api", str(log))], max_classes=2))
    assert counts(c) == {("api", "ModuleNotFoundError"): 0, ("api", "ImportError"): 0}
    tb = "Traceback (most recent call last):\n  File \"x\", line 1\n{}: m\n"
    log.write_text("".join(tb.format(n) for n in ("AError", "BError", "CError", "DError", "AError", "ImportError")))
    got = counts(c)
    assert got == {("api", "ModuleNotFoundError"): 0, ("api", "ImportError"): 0, ("api", "AError"): 2,
                   ("api", "BError"): 1, ("api", "other"): 2}  # the last one waits a refresh for a chain
    got = counts(c)
    assert got[("api", "ImportError")] == 1 and sum(got.values()) == 6
    c.stop()


WSGI = '''
def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise ValueError("boom")
    if path == "/chain":
        try:
            {}["x"]
        except KeyError as exc:
            raise RuntimeError("wrapped") from exc
    if path == "/missing":
        import lookout_no_such_module  # noqa: F401
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


def _get(port: int, path: str) -> None:
    with contextlib.suppress(OSError):  # 500s are the point
        urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read()


def _settle(c: AppExceptions, want: dict[tuple[str, str], float], timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    got: dict = {}
    while time.monotonic() < deadline:
        got = {k: v for k, v in counts(c).items() if v}
        if got == want:
            return got
        time.sleep(0.2)
    raise AssertionError(f"counted {got}, expected {want}")


def test_real_gunicorn_error_log_with_rotations(spawn: Spawner, tmp_path: Path):  # noqa: F811
    (tmp_path / f"errapp_{spawn.tag}.py").write_text(WSGI)
    log = tmp_path / "logs" / "error.log"
    log.parent.mkdir()
    port = free_port()
    master = spawn([str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--error-logfile", str(log),
                    f"errapp_{spawn.tag}:app"])
    wait_port(port)
    c = AppExceptions(AppExceptionsSettings(logs=[LogSettings("voice-api", str(log))], from_start=False))
    counts(c)
    for _ in range(3):
        _get(port, "/boom")
    _get(port, "/chain")
    _get(port, "/ok")
    _settle(c, {("voice-api", "ValueError"): 3, ("voice-api", "RuntimeError"): 1})

    # logrotate `create` + `postrotate kill -USR1`: the requests in between are written to the renamed file
    os.rename(log, log.with_name("error.log.1"))
    _get(port, "/boom")
    _get(port, "/missing")
    master.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the workers reopen their log too
    _get(port, "/missing")
    _get(port, "/boom")
    _settle(c, {("voice-api", "ValueError"): 5, ("voice-api", "RuntimeError"): 1,
                ("voice-api", "ModuleNotFoundError"): 2})

    # copytruncate: the copy is made, more is written, the file is truncated
    _get(port, "/chain")
    shutil.copyfile(log, log.with_name("error.log.1"))
    with open(log, "r+") as f:
        f.truncate(0)
    _get(port, "/boom")
    got = _settle(c, {("voice-api", "ValueError"): 6, ("voice-api", "RuntimeError"): 2,
                      ("voice-api", "ModuleNotFoundError"): 2})
    assert sum(got.values()) == 10
    snap = Snapshot(c.metrics)
    c.refresh(snap)
    from prometheus_client import CollectorRegistry, generate_latest

    class _C:
        def collect(self):
            return snap.families()

    reg = CollectorRegistry(auto_describe=False)
    reg.register(_C())
    text = generate_latest(reg).decode()
    assert 'lookout_app_log_rotations_total{service="voice-api"} 2.0' in text
    assert promtool_check_metrics(text) == ""
    c.stop()
