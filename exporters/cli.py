"""Command line: ``lookout-exporter run|check|once --config FILE``.

- ``run``: refresh collectors in the background and serve ``/metrics`` and ``/healthz``.
- ``check``: validate the configuration; exit 0, or 2 with a one-line error naming the key.
- ``once``: refresh every enabled collector once, print the exposition text; exit 0 if all
  succeeded, 1 if any failed, 2 on a bad configuration.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from prometheus_client import generate_latest

from lookout.exporters import __version__, config, report, secrets
from lookout.exporters.collectors import collector_class
from lookout.exporters.runtime import Runtime

log = logging.getLogger("lookout.exporters")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(secrets.RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # third-party chatter (connection pools, kombu) stays at warning unless debugging
    if level != "debug":
        for noisy in ("urllib3", "kombu", "celery", "docker", "psycopg"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def build_runtime(cfg: config.Config) -> Runtime:
    collectors = [collector_class(name)(settings) for name, settings in cfg.collectors.items()]
    return Runtime(collectors)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lookout-exporter", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "serve /metrics and /healthz"),
        ("check", "validate the configuration"),
        ("once", "refresh every collector once and print the metrics"),
    ):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("--config", "-c", required=True, help="YAML configuration file")
        sp.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="overrides log_level")
        if name == "run":
            sp.add_argument("--listen", help=f"HOST:PORT to serve on (default {config.DEFAULT_LISTEN})")
    _add_extra_commands(sub)
    return p


def _add_extra_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Commands contributed by other modules (the drill-down ``report``)."""
    report.add_parser(sub)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command not in ("run", "check", "once"):
        return int(args.func(args))
    setup_logging(args.log_level or "info")
    try:
        cfg = config.load(args.config)
        if getattr(args, "listen", None):
            cfg.listen = args.listen
            config.parse_listen(cfg.listen)
    except config.ConfigError as exc:
        print(f"config error: {secrets.redact(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(args.log_level or cfg.log_level)
    if args.command == "check":
        print(f"{args.config}: ok ({', '.join(cfg.collectors)})")
        return EXIT_OK
    if args.command == "once":
        return _once(cfg)
    return _run(cfg)


def _once(cfg: config.Config) -> int:
    from lookout.exporters.server import make_registry

    runtime = build_runtime(cfg)
    results = runtime.refresh_all_once()
    sys.stdout.write(generate_latest(make_registry(runtime)).decode())
    sys.stdout.flush()
    runtime.stop()
    return EXIT_OK if all(results.values()) else EXIT_FAILED


def _run(cfg: config.Config) -> int:
    from lookout.exporters.server import MetricsServer

    host, port = config.parse_listen(cfg.listen)
    runtime = build_runtime(cfg)
    try:
        server = MetricsServer(runtime, host, port)
    except OSError as exc:
        log.error("cannot listen on %s: %s", cfg.listen, exc.strerror)
        return EXIT_FAILED
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runtime.start()
    server.start()
    log.info("serving /metrics on http://%s:%d with collectors: %s", host, server.port, ", ".join(cfg.collectors))
    while not stop.wait(0.5):
        pass
    server.stop()
    runtime.stop()
    return EXIT_OK
