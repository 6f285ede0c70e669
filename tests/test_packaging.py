"""The wheel installs one top-level package, ``lookout``, and every command the image runs works from it alone.

The wheel is built from exactly what the Dockerfile copies into the image (a build context made of its COPY
sources, which .dockerignore must let in), installed with ``pip install --target`` into a temporary folder,
and each command of the image and of compose's services built from it runs with ``--help`` under
``python -S`` (no site-packages .pth: the checkout's editable install cannot stand in) with the target and
the venv's site-packages (the dependencies) as the whole path. A bare ``exporters``/``dashboards``/
``monitoring``/``stack``/``demo`` module is never imported, in the checkout either: it would be a second copy
of every module, next to its ``lookout.`` twin.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import lookout

ROOT = Path(__file__).resolve().parents[1]
BARE = {"exporters", "dashboards", "monitoring", "stack", "demo"}
# what the demo's supervisor starts inside the image, by module (demo/supervisor/children.py)
DEMO_CHILDREN = ["lookout.demo.voice.app", "lookout.demo.voice.mcp", "lookout.demo.chat.api", "lookout.demo.chat.tasks"]


def dockerfile_copies() -> list[str]:
    """The build-context paths the Dockerfile's COPY instructions take (every argument but the destination)."""
    out = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"]:
            out += [w for w in words[1:-1] if not w.startswith("--")]
    return out


def image_commands() -> list[list[str]]:
    """argv of the image's default command and of every compose service built from the image."""
    text = (ROOT / "Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M)[1])
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M)[1])
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    built = [s["command"] for s in services.values() if "build" in s and "command" in s]
    assert len(built) >= 4, "compose's services built from our image: the exporters, the relay, the demo's parts"
    return [entry + cmd] + [entry + c for c in built]


def image_env(home: Path) -> dict[str, str]:
    """The Dockerfile's ENV, its WORKDIR (where the COPYs land) standing for ``home``."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    workdir = re.search(r"^WORKDIR (\S+)$", text, re.M)[1]
    pairs = [kv for line in text.splitlines() if line.startswith("ENV ") for kv in line.split()[1:]]
    return {k: v.replace(workdir, str(home)) for k, _, v in (kv.partition("=") for kv in pairs)}


def with_help(argv: list[str]) -> list[str]:
    """``python -m lookout.exporters run --config X`` -> ``... run --help``: the subcommand, then --help."""
    words = argv[:3] + [w for w in argv[3:4] if not w.startswith("-")]
    return [*words, "--help"]


@pytest.fixture(scope="module")
def installed() -> Iterator[tuple[Path, Path, Path]]:
    """(the wheel, the --target folder it is installed into, the build context); all removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="lookout-wheel-") as tmp:
        work = Path(tmp)
        ctx, dist, target = work / "context", work / "dist", work / "target"
        for src in dockerfile_copies():
            dest = ctx / src
            if (ROOT / src).is_dir():
                shutil.copytree(ROOT / src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / src, dest)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
        r = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(ctx)],
                           capture_output=True, text=True, timeout=120, cwd=work)
        assert r.returncode == 0, r.stdout + r.stderr
        (wheel,) = dist.glob("*.whl")
        r = subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(target), str(wheel)],
                           capture_output=True, text=True, timeout=120, cwd=work)
        assert r.returncode == 0, r.stdout + r.stderr
        yield wheel, target, ctx


def run_isolated(argv: list[str], target: Path, ctx: Path) -> subprocess.Popen[str]:
    """``argv`` (starting with ``python``) under ``python -S``, the target and the venv's libraries as the path,
    with the image's environment (its files: the build context)."""
    path = os.pathsep.join([str(target), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | image_env(ctx)
    env["PYTHONPATH"] = path
    cwd = target.parent  # not the checkout: python -m puts the working directory first on the path
    return subprocess.Popen([sys.executable, "-S", *argv[1:]], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [ln for ln in lines if ln and not ln.startswith("#")]
    assert patterns[0] == "*", "the build context starts empty; each COPY source is let in by name"
    allowed = {p[1:].strip("/") for p in patterns if p.startswith("!")}
    for src in dockerfile_copies():
        parts = Path(src).parts
        assert any("/".join(parts[:i]) in allowed for i in range(1, len(parts) + 1)), f"{src}: not in .dockerignore"


def test_wheel_installs_only_the_lookout_namespace(installed: tuple[Path, Path, Path]) -> None:
    wheel, target, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"lookout"}, sorted(top)
    inside = {n.split("/")[1] for n in names if n.startswith("lookout/") and n.count("/") > 1}
    assert inside == set(lookout.PARTS), "setup.py's PARTS and lookout.PARTS name the same folders"
    # package data travels with its package
    for data in ("lookout/exporters/schemas/voice.sql", "lookout/monitoring/site.schema.json"):
        assert data in names, data
    assert any(n.startswith("lookout/stack/data/") for n in names)
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    scripts = dict(re.findall(r"^(\S+) = (\S+)$", zipfile.ZipFile(wheel).read(entry).decode(), re.M))
    assert scripts == {"lookout": "lookout.monitoring.cli:main", "lookout-exporter": "lookout.exporters.cli:main"}
    assert {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")} == {"lookout", "bin"}


def test_every_command_of_the_image_runs_from_the_wheel_alone(installed: tuple[Path, Path, Path]) -> None:
    _, target, ctx = installed
    commands = [list(c) for c in dict.fromkeys(tuple(with_help(c)) for c in image_commands())]
    commands += [["python", "-m", "lookout", "--help"], ["python", "-m", "lookout.demo.providers", "--help"]]
    commands += [["python", str(target / "bin" / name), "--help"] for name in ("lookout", "lookout-exporter")]
    where = ("import importlib.util, sys, lookout.exporters; print(lookout.exporters.__file__); "
             f"print(*[importlib.util.find_spec(m).origin for m in {DEMO_CHILDREN!r}], sep='\\n'); "
             f"print(*sorted(set({sorted(BARE)!r}) & set(sys.modules)))")
    commands.append(["python", "-c", where])
    procs = [(c, run_isolated(c, target, ctx)) for c in commands]  # side by side: each mostly imports
    outs = []
    for argv, p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, f"{' '.join(argv)}: exit {p.returncode}\n{err}"
        if "--help" in argv:
            assert "usage:" in out, f"{' '.join(argv)}: {out}"
        outs.append(out)
    origins = outs[-1].splitlines()
    assert len(origins) == 1 + len(DEMO_CHILDREN) + 1 and origins[-1] == "", out
    assert all(Path(o).is_relative_to(target / "lookout") for o in origins[:-1]), out


def test_checkout_resolves_lookout_to_the_top_level_folders_and_never_imports_bare_names() -> None:
    # from the repository root, where the bare name (exporters, ...) would import too, as a second copy
    code = ("import sys, lookout.exporters.cli, lookout.monitoring.cli, lookout.stack.cli, lookout.demo.cli, "
            "lookout.dashboards, lookout.monitoring.build; "
            "print(lookout.exporters.__file__); "
            f"print(*sorted(set({sorted(BARE)!r}) & set(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    file, bare = r.stdout.splitlines()
    assert Path(file) == ROOT / "exporters" / "__init__.py"
    assert bare == "", f"bare module names imported: {bare}"
    r = subprocess.run([sys.executable, "-m", "lookout.exporters", "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "usage: lookout-exporter" in r.stdout, r.stderr


def test_no_code_names_a_bare_package() -> None:
    """Imports, ``-m`` argv and module strings name ``lookout.<part>`` (``/work/tools/namespace.py`` wrote them)."""
    bare = "|".join(sorted(BARE))
    pattern = re.compile(rf"^\s*(from|import) ({bare})\b|[\"']-m[\"'],\s*[\"']({bare})\b|"
                         rf"(import_module|getLogger|patch|setattr)\(\s*f?[\"']({bare})\b", re.M)
    offenders = []
    for folder in (*lookout.PARTS, "lookout", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for m in pattern.finditer(path.read_text()):
                line = path.read_text().count("\n", 0, m.start()) + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {m[0].strip()}")
    assert not offenders, "\n".join(offenders)
