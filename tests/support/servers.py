"""The tests' names for the shared launchers (``lookout.stack.servers``, ``lookout.stack.procs``): PostgreSQL and
Redis on free ports, and process helpers.

Each test session (each xdist worker) starts its own servers (``tests/conftest.py``); tests that stop or
break a server start a private one with the same helpers.
"""

from __future__ import annotations

from lookout.stack.procs import free_port, kill_process_groups, wait_port
from lookout.stack.servers import Postgres, Redis, postgres_server, redis_server

__all__ = ["Postgres", "Redis", "free_port", "kill_process_groups", "postgres_server", "redis_server", "wait_port"]
