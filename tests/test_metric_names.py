"""The naming policy of docs/metrics.md holds: our metrics and recording rules, the rename map, a real scrape."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from lookout.exporters.collectors import all_classes
from lookout.exporters.docs import all_metric_names, renames
from lookout.exporters.runtime import RUNTIME_METRICS
from lookout.monitoring.promql import metric_names
from tests.support.catalog import c
from tests.support.exporter import exporter, promtool_check_metrics, samples, write_config

ROOT = Path(__file__).resolve().parents[1]
# celery-exporter's (danihodovic/celery-exporter, src/exporter.py) metrics we publish under its name: type and
# labels (without its optional static labels). A name of ours may stay `celery_*` only if it is here, identical.
CELERY_EXPORTER = {
    "celery_queue_length": ("gauge", ("queue_name",)),
    "celery_worker_up": ("gauge", ("hostname",)),
    "celery_worker_tasks_active": ("gauge", ("hostname",)),
}
RULE = re.compile(r"[a-z_]+:([a-zA-Z0-9_]+):[a-zA-Z0-9_]+")


def _specs():
    return list(RUNTIME_METRICS) + [s for cls in all_classes() for s in cls.metrics]


def test_every_declared_metric_follows_the_policy():
    kept = set(renames()["kept"])
    assert kept == set(CELERY_EXPORTER)
    for s in _specs():
        if s.name in kept:
            assert (s.type, s.labels) == CELERY_EXPORTER[s.name], f"{s.name} is no longer celery-exporter's"
        else:
            assert s.name.startswith("lookout_"), s.name
    for s in RUNTIME_METRICS:
        if s.labels == ("collector",):
            assert s.name.startswith("lookout_collector_"), s.name
        else:
            assert s.name.startswith("lookout_exporter_"), s.name


def test_every_recording_rule_follows_the_convention():
    ours = all_metric_names()
    recorded = {r.record for r in c.recordings}
    for r in c.recordings:
        if r.record.startswith("slo:"):  # Sloth's names, over the application's own http_* metrics
            assert not metric_names(r.expr) & ours, r.record
            continue
        m = RULE.fullmatch(r.record)
        assert m, f"{r.record}: not level:metric:operations"
        over_ours = bool(metric_names(r.expr) & (ours | {x for x in recorded if ":lookout_" in x}))
        assert m.group(1).startswith("lookout_") == over_ours, r.record


def test_rename_map_is_consistent():
    r = renames()
    news = list(r["metrics"].values()) + list(r["recording_rules"].values())
    assert len(set(news)) == len(news), "two old names renamed to one"
    assert not set(news) & (set(r["metrics"]) | set(r["recording_rules"]))
    assert all(n.startswith("lookout_") for n in r["metrics"].values())
    assert all(":lookout_" in n for n in r["recording_rules"].values())
    assert not set(r["kept"]) & set(r["metrics"])
    declared = {s.name for s in _specs()}
    assert not declared & set(r["metrics"]), "an old name is still declared"


def test_no_old_name_is_left_in_the_repository():
    r = renames()
    olds = set(r["recording_rules"])
    for old in r["metrics"]:
        olds |= {old, old + "_bucket", old + "_sum", old + "_count"}
        if old.endswith("_total"):
            olds.add(old[:-6] + "_created")
    token = re.compile(r"(?<![A-Za-z0-9_:])(?:" + "|".join(map(re.escape, sorted(olds, key=len, reverse=True)))
                       + r")(?![A-Za-z0-9_])")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode()
    left = []
    for rel in filter(None, files.split("\0")):
        if rel in ("CHANGELOG.md", "docs/metric-renames.yaml"):
            continue
        path = ROOT / rel
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for i, line in enumerate(text.splitlines(), 1):
            left += [f"{rel}:{i}: {m.group(0)}" for m in token.finditer(line)]
    assert not left, "old names left (run /work/tools/rename_metrics.py):\n" + "\n".join(left[:30])


def test_a_real_scrape_is_promtool_clean_and_named_by_the_policy(tmp_path):
    log = tmp_path / "error.log"
    log.write_text("Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: x\n")
    cfg = write_config(tmp_path / "c.yaml", {
        "app_exceptions": {"interval": "1s", "from_start": True, "logs": [{"service": "api", "path": str(log)}]},
        "tokens": {"interval": "1s", "tokens": [{"name": "t", "env": "LOOKOUT_TEST_NO_SUCH_TOKEN"}]},
    })
    with exporter(cfg) as exp:
        seen = ("lookout_app_exceptions_total", (("exception", "ValueError"), ("service", "api")))
        exp.wait_for(lambda s: s.get(seen))
        text = exp.metrics()
    assert promtool_check_metrics(text) == ""
    names = {name for name, _ in samples(text)}
    assert "lookout_collector_up" in names and "lookout_exporter_build_info" in names
    ours = [n for n in names if not n.startswith(("python_", "process_"))]  # client_python's own
    assert ours and all(n.startswith("lookout_") for n in ours), sorted(ours)
