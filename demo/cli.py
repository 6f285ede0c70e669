"""Command line of the demo.

- ``python -m lookout.demo up [--only voice,chat,providers] [--pg-url ...] [--redis-url ...] [--*-port N] ...``:
  run the demo in the foreground until SIGTERM/SIGINT (see ``python -m lookout.demo up --help``; every flag
  also reads a ``DEMO_*`` environment variable);
- ``python -m lookout.demo fault NAME on|off [--value X]``: switch a fault through the control API;
- ``python -m lookout.demo status``: children, health checks, faults and traffic counters;
- ``python -m lookout.demo faults``: the list of faults and what each does.
Exit status: 0 ok, 1 the demo or its control API failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import requests

from lookout.demo import settings as demo_settings
from lookout.demo.faults import FAULTS


def _control_url(args: argparse.Namespace) -> str:
    return f"http://{args.control_host}:{args.control_port}"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lookout.demo", description="Live demo of both platforms, with faults.")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the demo in the foreground")
    demo_settings.add_arguments(up)
    up.add_argument("--log-level", default=os.environ.get("DEMO_LOG_LEVEL", "info"),
                    choices=["debug", "info", "warning", "error"])
    for name, text in (("fault", "switch a fault on or off"), ("status", "print the demo's state"),
                       ("faults", "list the faults")):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("--control-host", default=os.environ.get("DEMO_CONTROL_HOST", "127.0.0.1"))
        sp.add_argument("--control-port", type=int, default=int(os.environ.get("DEMO_CONTROL_PORT", "5590")))
        sp.add_argument("--json", action="store_true", help="print the raw JSON")
        if name == "fault":
            sp.add_argument("name", choices=sorted(FAULTS), metavar="NAME", help=", ".join(sorted(FAULTS)))
            sp.add_argument("state", choices=["on", "off"])
            sp.add_argument("--value", type=float, help="the fault's parameter (see `python -m lookout.demo faults`)")
    return p


def _up(args: argparse.Namespace) -> int:
    from lookout.demo.supervisor import Supervisor

    try:
        s = demo_settings.from_args(args)
    except ValueError as exc:
        print(f"python -m lookout.demo up: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("urllib3", "psycopg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return Supervisor(s).run()
    except Exception as exc:
        logging.getLogger("lookout.demo").error("demo failed: %s", exc)
        return 1


def _print_status(st: dict) -> None:
    print(f"ready: {st['ready']}   parts: {', '.join(st['parts'])}   logs: {st['run_dir']}")
    print("\nprocesses:")
    for name, c in st["children"].items():
        state = "running" if c["running"] else ("held down by a fault" if not c["wanted"] else "down")
        workers = f" workers {c['workers']}" if c["workers"] else ""
        print(f"  {name:<14} {state:<22} pid {c['pid']}{workers} restarts {c['restarts']}")
    print("\nhealth:")
    for name, h in st["health"].items():
        print(f"  {name:<14} {'ok' if h['ok'] else 'FAILING':<8} {h.get('url', '')}")
    on = {n: f for n, f in st["faults"].items() if f["on"]}
    print("\nfaults on: " + (", ".join(f"{n}" + (f"={f['value']}" if f["value"] is not None else "")
                                     for n, f in on.items()) or "none"))
    print("traffic: " + json.dumps(st["traffic"]))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "up":
        return _up(args)
    if args.command == "faults" and not args.json:
        for name, f in FAULTS.items():
            default = "" if f.default is None else f"; default {f.default:g}"  # None: the help says what applies
            val = f" [--value: {f.value_help}{default}]" if f.value_help else ""
            print(f"{name} ({f.part}){val}\n    {f.effect}")
        return 0
    url = _control_url(args)
    try:
        if args.command == "fault":
            r = requests.post(f"{url}/faults/{args.name}", json={"state": args.state, "value": args.value}, timeout=60)
        else:
            r = requests.get(f"{url}/{'status' if args.command == 'status' else 'faults'}", timeout=30)
    except requests.RequestException as exc:
        print(f"python -m lookout.demo {args.command}: no demo control API at {url} ({type(exc).__name__}); "
              "is `python -m lookout.demo up` running?", file=sys.stderr)
        return 1
    body = r.json()
    if r.status_code != 200:
        print(f"python -m lookout.demo {args.command}: {body.get('error') or body}", file=sys.stderr)
        return 2 if r.status_code in (400, 404) else 1
    if args.json or args.command == "faults":
        print(json.dumps(body, indent=2))
    elif args.command == "status":
        _print_status(body)
    else:
        extra = "" if body["applied_here"] else f" (applied by the supervisor running the {body['part']} part)"
        value = f" value={body['value']}" if body["value"] is not None and body["state"] == "on" else ""
        effect = body["effect"] if body["state"] == "on" else "reverted"
        print(f"{body['fault']} {body['state']}{value}{extra}: {effect}")
    return 0
