"""``python -m lookout.demo.providers deepseek|elevenlabs --port N [--api-key KEY | --api-key-env VAR] [--mode M]``: one
fake provider as its own process, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import os
import signal
import threading

from lookout.demo.providers.base import MODES, FakeProvider
from lookout.demo.providers.deepseek import FakeDeepSeek
from lookout.demo.providers.elevenlabs import FakeElevenLabs

PROVIDERS: dict[str, type[FakeProvider]] = {"deepseek": FakeDeepSeek, "elevenlabs": FakeElevenLabs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lookout.demo.providers", description=__doc__)
    parser.add_argument("provider", choices=sorted(PROVIDERS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--api-key", help="require this key (prefer --api-key-env)")
    key.add_argument("--api-key-env", help="require the key held by this environment variable")
    parser.add_argument("--mode", default="ok", choices=MODES)
    args = parser.parse_args(argv)
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else args.api_key
    fake = PROVIDERS[args.provider](api_key=api_key, host=args.host, port=args.port)
    fake.set_mode(args.mode)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    fake.start()
    print(f"fake {args.provider} listening on http://{args.host}:{fake.port}", flush=True)
    done.wait()
    fake.stop()
    return 0

