"""The supervisor behind ``python -m demo up``: one process that runs, breaks and repairs the demo.

It applies the reference schemas and seed rows (idempotent), then runs, for the parts it is given:
- voice: Gunicorn (the Flask webhook app, 4 sync workers) and the MCP stand-in as child processes,
  the call generator as a thread;
- chat: Uvicorn (the FastAPI app, 2 workers), the Celery worker (prefork, ``-E``) and Celery beat as child
  processes, the user generator as a thread;
- providers: the fake DeepSeek, ElevenLabs and marketplace APIs as threads.
Each child runs in its own session (process group), logs to ``<run dir>/<name>.log``, is restarted when
it dies unless a fault holds it down, and gets SIGTERM if the supervisor dies (PR_SET_PDEATHSIG).
SIGTERM/SIGINT stop everything cleanly. A control API on loopback (``GET /status``, ``GET /faults``,
``POST /faults/<name>`` with ``{"state": "on"|"off", "value": X}``) drives the faults: it writes the
shared switch in Redis, and the main loop (the only thread that forks) applies the process-level ones.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import psycopg
import requests

from demo import db, site_facts
from demo.faults import CACHE_SECONDS, FAULTS, FaultStore, store
from demo.resp import RespError
from demo.settings import Settings

log = logging.getLogger("demo")
ROOT = Path(__file__).resolve().parents[1]
LOOP_SECONDS = 0.5

try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """One supervised child process (with its process group)."""

    def __init__(self, name: str, part: str, argv: list[str], env: dict[str, str], log_path: Path,
                 before_start: Any = None):
        self.name, self.part, self.argv, self.env, self.log_path = name, part, argv, env, log_path
        self.before_start = before_start
        self.proc: subprocess.Popen | None = None
        self.pgid: int | None = None
        self.wanted = True
        self.starts = 0
        self.next_start = 0.0
        self.reap_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        if self.before_start:
            self.before_start()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        self.pgid = self.proc.pid
        self.starts += 1
        self.reap_at = None
        log.info("started %s (pid %s)", self.name, self.proc.pid)

    def signal_group(self, sig: int) -> None:
        if self.pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)

    def kill_master(self) -> None:
        """SIGKILL the master only; its workers notice and exit, leftovers are killed ``reap_at``."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reap_at = time.monotonic() + 3

    def workers(self) -> list[psutil.Process]:
        if self.pid is None:
            return []
        try:
            kids = psutil.Process(self.pid).children()
        except psutil.Error:
            return []
        out = []
        for k in kids:
            with contextlib.suppress(psutil.Error):
                if "resource_tracker" not in " ".join(k.cmdline()):
                    out.append(k)
        return out

    def terminate(self) -> None:
        """SIGTERM to the main process only: Gunicorn, Uvicorn and Celery shut their workers down themselves."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self, timeout: float = 10.0) -> None:
        self.terminate()
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self.signal_group(signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        self.pgid = None

    def status(self) -> dict:
        return {"part": self.part, "pid": self.pid, "running": self.running(), "wanted": self.wanted,
                "restarts": max(0, self.starts - 1), "workers": [p.pid for p in self.workers()]}


class Supervisor:
    def __init__(self, settings: Settings):
        self.s = settings
        self.parts = settings.parts
        self.run_dir = Path(settings.run_path)
        self.faults: FaultStore = store(settings.redis_url)
        self.stop_event = threading.Event()
        self.children: dict[str, Child] = {}
        self.threads: list[Any] = []
        self.applied: dict[str, tuple[bool, float | None]] = {}
        self.fault_errors: dict[str, str] = {}
        self.next_kill: dict[str, float] = {}
        self.held: list[psycopg.Connection] = []
        self.saved_balances: dict[str, dict[str, str]] | None = None
        self.capacity_bump = 0.0
        self.ready = False
        self.generation = 0
        self.applied_generation = 0
        self.cond = threading.Condition()
        self.deepseek = self.elevenlabs = self.marketplace = None
        self.voice_traffic = self.chat_traffic = None
        self.control: ThreadingHTTPServer | None = None

    # ---- setup ------------------------------------------------------------------------------------
    def _child_env(self, **extra: str) -> dict[str, str]:
        # fewer malloc arenas: the threaded children (Uvicorn, Celery) otherwise reserve one per thread
        env = {"MALLOC_ARENA_MAX": "2", **os.environ, **self.s.to_env(), "PYTHONUNBUFFERED": "1", **extra}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return env

    def _build_children(self) -> None:
        py, host, rd = sys.executable, self.s.host, self.run_dir
        if "voice" in self.parts:
            self._add("gunicorn", "voice", [
                py, "-m", "gunicorn", "demo.voice.app:app", "--name", "voice-api", "--preload", "--workers",
                str(self.s.gunicorn_workers), "--worker-class", "sync", "--bind", f"{host}:{self.s.voice_port}",
                "--timeout", "30", "--graceful-timeout", "5", "--log-level", "info",
                "--access-logfile", str(rd / "gunicorn-access.log"), "--control-socket", str(rd / "gunicorn.ctl")])
            self._add("mcp", "voice", [py, "-m", "demo.voice.mcp", "--host", host, "--port", str(self.s.mcp_port)])
        if "chat" in self.parts:
            prom = rd / "prometheus-multiproc"

            def fresh_prom_dir() -> None:  # a restarted app starts its counters from zero, as in production
                shutil.rmtree(prom, ignore_errors=True)
                prom.mkdir(parents=True)

            self._add("uvicorn", "chat", [
                py, "-m", "uvicorn", "demo.chat.api:app", "--workers", str(self.s.uvicorn_workers), "--host", host,
                "--port", str(self.s.chat_port), "--no-access-log", "--log-level", "info",
                "--timeout-graceful-shutdown", "5"], PROMETHEUS_MULTIPROC_DIR=str(prom), before_start=fresh_prom_dir)
            celery = [py, "-m", "celery", "-A", "demo.chat.tasks"]
            self._add("celery-worker", "chat", [
                *celery, "worker", "-E", "-P", "prefork", "-c", str(self.s.celery_concurrency),
                "-n", f"celery-worker@{socket.gethostname()}", "--without-gossip", "--without-mingle", "-l", "INFO"])
            self._add("celery-beat", "chat", [
                *celery, "beat", "-s", str(rd / "celerybeat-schedule"), "--pidfile=", "-l", "INFO"])

    def _add(self, name: str, part: str, argv: list[str], before_start: Any = None, **env: str) -> None:
        self.children[name] = Child(name, part, argv, self._child_env(**env), self.run_dir / f"{name}.log",
                                    before_start)

    def _apply_schemas(self) -> None:
        todo = [(self.s.voice_db, "voice", self.s.customers)] if "voice" in self.parts else []
        if "chat" in self.parts:
            todo.append((self.s.chat_db, "chatcenter", self.s.sellers))
        deadline = time.monotonic() + 120
        for url, name, count in todo:
            while True:
                try:
                    db.apply_schema(url, name, count)
                    break
                except psycopg.OperationalError as exc:
                    if time.monotonic() > deadline or self.stop_event.is_set():
                        raise
                    log.warning("database not ready for %s schema (%s); retrying", name, str(exc).splitlines()[0])
                    time.sleep(2)

    def _start_providers(self) -> None:
        from demo.marketplace import Marketplace
        from demo.providers import FakeDeepSeek, FakeElevenLabs

        self.deepseek = FakeDeepSeek(api_key=self.s.deepseek_api_key, host=self.s.host,
                                     port=self.s.deepseek_port).start()
        self.elevenlabs = FakeElevenLabs(api_key=self.s.elevenlabs_api_key, host=self.s.host,
                                         port=self.s.elevenlabs_port).start()
        self.marketplace = Marketplace(self.s.host, self.s.marketplace_port, self.s.marketplace_rate,
                                       self.faults.value).start()

    def _start_traffic(self) -> None:
        if "voice" in self.parts:
            from demo.voice.traffic import CallGenerator

            self.voice_traffic = CallGenerator(self.s, self.faults, self.stop_event)
            self.voice_traffic.start()
        if "chat" in self.parts:
            from demo.chat.traffic import UserGenerator

            self.chat_traffic = UserGenerator(self.s, self.faults, self.stop_event)
            self.chat_traffic.start()

    def _clear_stale_faults(self) -> None:
        """Switches left on by an earlier run of the same parts (it may have been killed)."""
        try:
            for name, f in FAULTS.items():
                if f.part in self.parts:
                    self.faults.set(name, False)
        except (OSError, RespError) as exc:
            log.warning("cannot reach Redis to clear old faults: %s", exc)

    # ---- the main loop ----------------------------------------------------------------------------
    def run(self) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        try:
            self._clear_stale_faults()
            self._apply_schemas()
            if "providers" in self.parts:
                self._start_providers()
            self._build_children()
            self._start_control()
            self._start_traffic()
            (self.run_dir / "state.json").write_text(json.dumps(
                {"pid": os.getpid(), "control": self.s.control_base, "parts": self.parts}))
            log.info("demo up: parts %s, control API %s, logs in %s", ",".join(self.parts), self.s.control_base,
                     self.run_dir)
            while not self.stop_event.is_set():
                with self.cond:
                    gen = self.generation
                try:
                    self._apply_faults()
                except Exception:
                    log.exception("applying faults failed")
                self._supervise()
                self._maintain()
                with self.cond:
                    self.applied_generation = gen
                    self.cond.notify_all()
                    self.cond.wait(LOOP_SECONDS)
        finally:
            self.shutdown()
        return 0

    def _supervise(self) -> None:
        now = time.monotonic()
        for c in self.children.values():
            if c.wanted and not c.running() and not self.stop_event.is_set():
                if c.proc is not None and c.proc.returncode is not None and c.next_start == 0:
                    log.warning("%s exited with %s; restarting", c.name, c.proc.returncode)
                    c.next_start = now + min(30, 1 + c.starts)
                if now >= c.next_start:
                    c.next_start = 0
                    c.signal_group(signal.SIGKILL)  # leftovers of a dead master must not hold the port
                    try:
                        c.start()
                    except OSError as exc:
                        log.error("cannot start %s: %s", c.name, exc)
                        c.next_start = now + 5
            elif not c.wanted and c.reap_at is not None and now >= c.reap_at:
                c.signal_group(signal.SIGKILL)
                c.reap_at = None
        if not self.ready:
            self.ready = all(h["ok"] for h in self.health().values())
            if self.ready:
                log.info("demo ready")

    def _maintain(self) -> None:
        # the fakes keep request logs and conversations: bound them in a demo that runs for weeks
        for fake in (self.deepseek, self.elevenlabs):
            if fake is not None and len(fake.requests) > 2000:
                with fake._lock:
                    del fake.requests[:-1000]
        if self.elevenlabs is not None and len(self.elevenlabs._conversations) > 5000:
            cutoff = time.time() - 86400
            with self.elevenlabs._lock:
                for cid in [k for k, v in self.elevenlabs._conversations.items()
                            if v["start_time_unix_secs"] < cutoff]:
                    del self.elevenlabs._conversations[cid]
        if self.deepseek is not None and len(self.deepseek._prefixes) > 20000:
            with self.deepseek._lock:
                self.deepseek._prefixes.clear()

    def shutdown(self) -> None:
        log.info("stopping the demo")
        self.stop_event.set()
        if self.control is not None:
            self.control.shutdown()
            self.control.server_close()
        for t in (self.voice_traffic, self.chat_traffic):  # first: the call generator hangs up its calls
            if t is not None:
                t.join(10)
        live = [c for c in self.children.values() if c.pgid is not None]
        for c in live:
            c.wanted = False
            c.terminate()
        deadline = time.monotonic() + 10
        for c in live:
            if c.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    c.proc.wait(max(0.1, deadline - time.monotonic()))
        for c in live:
            c.signal_group(signal.SIGKILL)
        for conn in self.held:
            with contextlib.suppress(psycopg.Error):
                conn.close()
        for fake in (self.deepseek, self.elevenlabs, self.marketplace):
            if fake is not None:
                fake.stop()
        log.info("demo stopped")

    # ---- faults -----------------------------------------------------------------------------------
    def _apply_faults(self) -> None:
        desired = self.faults.all(max_age=0)
        for name, fault in FAULTS.items():
            if fault.part not in self.parts:
                continue
            state = desired.get(name)
            on = state is not None
            value = None
            if on:
                value = state.get("value")
                value = float(value) if value is not None else fault.default
            prev = self.applied.get(name, (False, None))
            handler = HANDLERS.get(name)
            if handler is not None:
                try:
                    handler(self, on, value, prev)
                    self.fault_errors.pop(name, None)
                except Exception as exc:
                    log.exception("fault %s (%s) failed", name, "on" if on else "off")
                    self.fault_errors[name] = f"{type(exc).__name__}: {exc}"
            if prev != (on, value):
                log.info("fault %s %s%s", name, "on" if on else "off", f" value={value}" if value is not None else "")
            self.applied[name] = (on, value)

    def _kill_worker(self, name: str, child: str, on: bool, value: float | None, prev: tuple) -> None:
        now = time.monotonic()
        if not on:
            self.next_kill.pop(name, None)
            return
        if not prev[0] or now >= self.next_kill.get(name, 0):
            workers = self.children[child].workers()
            if workers:
                victim = workers[0]
                log.info("fault %s: SIGKILL worker %s", name, victim.pid)
                with contextlib.suppress(psutil.Error):
                    victim.kill()
            self.next_kill[name] = now + max(1.0, value or 15.0)

    def _hold_down(self, child: str, down: bool, how: str) -> None:
        c = self.children[child]
        if down and c.wanted:
            c.wanted = False
            if how == "master":
                c.kill_master()
            elif how == "group":
                c.signal_group(signal.SIGKILL)
                if c.proc is not None:
                    c.proc.wait()
            else:
                c.stop()
        elif not down and not c.wanted:
            c.signal_group(signal.SIGKILL)
            c.wanted = True
            c.next_start = 0
            c.proc = None  # held down, not crashed: restart now, without the crash back-off

    def _fault_kill_gunicorn_worker(self, on: bool, value: float | None, prev: tuple) -> None:
        self._kill_worker("kill-gunicorn-worker", "gunicorn", on, value, prev)

    def _fault_kill_uvicorn_worker(self, on: bool, value: float | None, prev: tuple) -> None:
        self._kill_worker("kill-uvicorn-worker", "uvicorn", on, value, prev)

    def _fault_kill_gunicorn_master(self, on: bool, value: float | None, prev: tuple) -> None:
        self._hold_down("gunicorn", on, "master")

    def _fault_kill_uvicorn_master(self, on: bool, value: float | None, prev: tuple) -> None:
        self._hold_down("uvicorn", on, "master")

    def _fault_kill_celery_worker(self, on: bool, value: float | None, prev: tuple) -> None:
        self._hold_down("celery-worker", on, "group")

    def _fault_stop_beat(self, on: bool, value: float | None, prev: tuple) -> None:
        self._hold_down("celery-beat", on, "term")

    def _fault_stop_mcp(self, on: bool, value: float | None, prev: tuple) -> None:
        self._hold_down("mcp", on, "term")

    def _fault_llm_spend_spike(self, on: bool, value: float | None, prev: tuple) -> None:
        if self.deepseek is not None:
            self.deepseek.token_multiplier = value if on and value else 1.0

    def _fault_llm_402(self, on: bool, value: float | None, prev: tuple) -> None:
        ds = self.deepseek
        if ds is None:
            return
        if on and self.saved_balances is None:
            self.saved_balances = ds.balances()
            for currency in self.saved_balances:
                ds.set_balance(currency, total="0", granted="0", topped_up="0")
        elif not on and self.saved_balances is not None:
            for currency, b in self.saved_balances.items():
                ds.set_balance(currency, total=Decimal(b["total"]), granted=Decimal(b["granted"]),
                               topped_up=Decimal(b["topped_up"]))
            self.saved_balances = None

    def _fault_hold_db_connections(self, on: bool, value: float | None, prev: tuple) -> None:
        if not on:
            for conn in self.held:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
            self.held = []
            return
        if prev == (on, value):
            return
        if value:
            target = int(value)
        else:
            with db.connect(self.s.voice_db, "demo-setup") as conn:
                limit = conn.execute("SELECT setting::int FROM pg_settings WHERE name = 'max_connections'").fetchone()
                used = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")\
                    .fetchone()
            target = max(1, int(limit[0] * 0.9) - used[0] + 1)
        while len(self.held) > target:
            self.held.pop().close()
        while len(self.held) < target:
            try:
                conn = db.connect(self.s.voice_db, "demo-hold-db-connections", autocommit=False)
                conn.execute("SELECT 1")  # leaves the session idle in transaction
            except psycopg.OperationalError as exc:
                log.warning("hold-db-connections: stopped at %d connections: %s", len(self.held),
                            str(exc).splitlines()[0])
                break
            self.held.append(conn)

    def _fault_grow_capacity(self, on: bool, value: float | None, prev: tuple) -> None:
        now = time.monotonic()
        if on and (prev != (on, value)):
            self._grow(value or 1.2)
            self.capacity_bump = now + 30
        elif on and now >= self.capacity_bump:
            self.capacity_bump = now + 30
            with db.connect(self.s.chat_db, "demo-grow-capacity") as conn:
                conn.execute("UPDATE seller_users SET last_seen_at = now() WHERE seller_id IN "
                             "(SELECT id FROM sellers WHERE name LIKE 'capacity-seller-%')")
                conn.execute("UPDATE sellers SET last_active_at = now() WHERE name LIKE 'capacity-seller-%'")
        elif not on and prev[0]:
            self._shrink()

    def _grow(self, factor: float) -> None:
        want = {k: math.ceil(v * factor) for k, v in site_facts.capacity_thresholds().items()}
        with db.connect(self.s.chat_db, "demo-grow-capacity") as conn, conn.transaction():
            active = conn.execute("SELECT count(*) FROM sellers WHERE is_active").fetchone()[0]
            have = conn.execute("SELECT count(*) FROM sellers WHERE name LIKE 'capacity-seller-%'").fetchone()[0]
            conn.execute(
                "INSERT INTO sellers (name, last_active_at) SELECT 'capacity-seller-' || g, now() "
                "FROM generate_series(%s::int, %s::int) g", (have + 1, have + max(0, want["active_sellers"] - active)))
            conn.execute("UPDATE sellers SET last_active_at = now() WHERE name LIKE 'capacity-seller-%'")
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM sellers WHERE name LIKE 'capacity-seller-%' ORDER BY id").fetchall()]
            if not ids:
                return
            seen = conn.execute("SELECT count(*) FROM seller_users WHERE last_seen_at > now() - interval '5 minutes'")\
                .fetchone()[0]
            conn.execute(
                "INSERT INTO seller_users (seller_id, email, last_seen_at) "
                "SELECT (%s::bigint[])[1 + g %% %s], 'capacity-user-' || g || '@demo.example', now() "
                "FROM generate_series(1, %s::int) g", (ids, len(ids), max(0, want["concurrent_users"] - seen)))
            today = conn.execute("SELECT count(*) FROM chats WHERE created_at > now() - interval '24 hours'")\
                .fetchone()[0]
            conn.execute(
                "INSERT INTO chats (seller_id, marketplace, external_id, created_at, last_message_at, analyzed_at) "
                "SELECT (%s::bigint[])[1 + g %% %s], 'wb', 'capacity-' || g || '-' || %s, t, t, t "
                "FROM generate_series(1, %s::int) g, LATERAL (SELECT now() - random() * interval '12 hours' AS t) x",
                (ids, len(ids), int(time.time()), max(0, want["chats_per_day"] - today)))

    def _shrink(self) -> None:
        with db.connect(self.s.chat_db, "demo-grow-capacity") as conn, conn.transaction():
            cap = "(SELECT id FROM sellers WHERE name LIKE 'capacity-seller-%')"
            conn.execute(f"DELETE FROM messages WHERE seller_id IN {cap}")
            conn.execute(f"DELETE FROM interaction_events WHERE seller_id IN {cap}")
            conn.execute(f"DELETE FROM interactions WHERE seller_id IN {cap}")
            conn.execute(f"DELETE FROM chats WHERE seller_id IN {cap}")
            conn.execute(f"DELETE FROM seller_users WHERE seller_id IN {cap}")
            conn.execute("DELETE FROM sellers WHERE name LIKE 'capacity-seller-%'")

    # ---- control API ------------------------------------------------------------------------------
    def set_fault(self, name: str, on: bool, value: float | None) -> dict:
        self.faults.set(name, on, value)
        # the loop reads the generation before it reads Redis: once it has finished an iteration that
        # began after our increment, it has seen our write
        with self.cond:
            self.generation += 1
            target = self.generation
            self.cond.notify_all()
            deadline = time.monotonic() + 30
            while self.applied_generation < target and time.monotonic() < deadline:
                self.cond.wait(0.5)
        f = FAULTS[name]
        if name in APPLIED_BY_THE_APPS:
            time.sleep(CACHE_SECONDS + 0.1)  # read by the apps through their cache: now in effect everywhere
        return {"error": self.fault_errors.get(name), "fault": name, "state": "on" if on else "off",
                "value": value if value is not None else f.default, "part": f.part,
                "applied_here": f.part in self.parts, "effect": f.effect}

    def health(self) -> dict[str, dict]:
        def probe(url: str) -> bool:
            try:
                return requests.get(url, timeout=1).status_code == 200
            except requests.RequestException:
                return False

        loc = self.s._local
        checks: dict[str, str] = {}
        if "voice" in self.parts:
            checks["voice-api"] = loc(self.s.voice_port) + "/health"
            checks["mcp"] = loc(self.s.mcp_port) + "/health"
        if "chat" in self.parts:
            checks["chat-api"] = loc(self.s.chat_port) + "/api/health"
        if "providers" in self.parts:
            checks["marketplace"] = loc(self.s.marketplace_port) + "/health"
            checks["deepseek"] = loc(self.s.deepseek_port) + "/health"
            checks["elevenlabs"] = loc(self.s.elevenlabs_port) + "/health"
        out = {name: {"url": url, "ok": probe(url)} for name, url in checks.items()}
        for name in ("celery-worker", "celery-beat"):
            if name in self.children:
                out[name] = {"ok": self.children[name].running()}
        return out

    def status(self) -> dict:
        desired = self.faults.all(max_age=0)
        return {
            "ready": self.ready,
            "parts": list(self.parts),
            "run_dir": str(self.run_dir),
            "children": {n: c.status() for n, c in self.children.items()},
            "health": self.health(),
            "faults": {n: {"on": n in desired, "value": desired[n].get("value") if n in desired else None,
                           "part": f.part} for n, f in FAULTS.items()},
            "traffic": {"voice": self.voice_traffic.stats() if self.voice_traffic else None,
                        "chat": self.chat_traffic.stats() if self.chat_traffic else None},
            "held_db_connections": len(self.held),
        }

    def _start_control(self) -> None:
        sup = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body, indent=1, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/status":
                    self._reply(200, sup.status())
                elif self.path == "/faults":
                    self._reply(200, {n: {"part": f.part, "default": f.default, "value": f.value_help,
                                          "effect": f.effect} for n, f in FAULTS.items()})
                else:
                    self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                name = self.path.removeprefix("/faults/")
                if not self.path.startswith("/faults/") or name not in FAULTS:
                    self._reply(404, {"error": f"unknown fault {name!r}", "known": sorted(FAULTS)})
                    return
                try:
                    req = json.loads(body or b"{}")
                    state = req["state"]
                    if state not in ("on", "off"):
                        raise ValueError("state must be on or off")
                    value = None if req.get("value") is None else float(req["value"])
                    if value is not None and (value < 0 or not math.isfinite(value)):
                        raise ValueError("value must be a finite number >= 0")
                    if value is not None and name in ("drop-end-webhooks", "api-errors") and value > 1:
                        raise ValueError("value is a share between 0 and 1")
                except (ValueError, KeyError, TypeError) as exc:
                    self._reply(400, {"error": str(exc)})
                    return
                try:
                    result = sup.set_fault(name, state == "on", value)
                    self._reply(500 if result["error"] else 200, result)
                except (OSError, RespError) as exc:
                    self._reply(503, {"error": f"Redis unavailable: {exc}"})

        self.control = ThreadingHTTPServer((self.s.control_host, self.s.control_port), Handler)
        self.control.daemon_threads = True
        threading.Thread(target=self.control.serve_forever, kwargs={"poll_interval": 0.5}, name="control",
                         daemon=True).start()


# Which faults the supervisor applies itself; the others are read by the apps (through their cache of the fault
# store). Checked against the catalogue at import: a fault with neither, or with a misspelt name, is an error
# here rather than a fault that silently does nothing.
FaultHandler = Callable[[Supervisor, bool, float | None, tuple], None]
HANDLERS: dict[str, FaultHandler] = {
    "kill-gunicorn-worker": Supervisor._fault_kill_gunicorn_worker,
    "kill-uvicorn-worker": Supervisor._fault_kill_uvicorn_worker,
    "kill-gunicorn-master": Supervisor._fault_kill_gunicorn_master,
    "kill-uvicorn-master": Supervisor._fault_kill_uvicorn_master,
    "kill-celery-worker": Supervisor._fault_kill_celery_worker,
    "stop-beat": Supervisor._fault_stop_beat,
    "stop-mcp": Supervisor._fault_stop_mcp,
    "llm-spend-spike": Supervisor._fault_llm_spend_spike,
    "llm-402": Supervisor._fault_llm_402,
    "hold-db-connections": Supervisor._fault_hold_db_connections,
    "grow-capacity": Supervisor._fault_grow_capacity,
}
APPLIED_BY_THE_APPS = frozenset({
    "drop-end-webhooks", "wrong-charges", "marketplace-slow", "marketplace-429", "marketplace-5xx", "sla-unanswered",
    "api-errors", "api-slow",
})


def check_fault_handlers() -> None:
    both = set(HANDLERS) & APPLIED_BY_THE_APPS
    unknown = (set(HANDLERS) | APPLIED_BY_THE_APPS) - set(FAULTS)
    unhandled = set(FAULTS) - set(HANDLERS) - APPLIED_BY_THE_APPS
    if both or unknown or unhandled:
        raise RuntimeError(f"demo fault handlers out of step with demo.faults.FAULTS: in both {sorted(both)}, "
                           f"unknown {sorted(unknown)}, unhandled {sorted(unhandled)}")


check_fault_handlers()
