"""The ``Supervisor``: starts the parts it is given, supervises their children, applies the faults and stops
everything on SIGTERM/SIGINT.

Its main loop (the only thread that forks) restarts a dead child (with a back-off) unless a fault holds it
down, applies the process-level faults (``fault_handlers``) from the shared switches in Redis, and bounds the
fakes' memory. ``set_fault`` (called by the control API) writes a switch and waits until the loop has applied it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import requests

from lookout.demo.faults import CACHE_SECONDS, FAULTS, FaultStore, store
from lookout.demo.resp import RespError
from lookout.demo.settings import Settings
from lookout.demo.supervisor.children import Child, build_children
from lookout.demo.supervisor.control import control_server
from lookout.demo.supervisor.fault_handlers import APPLIED_BY_THE_APPS, HANDLERS, ProcessFaults
from lookout.demo.supervisor.schema import apply_schemas
from lookout.stack.httpd import LocalServer

log = logging.getLogger("lookout.demo")
LOOP_SECONDS = 0.5


class Supervisor:
    """Runs the parts of ``settings`` until SIGTERM/SIGINT (``run``); the control API calls ``set_fault`` and
    ``status``."""

    def __init__(self, settings: Settings):
        self.s = settings
        self.parts = settings.parts
        self.run_dir = Path(settings.run_path)
        self.faults: FaultStore = store(settings.redis_url)
        self.stop_event = threading.Event()
        self.children: dict[str, Child] = {}
        self.applied: dict[str, tuple[bool, float | None]] = {}
        self.fault_errors: dict[str, str] = {}
        self.process_faults = ProcessFaults(settings, self.children)
        self.ready = False
        self.generation = 0
        self.applied_generation = 0
        self.cond = threading.Condition()
        self.deepseek = self.elevenlabs = self.marketplace = None
        self.voice_traffic = self.chat_traffic = None
        self.control: LocalServer | None = None

    def _start_providers(self) -> None:
        from lookout.demo.marketplace import Marketplace
        from lookout.demo.providers import FakeDeepSeek, FakeElevenLabs

        self.deepseek = FakeDeepSeek(api_key=self.s.deepseek_api_key, host=self.s.host,
                                     port=self.s.deepseek_port).start()
        self.elevenlabs = FakeElevenLabs(api_key=self.s.elevenlabs_api_key, host=self.s.host,
                                         port=self.s.elevenlabs_port).start()
        self.marketplace = Marketplace(self.s.host, self.s.marketplace_port, self.s.marketplace_rate,
                                       self.faults.value).start()
        self.process_faults.deepseek = self.deepseek

    def _start_traffic(self) -> None:
        if "voice" in self.parts:
            from lookout.demo.voice.traffic import CallGenerator

            self.voice_traffic = CallGenerator(self.s, self.faults, self.stop_event)
            self.voice_traffic.start()
            from lookout.demo.backups import BackupJob

            BackupJob(self.s, self.faults, self.stop_event).start()
        if "chat" in self.parts:
            from lookout.demo.chat.traffic import UserGenerator

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
            apply_schemas(self.s, self.stop_event)
            if "providers" in self.parts:
                self._start_providers()
            self.children.update(build_children(self.s))
            self.control = control_server(self.s.control_host, self.s.control_port, self.status,
                                          self.set_fault).start()
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
            if fake is not None:
                fake.bound_memory()

    def shutdown(self) -> None:
        log.info("stopping the demo")
        self.stop_event.set()
        if self.control is not None:
            self.control.stop()
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
        self.process_faults.release()
        for fake in (self.deepseek, self.elevenlabs, self.marketplace):
            if fake is not None:
                fake.stop()
        log.info("demo stopped")

    # ---- faults ------------------------------------------------------------------------------------
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
                    handler(self.process_faults, on, value, prev)
                    self.fault_errors.pop(name, None)
                except Exception as exc:
                    log.exception("fault %s (%s) failed", name, "on" if on else "off")
                    self.fault_errors[name] = f"{type(exc).__name__}: {exc}"
            if prev != (on, value):
                log.info("fault %s %s%s", name, "on" if on else "off", f" value={value}" if value is not None else "")
            self.applied[name] = (on, value)

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

        loc = self.s.local_url
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
            "held_db_connections": len(self.process_faults.held),
        }
