"""Shared fixtures: one PostgreSQL and one Redis per test session (per xdist worker), and the module order.

``scripts/test`` runs pytest with ``--dist loadscope --no-loadscope-reorder``: each module goes whole to one
xdist worker (its module-scoped fixture, a demo or a whole stack, starts once), in the order set here, so
the three end-to-end stacks start first, side by side, and the short modules fill the remaining worker.
``--dist loadgroup`` is not used: with pytest 9.2 its group suffix on node ids no longer takes effect and the
groups were silently spread over every worker, each starting its own stack (pytest-xdist issue #1386).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import Postgres, Redis, postgres_server, redis_server

pytest_plugins = ["tests.support.tmpcheck"]  # the session leaves nothing in the temporary directory


@pytest.fixture(scope="session")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[Redis]:
    with redis_server() as server:
        yield server


# longest first; modules not listed keep their collection order after these
SLOW_FIRST = ["test_e2e_faults_long.py", "test_e2e_faults_bc.py", "test_e2e.py", "test_demo.py",
              "test_containers.py", "test_worker_pools.py", "test_demo_split.py", "test_celery.py"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: keeps order within a module
