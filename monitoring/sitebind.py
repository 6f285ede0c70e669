"""Binds parsed YAML to the site file's frozen dataclasses, and describes them as JSON Schema.

Reads: a YAML text and the dataclasses of ``lookout.monitoring.site`` (their type hints and ``key()`` metadata).
Publishes: ``SiteError`` (one line naming the key path), ``load_yaml`` (refuses duplicate keys),
``bind`` (typed values, unknown keys refused, secrets only as ``${VAR}`` or ``<key>_file``),
``json_schema`` and ``key_docs`` (the published schema and docs/site.md come from the same declarations).

Secret values are never read here: a secret key keeps its ``${VAR}`` reference or its file path, and the
exporter (``lookout.exporters.config``) expands them where they are used. Literal secrets are refused with the
exporter's own rule (``lookout.exporters.config.reject_literal_secret``).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import field
from typing import Any, Literal, get_args, get_origin

import yaml

from lookout.exporters.binding import is_optional, one_line
from lookout.exporters.config import ConfigError, Duration, reject_literal_secret


class SiteError(Exception):
    """A problem with the site file, as one line naming the key path (see ``binding.one_line``)."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


class SecretRef(str):
    """A secret written as ``${VAR}`` (or, for a connection string, with its password as ``${VAR}``).

    The value itself is never read by the site loader; ``<key>_file`` is the other accepted form.
    """


class FileRef(str):
    """The path of a file holding a secret (``<key>_file``)."""


def key(default: Any = dataclasses.MISSING, *, help: str, secret: bool = False, example: Any = None) -> Any:
    """A dataclass field with the text docs/site.md and the schema give for it.

    ``secret``: the key holds a secret; the file may give it as ``${VAR}`` or as ``<name>_file: PATH``.
    """
    meta = {"help": help, "secret": secret, "example": example}
    if isinstance(default, list | dict | tuple) and default:
        value = default
        return field(default_factory=lambda: value, metadata=meta)
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


# --- YAML -----------------------------------------------------------------------------------------
def _no_duplicates(node: yaml.Node, path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            name = str(k.value)
            sub = f"{path}.{name}" if path else name
            if name in seen:
                raise SiteError(f"{sub}: duplicate key (lines {seen[name]} and {k.start_mark.line + 1})")
            seen[name] = k.start_mark.line + 1
            _no_duplicates(v, sub)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _no_duplicates(v, f"{path}[{i}]")


def load_yaml(text: str) -> Any:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _no_duplicates(node, "")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SiteError(f"invalid YAML{where}: {problem}") from None


# --- binding --------------------------------------------------------------------------------------
def _is_secret(f: dataclasses.Field[Any]) -> bool:
    return bool(f.metadata.get("secret"))


def _scalar(value: Any, tp: Any, path: str) -> Any:
    if tp is Any:
        return value
    if tp is Duration:
        try:
            return Duration.parse(value)
        except ValueError as exc:
            raise SiteError(f"{path}: {exc}") from None
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise SiteError(f"{path}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SiteError(f"{path}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise SiteError(f"{path}: expected a number, got {value!r}")
    if tp in (str, FileRef):
        if isinstance(value, str) and value.strip():
            return tp(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and tp is str:
            return str(value)
        raise SiteError(f"{path}: expected a non-empty string, got {value!r}")
    if tp is SecretRef:
        if not isinstance(value, str) or not value.strip():
            raise SiteError(f"{path}: expected a string, got {value!r}")
        try:
            reject_literal_secret(value, path)
        except ConfigError as exc:
            raise SiteError(str(exc)) from None
        return SecretRef(value)
    if get_origin(tp) is Literal:
        if value in get_args(tp):
            return value
        raise SiteError(f"{path}: expected one of {', '.join(map(str, get_args(tp)))}, got {value!r}")
    raise SiteError(f"{path}: unsupported type {tp}")


def convert(value: Any, tp: Any, path: str) -> Any:
    optional, tp = is_optional(tp)
    if value is None:
        if optional:
            return None
        raise SiteError(f"{path}: expected a value, got nothing")
    origin = get_origin(tp)
    if origin is tuple:
        item_tp = get_args(tp)[0]
        if not isinstance(value, list):
            raise SiteError(f"{path}: expected a list, got {type(value).__name__}")
        return tuple(convert(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict) or tp is Mapping:
        val_tp = get_args(tp)[1] if get_args(tp) else Any
        if not isinstance(value, dict):
            raise SiteError(f"{path}: expected a mapping, got {type(value).__name__}")
        return types.MappingProxyType({str(k): convert(v, val_tp, f"{path}.{k}") for k, v in value.items()})
    if dataclasses.is_dataclass(tp):
        return bind(tp, value, path)
    return _scalar(value, tp, path)


def bind(cls: Any, value: Any, path: str = "") -> Any:
    """Build the frozen dataclass ``cls`` from a YAML mapping; every error is one line naming the key."""
    if not isinstance(value, dict):
        where = path or "the site file"
        raise SiteError(f"{where}: expected a mapping, got {type(value).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for k, raw in value.items():
        name = str(k)
        sub = f"{path}.{name}" if path else name
        base = name.removesuffix("_file")
        if name in fields:
            kwargs[name] = convert(raw, hints[name], sub)
        elif name.endswith("_file") and base in fields and _is_secret(fields[base]):
            if base in value:
                raise SiteError(f"{sub}: give either {base} or {name}, not both")
            kwargs[base] = convert(raw, FileRef, sub)
        elif f"{name}_file" in fields and _is_secret(fields[f"{name}_file"]):
            raise SiteError(f"{sub}: secret given as a literal in the file; use {name}_file")
        else:
            known = ", ".join(sorted(_keys(cls)))
            raise SiteError(f"{sub}: unknown key (known keys: {known})")
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        sub = f"{path}.{missing[0]}" if path else missing[0]
        raise SiteError(f"{sub}: required key is missing")
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as exc:
            msg = str(exc)
            raise SiteError(f"{path}.{msg}" if path and not msg.startswith(path) else msg) from None
    return obj


def _keys(cls: Any) -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if _is_secret(f) and f.name.endswith("_file"):
            out.append(f.name)
        elif _is_secret(f):
            out += [f.name, f"{f.name}_file"]
        else:
            out.append(f.name)
    return out


# --- JSON Schema ----------------------------------------------------------------------------------
_DURATION = {"oneOf": [{"type": "number", "minimum": 0},
                       {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"}]}


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    optional, tp = is_optional(tp)
    origin = get_origin(tp)
    if tp is Duration:
        out: dict[str, Any] = dict(_DURATION)
    elif tp is bool:
        out = {"type": "boolean"}
    elif tp is int:
        out = {"type": "integer"}
    elif tp is float:
        out = {"type": "number"}
    elif tp in (str, SecretRef, FileRef):
        out = {"type": "string", "minLength": 1}
    elif tp is Any:
        out = {}
    elif origin is Literal:
        out = {"enum": list(get_args(tp))}
    elif origin is tuple:
        out = {"type": "array", "items": _type_schema(get_args(tp)[0], defs)}
    elif origin in (Mapping, dict) or tp is Mapping:
        val = get_args(tp)[1] if get_args(tp) else Any
        out = {"type": "object", "additionalProperties": _type_schema(val, defs)}
    elif dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}
            defs[name] = _class_schema(tp, defs)
        out = {"$ref": f"#/$defs/{name}"}
    else:
        raise TypeError(f"no schema for {tp}")
    return {"anyOf": [out, {"type": "null"}]} if optional else out


def _class_schema(cls: Any, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    exclusive: list[tuple[str, str]] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        s = _type_schema(hints[f.name], defs)
        s = {"description": f.metadata.get("help", ""), **s}
        props[f.name] = s
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if _is_secret(f) and not f.name.endswith("_file"):
            props[f"{f.name}_file"] = {"description": f"File holding {f.name} (the other form of the secret).",
                                       "type": "string", "minLength": 1}
            exclusive.append((f.name, f"{f.name}_file"))
            if no_default:
                required.append(f"{f.name}|{f.name}_file")
        elif no_default:
            required.append(f.name)
    out: dict[str, Any] = {"type": "object", "description": " ".join((cls.__doc__ or "").split()),
                           "properties": props, "additionalProperties": False}
    plain = [r for r in required if "|" not in r]
    if plain:
        out["required"] = plain
    rules = [{"oneOf": [{"required": [a]}, {"required": [b]}]} for a, b in exclusive
             if f"{a}|{b}" in required]
    rules += [{"not": {"required": [a, b]}} for a, b in exclusive if f"{a}|{b}" not in required]
    if rules:
        out["allOf"] = rules
    return out


def json_schema(root: Any, title: str, schema_id: str) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    body = _class_schema(root, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id, "title": title,
            **body, "$defs": dict(sorted(defs.items()))}


# --- docs -----------------------------------------------------------------------------------------
def _type_text(tp: Any) -> str:
    _, tp = is_optional(tp)
    origin = get_origin(tp)
    if tp is Duration:
        t = "duration"
    elif tp is SecretRef:
        t = "secret"
    elif tp is FileRef:
        t = "file path"
    elif tp in (str, int, float, bool):
        t = {str: "string", int: "integer", float: "number", bool: "boolean"}[tp]
    elif origin is Literal:
        t = " \\| ".join(f"`{a}`" for a in get_args(tp))
    elif origin is tuple:
        t = f"list of {_type_text(get_args(tp)[0])}"
    elif origin in (Mapping, dict) or tp is Mapping:
        val = get_args(tp)[1] if get_args(tp) else Any
        t = "mapping" if val is Any else f"mapping of {_type_text(val)}"
    elif dataclasses.is_dataclass(tp):
        t = f"[{tp.__name__}](#{tp.__name__.lower()})"
    else:
        t = "any"
    return t


def duration_text(seconds: float) -> str:
    """``2592000`` -> ``30d``: the largest unit that divides it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"


def _default_text(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        d = f.default
        if dataclasses.is_dataclass(d):
            return "its defaults"
        if d is None:
            return "none"
        if isinstance(d, bool):
            return "`true`" if d else "`false`"
        if isinstance(d, Duration):
            return f"`{duration_text(d)}`"
        if isinstance(d, tuple | Mapping) and not d:
            return "empty"
        return f"`{d:g}`" if isinstance(d, float) else f"`{d}`"
    if f.default_factory is not dataclasses.MISSING:
        d = f.default_factory()
        if isinstance(d, tuple):
            return "`[" + ", ".join(map(str, d)) + "]`" if d else "empty"
        if isinstance(d, Mapping):
            return f"`{dict(d)}`" if d else "empty"
        return f"`{d}`"
    return "**required**"


def key_docs(root: Any) -> str:
    """A section per dataclass: one table row per key, with type, default and help."""
    order: list[Any] = []

    def visit(cls: Any) -> None:
        if cls in order:
            return
        order.append(cls)
        for tp in typing.get_type_hints(cls).values():
            for t in _walk_types(tp):
                if dataclasses.is_dataclass(t):
                    visit(t)

    visit(root)
    out: list[str] = []
    for cls in order:
        hints = typing.get_type_hints(cls)
        out.append(f"### {cls.__name__}\n\n{(cls.__doc__ or '').strip()}\n\n")
        out.append("| key | type | default | meaning |\n|---|---|---|---|\n")
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            name = f"`{f.name}` or `{f.name}_file`" if _is_secret(f) and not f.name.endswith("_file") \
                else f"`{f.name}`"
            help_ = re.sub(r"\s+", " ", f.metadata.get("help", "")).replace("|", "\\|")
            out.append(f"| {name} | {_type_text(hints[f.name])} | {_default_text(f)} | {help_} |\n")
        out.append("\n")
    return "".join(out)


def _walk_types(tp: Any) -> list[Any]:
    out = [tp]
    for a in get_args(tp):
        if a is not type(None) and not isinstance(a, str):
            out += _walk_types(a)
    return out
