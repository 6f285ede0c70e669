"""The exporter's configuration: one YAML file turned into typed, validated settings.

Reads: the YAML file given on the command line (through ``lookout.exporters.binding``, which also expands ``${VAR}``
and reads ``<key>_file`` secrets) and the collector registry (``lookout.exporters.collectors``), which gives each named
collector's settings class; a disabled collector's module is not imported.
Publishes: ``Config`` (global settings plus one settings dataclass per enabled collector), ``load`` and
``parse_listen``. The binding's names (``ConfigError``, ``Duration``, ``Secret``, ``setting``...) are
re-exported here for the collectors that declare settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lookout.exporters import collectors
from lookout.exporters.binding import (  # noqa: F401  (re-exported: the collectors' settings are declared with these)
    CONFIG_MAX,
    MAX_DEPTH,
    SECRET_FILE_MAX,
    ConfigError,
    Duration,
    Secret,
    build_dataclass,
    check_duration,
    check_keys,
    convert,
    expand_env,
    parse_yaml,
    read_config_bytes,
    read_secret_file,
    reject_literal_secret,
    setting,
)
from lookout.exporters.collector import CollectorSettings

DEFAULT_LISTEN = "127.0.0.1:9808"


@dataclass
class Config:
    listen: str = DEFAULT_LISTEN
    log_level: str = "info"
    collectors: dict[str, CollectorSettings] = field(default_factory=dict)
    path: str = ""


def load(path: str | os.PathLike[str]) -> Config:
    """Load and validate a configuration file; raise ConfigError with a one-line message."""
    p = Path(path)
    data = parse_yaml(read_config_bytes(p), str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    cfg = Config(path=str(p))
    for key, raw in data.items():
        if key == "listen":
            cfg.listen = convert(raw, str, "listen")
        elif key == "log_level":
            cfg.log_level = convert(raw, Literal["debug", "info", "warning", "error"], "log_level")
        elif key == "collectors":
            if not isinstance(raw, dict):
                raise ConfigError("collectors: expected a mapping of collector name to settings")
            for name, settings in raw.items():
                if name not in collectors.REGISTRY:
                    raise ConfigError(
                        f"collectors.{name}: unknown collector (known: {', '.join(sorted(collectors.REGISTRY))})"
                    )
                cls = collectors.settings_class(name)
                if isinstance(settings, dict) and convert(settings.get("enabled", True), bool,
                                                          f"collectors.{name}.enabled") is False:
                    # kept for later: its keys are checked, its values (variables, secret files) not read
                    check_keys(cls, settings, f"collectors.{name}")
                    continue
                cfg.collectors[name] = build_dataclass(cls, settings or {}, f"collectors.{name}")
        else:
            raise ConfigError(f"{key}: unknown key (known keys: collectors, listen, log_level)")
    if not cfg.collectors:
        raise ConfigError("collectors: no collector is enabled")
    parse_listen(cfg.listen)
    return cfg


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ConfigError(f"listen: expected HOST:PORT such as {DEFAULT_LISTEN}, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
