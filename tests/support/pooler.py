"""PgBouncer in transaction mode in front of a test PostgreSQL, on a free loopback port (Debian's ``pgbouncer``).

``server_round_robin`` spreads the transactions over the server connections, as a busy pool does, so that a
client's consecutive transactions land on different server connections."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lookout.stack.procs import Proc, free_port, wait_port
from lookout.stack.servers import Postgres, as_postgres

PGBOUNCER = "/usr/sbin/pgbouncer"  # scripts/install-deps installs it


@contextlib.contextmanager
def pgbouncer(server: Postgres, pool_size: int = 4) -> Iterator[int]:
    """Yield the port of a PgBouncer (transaction mode, trust) in front of ``server``; stopped and removed on exit."""
    base = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    os.chmod(base, 0o777)  # it runs as postgres (it refuses root), and writes its log here
    port = free_port()
    (base / "users.txt").write_text(f'"{server.user}" ""\n')
    (base / "pgbouncer.ini").write_text(f"""[databases]
* = host=127.0.0.1 port={server.port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {base}/users.txt
pool_mode = transaction
default_pool_size = {pool_size}
server_round_robin = 1
logfile = {base}/pgbouncer.log
""")
    for f in base.iterdir():
        os.chmod(f, 0o644)
    proc = Proc("pgbouncer", as_postgres([PGBOUNCER, str(base / "pgbouncer.ini")]), base / "out.log")
    try:
        proc.start()
        wait_port(port, 15)
        yield port
    finally:
        proc.stop(timeout=5)
        shutil.rmtree(base, ignore_errors=True)
