"""Every alert says how its value reads (monitoring/values.py), for every example site: no alert can be added
without deciding its value text; the issue's examples (``1,240 messages, oldest 7m 0s``, ``3 of 4 workers``,
``12 charges unreconciled``) as Prometheus 2.42 renders them (promtool) and as the offline renderer writes the
generated promtool cases (monitoring/templating.py)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lookout.monitoring import templating, values
from lookout.monitoring.catalog import COMPONENTS, Ctx, build
from lookout.monitoring.model import Alert
from lookout.monitoring.notifications import alert_value
from lookout.monitoring.site import load_site

ROOT = Path(__file__).resolve().parents[1]
SITES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if p.name != "config.yaml")  # config.yaml: exporter's


def _every_alert(site_file: Path) -> list[Alert]:
    """All alerts the components can write for this site, including those its features leave out."""
    k = Ctx.of(load_site(site_file))
    return [a for m in COMPONENTS for a in m.alerts(k)]


@pytest.mark.parametrize("site_file", SITES, ids=lambda p: p.stem)
def test_every_alert_declares_how_its_value_reads(site_file: Path) -> None:
    alerts = _every_alert(site_file)
    assert alerts
    undecided = [a.name for a in alerts if a.value is None]
    assert not undecided, f"declare value= (monitoring/values.py) for {undecided}"
    for a in alerts:
        value, _ = alert_value(a)
        if not value:
            assert a.value == values.NO_VALUE
            continue
        # a number alone reads as nothing at night: a unit word, a percentage, a duration or bytes
        words = re.sub(r"\{\{.*?\}\}", "", value)
        assert re.search(r"[A-Za-z]", words) or re.search(r"humanize(Percentage|Duration)", value), (a.name, value)
        text = templating.render(value, dict(a.fire.labels or {}), a.fire.value)
        assert text.strip() and "{{" not in text, (a.name, text)


def test_an_alert_without_a_value_decision_stops_the_generator() -> None:
    a = next(a for a in build(load_site(ROOT / "examples" / "demo.yaml")).alerts if a.name == "HostDown")
    with pytest.raises(ValueError, match="HostDown: declare how its value reads"):
        alert_value(dataclasses.replace(a, value=None))


def test_whole_numbers_get_thousands_separators() -> None:
    got = {v: templating.render(values.count("messages"), {}, v) for v in (0, 12, 999, 1240, 1234567, 12345678901)}
    assert got == {0: "0 messages", 12: "12 messages", 999: "999 messages", 1240: "1,240 messages",
                   1234567: "1,234,567 messages", 12345678901: "12,345,678,901 messages"}


# the issue's examples: (alert, series at the evaluation, labels of the alert, expected value text)
_L = 'job="lookout",instance="exporters:9808"'
EXAMPLES = {
    "CeleryQueueBacklog": (
        {f'celery_queue_length{{{_L},queue_name="celery"}}': "1240x10",
         f'lookout_celery_queue_oldest_message_age_seconds{{{_L},queue_name="celery"}}': "420x10"},
        {"job": "lookout", "instance": "exporters:9808", "queue_name": "celery"}, 1240,
        "1,240 messages, oldest 7m 0s"),
    "CreditsChargeMismatch": (
        {f'lookout_credits_conversations_unreconciled{{{_L},reason="charge_mismatch"}}': "12x10"},
        {"job": "lookout", "instance": "exporters:9808", "reason": "charge_mismatch"}, 12,
        "12 charges unreconciled"),
}


def _examples(cat) -> dict[str, tuple[dict[str, str], dict[str, str], float, str]]:
    out = dict(EXAMPLES)
    pools = cat.alerts_by_name["WorkerPoolWorkersBelowExpected"]  # the pool's labels come from the site
    fire = pools.fire
    out[pools.name] = (dict(fire.series), dict(fire.labels or {}), fire.value, "3 of 4 workers")
    return out


def test_issue_examples_as_promtool_renders_them(tmp_path: Path) -> None:
    """Prometheus 2.42's template engine (promtool test rules) agrees with the offline renderer, on the
    catalog's own expressions and value annotations: printf, reReplaceAll, query | first | value."""
    cat = build(load_site(ROOT / "examples" / "demo.yaml"))
    cases = _examples(cat)
    rules, tests = [], []
    for name, (series, labels, v, want) in cases.items():
        a = cat.alerts_by_name[name]
        value, _ = alert_value(a)
        assert templating.render(value, labels, v, series, 10) == want
        rules.append({"alert": a.name, "expr": str(a.expr), "annotations": {"value": value}})
        tests.append({"interval": "1m", "input_series": [{"series": s, "values": n} for s, n in series.items()],
                      "alert_rule_test": [{"eval_time": "10m", "alertname": a.name, "exp_alerts": [
                          {"exp_labels": labels, "exp_annotations": {"value": want}}]}]})
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "values", "rules": rules}]}))
    (tmp_path / "test.yml").write_text(yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m",
                                                       "tests": tests}))
    r = subprocess.run([shutil.which("promtool") or "promtool", "test", "rules", "test.yml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_e2e_value_check_reads_every_value_text() -> None:
    """tests/support/notifications.parse_human compares the shown value with Prometheus' (tests/test_e2e.py)."""
    from tests.support.notifications import parse_human

    assert parse_human("1,240 messages, oldest 7m 0s") == 1240 and parse_human("3 of 4 workers") == 3
    assert parse_human("7m 0s waiting") == 420 and parse_human("1,234,567 messages") == 1234567
    assert parse_human("12 charges unreconciled") == 12 and parse_human("2GiB resident") == 2 * 1024 ** 3
    assert parse_human("12.5% free") == 0.125 and parse_human("50m 502 responses/s") == 0.05
