"""Settings of the demo: every address, port, rate and interval, from flags or ``DEMO_*`` variables.

Reads: command-line flags (``python -m lookout.demo up --chat-port 8001``), else environment variables
(``DEMO_CHAT_PORT=8001``), else the defaults below (the seeds' ports).
Publishes: ``Settings``. The supervisor hands the resolved settings to its children as one JSON
variable (``DEMO_SETTINGS_JSON``) so Gunicorn, Uvicorn and Celery processes see the same values.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from lookout.demo import site_facts

PARTS = ("voice", "chat", "providers")

# The second seed's beat schedule, in seconds, from the demo's site file.
TASK_INTERVALS = site_facts.task_intervals()

ENV_JSON = "DEMO_SETTINGS_JSON"


def opt(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class Settings:
    pg_url: str = opt("postgresql://postgres@127.0.0.1:5432/demo", "PostgreSQL URL of both platforms' databases")
    voice_pg_url: str = opt("", "PostgreSQL URL of the voice platform (default: --pg-url)")
    chat_pg_url: str = opt("", "PostgreSQL URL of the chat center (default: --pg-url)")
    redis_url: str = opt("redis://127.0.0.1:6379/0", "Redis URL: Celery broker and the shared fault switches "
                         "(one demo per Redis database)")
    host: str = opt("127.0.0.1", "address the demo's servers bind to (0.0.0.0 in containers)")
    voice_port: int = opt(5002, "voice Flask app on Gunicorn")
    mcp_port: int = opt(5556, "MCP tool-server stand-in (/health)")
    chat_port: int = opt(8001, "chat-center FastAPI app on Uvicorn")
    control_port: int = opt(5590, "supervisor control API (always on 127.0.0.1 unless --control-host)")
    control_host: str = opt("127.0.0.1", "address of the control API")
    marketplace_port: int = opt(5591, "fake WB/Ozon marketplace API")
    deepseek_port: int = opt(5592, "fake DeepSeek API")
    elevenlabs_port: int = opt(5593, "fake ElevenLabs API")
    voice_url: str = opt("", "where the voice traffic generator sends webhooks (default: local voice app)")
    chat_url: str = opt("", "where the user traffic generator calls the chat API (default: local chat app)")
    marketplace_url: str = opt("", "marketplace API used by sync_all_sellers (default: local fake)")
    deepseek_url: str = opt("", "DeepSeek API used by analyze_pending_chats (default: local fake)")
    elevenlabs_url: str = opt("", "ElevenLabs API where the traffic generator registers calls (default: local fake)")
    webhook_secret: str = opt("demo-webhook-secret", "HMAC secret of the ElevenLabs webhooks (demo value)")
    deepseek_api_key: str = opt("sk-demo", "API key sent to the (fake) DeepSeek API")
    elevenlabs_api_key: str = opt("xi-demo", "API key sent to the (fake) ElevenLabs API")
    only: str = opt("voice,chat,providers", "parts to run: comma-separated voice, chat, providers")
    run_dir: str = opt("", "directory for logs, pid and state files (default: a temp dir per control port)")
    deploy_dir: str = opt("", "directory of the voice app's deploy: its Gunicorn error log (error.log) and release "
                          "file (REVISION) (default: the run dir)")
    speed: float = opt(1.0, "time compression: divides the beat intervals, SLA deadlines and reply delays")
    intervals: str = opt("", "per-task beat interval overrides in seconds, e.g. sync_all_sellers=2,"
                         "check_sla_escalation=5 (after --speed)")
    call_rate: float = opt(4.0, "voice conversations started per minute")
    call_duration: str = opt("20:180", "call length range MIN:MAX in seconds (wall time is divided by --speed)")
    marketplace_rate: float = opt(3.0, "buyer events (new chats, messages, feedbacks, questions) per minute")
    user_rate: float = opt(12.0, "chat-center API requests per minute from sellers' users")
    sellers: int = opt(5, "sellers seeded in the chat center (each with a WB and an Ozon account)")
    customers: int = opt(4, "customers seeded in the voice platform (each with two agents)")
    gunicorn_workers: int = opt(4, "Gunicorn workers of the voice app")
    uvicorn_workers: int = opt(2, "Uvicorn workers of the chat API")
    celery_concurrency: int = opt(2, "Celery prefork processes")
    http_timeout: float = opt(2.0, "timeout of the demo's outgoing HTTP calls, seconds")
    backup_interval: float = opt(0.0, "seconds between the demo's backups of the voice database (default: the "
                                 "site file's checks.backups.expected_interval; not divided by --speed)")
    backup_dir: str = opt("", "where the demo's backup job writes (default: <run dir>/backups)")

    # ---- derived values -------------------------------------------------------------------
    @property
    def parts(self) -> tuple[str, ...]:
        wanted = tuple(p.strip() for p in self.only.split(",") if p.strip())
        bad = [p for p in wanted if p not in PARTS]
        if bad or not wanted:
            raise ValueError(f"--only: expected a comma-separated subset of {', '.join(PARTS)}, got {self.only!r}")
        return wanted

    def local_url(self, port: int) -> str:
        """The URL of one of this demo's ports, on loopback when it binds every address."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{host}:{port}"

    @property
    def voice_db(self) -> str:
        return self.voice_pg_url or self.pg_url

    @property
    def chat_db(self) -> str:
        return self.chat_pg_url or self.pg_url

    @property
    def voice_base(self) -> str:
        return (self.voice_url or self.local_url(self.voice_port)).rstrip("/")

    @property
    def chat_base(self) -> str:
        return (self.chat_url or self.local_url(self.chat_port)).rstrip("/")

    @property
    def marketplace_base(self) -> str:
        return (self.marketplace_url or self.local_url(self.marketplace_port)).rstrip("/")

    @property
    def deepseek_base(self) -> str:
        return (self.deepseek_url or self.local_url(self.deepseek_port)).rstrip("/")

    @property
    def elevenlabs_base(self) -> str:
        return (self.elevenlabs_url or self.local_url(self.elevenlabs_port)).rstrip("/")

    @property
    def control_base(self) -> str:
        return f"http://{self.control_host}:{self.control_port}"

    @property
    def run_path(self) -> str:
        return self.run_dir or os.path.join(tempfile.gettempdir(), f"lookout-demo-{self.control_port}")

    @property
    def deploy_path(self) -> str:
        return self.deploy_dir or self.run_path

    @property
    def backup_path(self) -> str:
        return self.backup_dir or os.path.join(self.run_path, "backups")

    def task_interval(self, name: str) -> float:
        overrides = parse_pairs(self.intervals)
        if name in overrides:
            return overrides[name]
        return TASK_INTERVALS[name] / self.speed

    def call_duration_range(self) -> tuple[int, int]:
        lo, _, hi = self.call_duration.partition(":")
        a, b = int(lo), int(hi or lo)
        return min(a, b), max(a, b)

    def validate(self) -> None:
        self.parts  # noqa: B018  (raises on a bad value)
        if self.speed <= 0:
            raise ValueError("--speed must be > 0")
        if self.backup_interval and self.backup_interval < 1:
            raise ValueError("--backup-interval must be at least 1 second")
        unknown = set(parse_pairs(self.intervals)) - set(TASK_INTERVALS)
        if unknown:
            raise ValueError(f"--intervals: unknown task(s) {', '.join(sorted(unknown))}")
        self.call_duration_range()

    # ---- transport --------------------------------------------------------------------------
    def to_env(self) -> dict[str, str]:
        return {ENV_JSON: json.dumps(dataclasses.asdict(self))}

    @classmethod
    def from_env(cls) -> Settings:
        """Settings of a child process: the supervisor's JSON, else the ``DEMO_*`` variables."""
        raw = os.environ.get(ENV_JSON)
        if raw:
            return cls(**json.loads(raw))
        return cls(**{f.name: _coerce(f, os.environ[_env_name(f.name)])
                      for f in dataclasses.fields(cls) if _env_name(f.name) in os.environ})


def parse_pairs(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, val = item.partition("=")
        if not sep:
            raise ValueError(f"expected NAME=SECONDS, got {item!r}")
        out[key.strip()] = float(val)
    return out


def _env_name(name: str) -> str:
    return "DEMO_" + name.upper()


def _coerce(f: dataclasses.Field, raw: str) -> Any:
    tp = f.type if isinstance(f.type, type) else {"int": int, "float": float, "str": str}[str(f.type)]
    return tp(raw)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting; the default comes from ``DEMO_<NAME>`` when set."""
    for f in dataclasses.fields(Settings):
        env = _env_name(f.name)
        tp = {"int": int, "float": float, "str": str}[str(f.type)] if not isinstance(f.type, type) else f.type
        default = _coerce(f, os.environ[env]) if env in os.environ else f.default
        shown = "set" if ("secret" in f.name or "key" in f.name) else repr(default)  # never print secrets
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=tp, default=default,
                            help=f"{f.metadata['help']} (env {env}, default {shown})")


def from_args(ns: argparse.Namespace) -> Settings:
    s = Settings(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(Settings)})
    s.validate()
    return s
