"""CLI: ``python -m lookout.monitoring generate`` writes every file generated from the demo site (examples/demo.yaml)
where the repository keeps it (compose's defaults); ``--check`` exits 1 on drift. Another site:
``python -m lookout.monitoring generate --site FILE --out DIR``, the same as ``lookout generate``."""

from __future__ import annotations

import argparse
import sys

from lookout.monitoring import build


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lookout.monitoring", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write dashboards, rules, tests, Alertmanager config and runbooks")
    g.add_argument("--check", action="store_true", help="write nothing; exit 1 if a committed file is stale")
    g.add_argument("--site", help="a site file (default: the demo's, written into this repository)")
    g.add_argument("--out", help="output directory, with --site")
    args = p.parse_args(argv)
    if args.site or args.out:
        if not (args.site and args.out):
            p.error("--site and --out go together")
        from lookout.monitoring import cli

        return cli.main(["generate", "--site", args.site, "--out", args.out, *(["--check"] if args.check else [])])
    files = build.demo_repo_files()
    if args.check:
        bad = build.stale(files)
        if bad:
            print("stale generated files (run `python -m lookout.monitoring generate`):\n  " + "\n  ".join(bad),
                  file=sys.stderr)
            return 1
        return 0
    build.write_dir(files, build.ROOT)
    print(f"wrote {len(files)} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
