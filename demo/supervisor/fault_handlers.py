"""The process-level faults of the demo, applied by the supervisor's main loop (the only thread that forks).

Publishes ``ProcessFaults`` (one method a fault, with the state a fault keeps between passes: held database
connections, the row lock and its waiters, saved balances, kill times), ``HANDLERS`` (fault name -> method, an
explicit table), ``APPLIED_BY_THE_APPS`` (the faults the apps read from the shared switches themselves) and
``check_fault_handlers``, run at import: a fault with neither, or a misspelt name, is an error here rather than a
fault that silently does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import psycopg

import lookout.demo.supervisor.capacity as capacity
from lookout.demo import db
from lookout.demo.faults import FAULTS
from lookout.demo.settings import Settings
from lookout.demo.supervisor.children import Child, write_release

if TYPE_CHECKING:
    from lookout.demo.providers import FakeDeepSeek

log = logging.getLogger("lookout.demo")


class ProcessFaults:
    """Each method takes (on, value, prev): whether the fault is on, its value, and the (on, value) it had at the
    previous pass; it is called at every pass of the main loop."""

    def __init__(self, settings: Settings, children: dict[str, Child]):
        self.s = settings
        self.children = children
        self.deepseek: FakeDeepSeek | None = None  # the fake DeepSeek, once the providers part has started it
        self.next_kill: dict[str, float] = {}
        self.held: list[psycopg.Connection] = []
        self.lock_holder: psycopg.Connection | None = None  # block-db: the session holding the row lock
        self.lock_waiters: list[tuple[psycopg.Connection, threading.Thread]] = []
        self.saved_balances: dict[str, dict[str, str]] | None = None
        self.capacity_bump = 0.0

    def release(self) -> None:
        """Close what the database faults hold (at shutdown)."""
        for conn in self.held:
            with contextlib.suppress(psycopg.Error):
                conn.close()
        self.block_db(False, None, (True, None))

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

    def kill_gunicorn_worker(self, on: bool, value: float | None, prev: tuple) -> None:
        self._kill_worker("kill-gunicorn-worker", "gunicorn", on, value, prev)

    def kill_uvicorn_worker(self, on: bool, value: float | None, prev: tuple) -> None:
        self._kill_worker("kill-uvicorn-worker", "uvicorn", on, value, prev)

    def broken_deploy(self, on: bool, value: float | None, prev: tuple) -> None:
        """Deploy a release whose webhook handler imports a module that is not installed (on), or roll back to
        a working one (off): a new REVISION, then Gunicorn restarted as a deploy script does."""
        c = self.children.get("gunicorn")
        if c is None or on == prev[0]:
            return
        write_release(Path(self.s.deploy_path))
        c.env = {**c.env, "DEMO_BROKEN_DEPLOY": "1" if on else ""}
        if c.wanted:
            c.stop()
            c.proc, c.next_start = None, 0  # restarted by the next supervision pass, without crash back-off

    def kill_gunicorn_master(self, on: bool, value: float | None, prev: tuple) -> None:
        self._hold_down("gunicorn", on, "master")

    def kill_uvicorn_master(self, on: bool, value: float | None, prev: tuple) -> None:
        self._hold_down("uvicorn", on, "master")

    def kill_celery_worker(self, on: bool, value: float | None, prev: tuple) -> None:
        self._hold_down("celery-worker", on, "group")

    def stop_beat(self, on: bool, value: float | None, prev: tuple) -> None:
        self._hold_down("celery-beat", on, "term")

    def stop_mcp(self, on: bool, value: float | None, prev: tuple) -> None:
        self._hold_down("mcp", on, "term")

    def llm_spend_spike(self, on: bool, value: float | None, prev: tuple) -> None:
        if self.deepseek is not None:
            self.deepseek.token_multiplier = value if on and value else 1.0

    def llm_402(self, on: bool, value: float | None, prev: tuple) -> None:
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

    def hold_db_connections(self, on: bool, value: float | None, prev: tuple) -> None:
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

    def block_db(self, on: bool, value: float | None, prev: tuple) -> None:
        if not on or prev != (on, value):  # off, or a new number of waiters: release everything first
            if self.lock_holder is not None:
                with contextlib.suppress(psycopg.Error):
                    self.lock_holder.close()  # rolls back: the waiters get the row, commit and return
                self.lock_holder = None
            for conn, thread in self.lock_waiters:
                thread.join(5)  # each gets the row in turn and commits
                if thread.is_alive():
                    with contextlib.suppress(psycopg.Error):
                        conn.cancel_safe(timeout=2)
                with contextlib.suppress(psycopg.Error):
                    conn.close()
            self.lock_waiters = []
        if not on or self.lock_holder is not None:
            return

        def connect(app: str, autocommit: bool) -> psycopg.Connection:
            # no statement_timeout (lookout.demo.db's default would cancel the waiters after 10 s)
            return psycopg.connect(self.s.voice_db, application_name=app, connect_timeout=5, autocommit=autocommit)

        with connect("demo-setup", True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS demo_lock (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)")
            conn.execute("INSERT INTO demo_lock (id) VALUES (1) ON CONFLICT DO NOTHING")
        self.lock_holder = connect("demo-block-db-holder", False)
        self.lock_holder.execute("SELECT n FROM demo_lock WHERE id = 1 FOR UPDATE")  # then idle in transaction
        for i in range(max(1, int(value or 1))):
            waiter = connect(f"demo-block-db-waiter-{i + 1}", True)

            def wait(conn: psycopg.Connection = waiter) -> None:
                with contextlib.suppress(psycopg.Error):  # released, cancelled or closed: all fine
                    conn.execute("UPDATE demo_lock SET n = n + 1 WHERE id = 1")

            thread = threading.Thread(target=wait, name=f"demo-block-db-{i + 1}", daemon=True)
            thread.start()
            self.lock_waiters.append((waiter, thread))

    def grow_capacity(self, on: bool, value: float | None, prev: tuple) -> None:
        now = time.monotonic()
        if on and (prev != (on, value)):
            capacity.grow(self.s.chat_db, value or 1.2)
            self.capacity_bump = now + 30
        elif on and now >= self.capacity_bump:
            self.capacity_bump = now + 30
            capacity.refresh(self.s.chat_db)
        elif not on and prev[0]:
            capacity.shrink(self.s.chat_db)


Handler = Callable[[ProcessFaults, bool, float | None, tuple], None]
HANDLERS: dict[str, Handler] = {
    "kill-gunicorn-worker": ProcessFaults.kill_gunicorn_worker,
    "kill-uvicorn-worker": ProcessFaults.kill_uvicorn_worker,
    "kill-gunicorn-master": ProcessFaults.kill_gunicorn_master,
    "kill-uvicorn-master": ProcessFaults.kill_uvicorn_master,
    "kill-celery-worker": ProcessFaults.kill_celery_worker,
    "stop-beat": ProcessFaults.stop_beat,
    "stop-mcp": ProcessFaults.stop_mcp,
    "llm-spend-spike": ProcessFaults.llm_spend_spike,
    "llm-402": ProcessFaults.llm_402,
    "hold-db-connections": ProcessFaults.hold_db_connections,
    "grow-capacity": ProcessFaults.grow_capacity,
    "broken-deploy": ProcessFaults.broken_deploy,
    "block-db": ProcessFaults.block_db,
}
APPLIED_BY_THE_APPS = frozenset({
    "drop-end-webhooks", "wrong-charges", "marketplace-slow", "marketplace-429", "marketplace-5xx", "sla-unanswered",
    "api-errors", "api-slow",
    "miss-backup",  # the backup job (lookout.demo.backups) reads the switch
})


def check_fault_handlers() -> None:
    both = set(HANDLERS) & APPLIED_BY_THE_APPS
    unknown = (set(HANDLERS) | APPLIED_BY_THE_APPS) - set(FAULTS)
    unhandled = set(FAULTS) - set(HANDLERS) - APPLIED_BY_THE_APPS
    if both or unknown or unhandled:
        raise RuntimeError(f"demo fault handlers out of step with lookout.demo.faults.FAULTS: in both {sorted(both)}, "
                           f"unknown {sorted(unknown)}, unhandled {sorted(unhandled)}")


check_fault_handlers()
