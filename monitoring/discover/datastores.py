"""PostgreSQL and Redis running on the host, for ``lookout discover``.

Reads: the ``Host`` snapshot (``postgres`` and ``redis-server`` processes, their listening ports and
units); Redis ``INFO server`` over a plain socket (version; a Redis that wants a password says so);
PostgreSQL through psycopg, read-only and with short timeouts: ``server_version_num``, the list of
databases and, in each, whether the reference tables of the business checks exist. Connection URLs come
from the apps' environments (a variable holding a ``postgres(ql)://`` URL to that port) or, failing that,
libpq's usual sources (``PGUSER``, ``PGPASSWORD``, ``~/.pgpass``) as the current user and as ``postgres``.
Publishes: ``find_redis(host)``, ``find_postgres(host, envs)``, and ``CHECK_TABLES``.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from lookout.exporters.collectors import _servers
from lookout.monitoring.discover.host import Host, Listen

TIMEOUT = 3.0
MAX_DATABASES = 20
# the tables each business check's default queries read (exporters/collectors/<check>.py)
CHECK_TABLES: dict[str, tuple[str, ...]] = {
    "credits": ("conversations", "customer_credits", "customer_agents", "credit_transactions"),
    "marketplace_sync": ("sync_state", "sellers", "seller_marketplace_accounts"),
    "sla": ("interactions", "sellers"),
    "capacity": ("sellers", "chats", "seller_users"),
    "llm_spend": ("llm_usage",),
}


def _one_per_port(listens: list[Listen]) -> list[Listen]:
    """One socket per port (IPv4 and IPv6 of one server are one), the loopback-reachable one first."""
    out: dict[int, Listen] = {}
    for ls in sorted(listens, key=lambda x: (not x.loopback_reachable, x)):
        out.setdefault(ls.port, ls)
    return [out[p] for p in sorted(out)]


# --- Redis ------------------------------------------------------------------------------------------
@dataclass
class RedisFound:
    pid: int
    port: int
    unit: str | None
    version: str | None
    note: str | None = None


def redis_info(port: int, host: str = "127.0.0.1", timeout: float = TIMEOUT) -> tuple[str | None, str | None]:
    """(version, note) from ``INFO server``; sends nothing else (no AUTH: a password is never tried)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            data = b""
            while len(data) < 65536:
                chunk = s.recv(8192)
                if not chunk:
                    break
                data += chunk
                if data.startswith(b"-") and b"\r\n" in data:
                    break
                if data.startswith(b"$"):
                    head, _, rest = data.partition(b"\r\n")
                    if len(rest) >= int(head[1:]):
                        break
    except (OSError, ValueError) as exc:
        return None, f"no answer on port {port} ({type(exc).__name__})"
    if data.startswith(b"-"):
        return None, "wants a password: version unknown"
    m = re.search(rb"redis_version:([0-9A-Za-z.\-]+)", data)
    return (m.group(1).decode() if m else None), None


def find_redis(host: Host) -> list[RedisFound]:
    out = []
    for pid in sorted(host.procs):
        args = host.args.get(pid, [])
        if _servers.program(args) != "redis-server" and host.procs[pid].comm != "redis-server":
            continue
        if host.procs.get(host.procs[pid].ppid) and host.procs[host.procs[pid].ppid].comm == "redis-server":
            continue  # a BGSAVE child
        for ls in _one_per_port(host.listening(pid)):
            version, note = redis_info(ls.port) if ls.loopback_reachable else (None, "not on loopback: not asked")
            out.append(RedisFound(pid, ls.port, host.unit(pid), version, note))
    return sorted(out, key=lambda r: r.port)


# --- PostgreSQL -------------------------------------------------------------------------------------
@dataclass
class DatabaseFound:
    name: str
    dsn: str  # may hold a password: never printed (``dsn_text`` is)
    dsn_var: str | None  # the app's environment variable holding it, when one does
    tables: dict[str, bool] = field(default_factory=dict)  # reference table -> exists

    def checks(self) -> dict[str, list[str]]:
        """check -> missing tables (empty: the check can run)."""
        return {c: [t for t in ts if not self.tables.get(t)] for c, ts in CHECK_TABLES.items()}


@dataclass
class PostgresFound:
    pid: int
    port: int
    unit: str | None
    version: str | None
    databases: list[DatabaseFound] = field(default_factory=list)
    note: str | None = None


def _pg_version_from_path(path: str | None) -> str | None:
    m = re.search(r"/postgresql/(\d+)/", path or "")
    return m.group(1) if m else None


def _with_db(dsn: str, db: str) -> str:
    u = urlsplit(dsn)
    return urlunsplit((u.scheme, u.netloc, "/" + db, u.query, ""))


def _connect(dsn: str):
    import psycopg

    conn = psycopg.connect(dsn, connect_timeout=int(TIMEOUT), autocommit=True,
                           options="-c default_transaction_read_only=on -c statement_timeout=3000")
    return conn


def app_dsns(envs: dict[int, dict[str, str]], port: int) -> list[tuple[str, str]]:
    """(variable, URL) of the apps' environment variables that point at a local PostgreSQL on ``port``."""
    out = set()
    for env in envs.values():
        for k, v in env.items():
            if not v.startswith(("postgres://", "postgresql://")):
                continue
            try:
                u = urlsplit(v)
                vport = u.port or 5432
            except ValueError:
                continue
            if vport == port and (u.hostname or "localhost") in ("localhost", "127.0.0.1", "::1", ""):
                out.add((k, v.replace("postgres://", "postgresql://", 1)))
    return sorted(out)


def find_postgres(host: Host, envs: dict[int, dict[str, str]]) -> list[PostgresFound]:
    out = []
    for pid in sorted(host.procs):
        st = host.procs[pid]
        parent = host.procs.get(st.ppid)
        if st.comm not in ("postgres", "postmaster") or (parent and parent.comm in ("postgres", "postmaster")):
            continue
        for ls in _one_per_port(host.listening(pid)):
            pg = PostgresFound(pid, ls.port, host.unit(pid), _pg_version_from_path(host.exe(pid)))
            if ls.loopback_reachable:
                _inspect(pg, app_dsns(envs, ls.port))
            else:
                pg.note = "not on loopback: not asked"
            out.append(pg)
    return sorted(out, key=lambda p: p.port)


def _inspect(pg: PostgresFound, dsns: list[tuple[str, str]]) -> None:
    """Fill version and databases, from the apps' URLs first, else libpq's defaults."""
    users = dict.fromkeys([os.environ.get("PGUSER") or getpass.getuser(), "postgres"])
    tries = [(var, dsn) for var, dsn in dsns] + [
        (None, f"postgresql://{u}@127.0.0.1:{pg.port}/postgres") for u in users]
    listed: list[str] | None = None
    base = None
    errors = set()
    for var, dsn in tries:
        try:
            with _connect(dsn) as conn:
                num = conn.execute("SHOW server_version_num").fetchone()[0]
                pg.version = str(int(num) // 10000)
                if var is None:
                    rows = conn.execute(
                        "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                        "AND datname <> 'postgres' ORDER BY datname LIMIT %s", (MAX_DATABASES + 1,)).fetchall()
                    listed = [r[0] for r in rows]
                    base = dsn
                    break
                name = urlsplit(dsn).path.strip("/") or "postgres"
                if not any(d.name == name for d in pg.databases):
                    pg.databases.append(DatabaseFound(name, dsn, var, _tables(conn)))
        except Exception as exc:
            errors.add(type(exc).__name__)
    if pg.databases:
        return  # the apps' own databases are the platform's
    if listed is None:
        pg.note = (f"could not connect ({', '.join(sorted(errors))}): set PGUSER/PGPASSWORD or ~/.pgpass "
                   "and run again, or add the databases by hand")
        return
    if len(listed) > MAX_DATABASES:
        pg.note = f"more than {MAX_DATABASES} databases: only the first {MAX_DATABASES} are described"
    for name in listed[:MAX_DATABASES]:
        dsn = _with_db(base or "", name)
        try:
            with _connect(dsn) as conn:
                pg.databases.append(DatabaseFound(name, dsn, None, _tables(conn)))
        except Exception as exc:
            pg.databases.append(DatabaseFound(name, dsn, None, {}))
            pg.note = f"database {name}: could not connect ({type(exc).__name__})"


def _tables(conn) -> dict[str, bool]:
    names = sorted({t for ts in CHECK_TABLES.values() for t in ts})
    row = conn.execute("SELECT " + ", ".join("to_regclass(%s) IS NOT NULL" for _ in names), names).fetchone()
    return dict(zip(names, row, strict=True))
