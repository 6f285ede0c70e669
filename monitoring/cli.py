"""The ``lookout`` command: check a site file, probe its targets, generate everything from it.

- ``lookout check --site FILE``: validate; exit 0, or 2 with one line naming the key.
- ``lookout check --site FILE --probe``: also try every target from this machine and print a table
  (exit 1 when one does not answer). No secret is printed.
- ``lookout generate --site FILE --out DIR``: write every generated file for that site into DIR
  (layout: ``lookout.monitoring.build``); ``--check`` writes nothing and exits 1 when DIR is stale.
- ``lookout discover [--out FILE] [--json]``: look at what runs on this host and write a commented starter
  site file (``lookout.monitoring.discover``); a table of what was found and what could not be decided. Only reads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lookout.monitoring.site import Site, SiteError, load_site

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lookout", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="validate a site file (and, with --probe, try every target)")
    c.add_argument("--site", required=True, type=Path, help="the site file (docs/site.md)")
    c.add_argument("--probe", action="store_true", help="connect to every target and print what answers")
    g = sub.add_parser("generate", help="write the exporter, Prometheus, Alertmanager and Grafana files")
    g.add_argument("--site", required=True, type=Path, help="the site file (docs/site.md)")
    g.add_argument("--out", required=True, type=Path, help="output directory, e.g. /etc/lookout/generated")
    g.add_argument("--check", action="store_true", help="write nothing; exit 1 if DIR is not up to date")
    d = sub.add_parser("discover", help="write a starter site file from what runs on this host (only reads)")
    d.add_argument("--out", type=Path, help="write the site file here (default: print it)")
    d.add_argument("--json", action="store_true", help="print the findings as JSON instead of a table")
    d.add_argument("--no-ask-app", action="store_true",
                   help="do not import the Celery app (in a subprocess) to read its beat schedule")
    d.add_argument("--proc-root", default="/proc", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "discover":
        return _discover(args.out, args.json, not args.no_ask_app, args.proc_root)
    try:
        site = load_site(args.site)
        if args.command == "check":
            return _check(site, args.probe)
        return _generate(site, args.out, args.check)
    except SiteError as exc:
        print(f"lookout: {args.site}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _check(site: Site, probe: bool) -> int:
    from lookout.monitoring import build

    build.site_files(site)  # the catalog refuses what it cannot render (an unknown threshold key...)
    if not probe:
        print(f"{site.name}: ok ({len(site.hosts)} hosts, {len(site.services)} services, "
              f"{len(site.databases)} databases, {len(site.redis)} Redis)")
        return EXIT_OK
    from lookout.monitoring import probe as probing

    results = probing.probe(site)
    sys.stdout.write(probing.table(results))
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)} of {len(results)} targets answer")
    return EXIT_FAILED if failed else EXIT_OK


def _generate(site: Site, out: Path, check: bool) -> int:
    from lookout.monitoring import build

    files = build.site_files(site)
    if check:
        bad = build.stale(files, out)
        if bad:
            print(f"stale generated files in {out} (run `lookout generate`):\n  " + "\n  ".join(bad), file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    try:
        changed = build.write_dir(files, out)
    except OSError as exc:
        print(f"lookout: {out}: cannot write: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{len(files)} files for site {site.name} in {out} ({len(changed)} changed)")
    return EXIT_OK


def _discover(out: Path | None, as_json: bool, ask_app: bool, proc_root: str) -> int:
    from lookout.monitoring import discover
    from lookout.monitoring.discover import writer

    if out is not None and out.exists():
        try:
            first = out.open(errors="replace").readline()
        except OSError as exc:
            print(f"lookout: {out}: cannot read: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
        if not first.startswith(writer.HEADER):
            print(f"lookout: {out}: exists and was not written by `lookout discover`: not overwritten",
                  file=sys.stderr)
            return EXIT_USAGE
    found = discover.discover(proc_root, ask_app=ask_app)
    text = writer.site_text(found)
    if out is not None:
        try:
            tmp = out.with_name(f".{out.name}.tmp")
            tmp.write_text(text)
            tmp.replace(out)
        except OSError as exc:
            print(f"lookout: {out}: cannot write: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
    report = writer.as_json(found, str(out) if out else None) if as_json else writer.table(found)
    if out is None and not as_json:
        sys.stdout.write(text)
        sys.stderr.write(report)
    else:
        sys.stdout.write(report)
        if out is not None and not as_json:
            print(f"wrote {out}: check it with `lookout check --site {out}`")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
