"""The supervisor behind ``python -m lookout.demo up``: one process that runs, breaks and repairs the demo.

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

Modules: ``children`` (the child processes and their command lines), ``schema`` (databases ready first),
``core`` (the ``Supervisor`` and its main loop), ``fault_handlers`` (the process-level faults, an explicit
table), ``capacity`` (the ``grow-capacity`` SQL), ``control`` (the control API).
"""

from lookout.demo.supervisor.children import Child
from lookout.demo.supervisor.core import LOOP_SECONDS, Supervisor
from lookout.demo.supervisor.fault_handlers import APPLIED_BY_THE_APPS, HANDLERS, ProcessFaults, check_fault_handlers

__all__ = ["APPLIED_BY_THE_APPS", "HANDLERS", "LOOP_SECONDS", "Child", "ProcessFaults", "Supervisor",
           "check_fault_handlers"]
