"""Command line: ``python -m lookout.stack up|receiver``.

- ``up [--site FILE]``: start the whole stack natively for a site (default: the demo, ``examples/demo.yaml``;
  see ``lookout.stack.native``), print its URLs, run until Ctrl-C or SIGTERM, then stop everything it started.
- ``receiver [--host H] [--port P]``: run only the stand-in pager (compose's ``alert-relay``): it records
  every notification and lists them at ``/notifications``.

The configuration of a bare VPS under systemd is ``lookout generate`` (docs/install.md).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from lookout.stack.native import HA_SITE, Options, Stack


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lookout.stack", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole stack natively until interrupted")
    up.add_argument("--site", type=Path, help="the site file to watch (default: the demo's, examples/demo.yaml); "
                    "its generated files are used as they are, with this machine's addresses")
    up.add_argument("--pg-url", help="demo: PostgreSQL server URL (default: a throwaway server in the run "
                    "directory); databases voice and chatcenter are created on it when missing")
    up.add_argument("--redis-url", help="demo: Redis URL (default: a throwaway redis-server)")
    up.add_argument("--no-demo", dest="demo", action="store_false",
                    help="do not start the demo platforms (implied by a --site other than the demo's)")
    up.add_argument("--run-dir", type=Path, help="logs and data (default: a temporary directory, removed on exit)")
    up.add_argument("--scrape-interval", help="override every scrape interval (e.g. 5s)")
    up.add_argument("--evaluation-interval", help="override the rule evaluation interval")
    up.add_argument("--ha", action="store_true", help="run an HA pair of Prometheus replicas (examples/ha.yaml "
                    "says the same in a site file)")
    up.add_argument("--store", choices=["victoriametrics"], help="the long-term store the replicas remote-write "
                    "to, with vmalert for the rules needing more history")
    up.add_argument("--demo-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for `python -m lookout.demo up` (repeatable), e.g. --demo-arg=--speed=10")
    rc = sub.add_parser("receiver", help="run the stand-in pager alone")
    rc.add_argument("--host", default="127.0.0.1")
    rc.add_argument("--port", type=int, default=9095)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "receiver":
        return _receiver(args)
    demo_site = args.site is None or args.site.resolve() in (Options.site, HA_SITE)
    opts = Options(ha=args.ha, store=args.store, run_dir=args.run_dir, pg_url=args.pg_url, redis_url=args.redis_url,
                   demo=args.demo and demo_site, demo_args=args.demo_arg, site=args.site or Options.site,
                   scrape_interval=args.scrape_interval, evaluation_interval=args.evaluation_interval)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stack = Stack(opts)
    try:
        stack.start()
        print(stack.dump_describe(), flush=True)
        print("running; Ctrl-C stops everything", file=sys.stderr, flush=True)
        while not stop.wait(1):
            dead = [p.name for p in stack.procs.values() if not p.alive]
            if dead:
                print(f"stopped unexpectedly: {', '.join(dead)} (logs in {stack.run_dir}/logs)", file=sys.stderr)
                return 1
        return 0
    except (OSError, RuntimeError, TimeoutError) as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


def _receiver(args: argparse.Namespace) -> int:
    from lookout.stack.receiver import Recorder

    rec = Recorder(args.host, args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    rec.start()
    print(f"recording notifications on {rec.url}; list: {rec.url}/notifications", file=sys.stderr, flush=True)
    stop.wait()
    rec.stop()
    return 0
