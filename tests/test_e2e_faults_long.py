"""End to end, the long batch (marketplace slow/429/5xx against the 300 s lag threshold, capacity growth, a blocking
lock against the 300 s lock-wait threshold, a missed backup), on a stack of its own.

Same machinery and bounds as ``test_e2e.py`` (which runs batch A after the healthy check); a separate
module (scheduled whole on one xdist worker) so that its stack runs beside the others instead of after them.
"""

from __future__ import annotations

import pytest

from tests.test_e2e import (  # noqa: F401 (module-scoped fixtures)
    check_fault,
    check_notifications,
    fault_results,
    faults_of,
    stack,
)

pytestmark = pytest.mark.slow

MODULE_BATCHES = ['long']


@pytest.mark.parametrize("fault", faults_of(MODULE_BATCHES))
def test_fault_alert_fires_reaches_receiver_and_resolves(stack, fault_results: dict, fault: str) -> None:  # noqa: F811
    check_fault(fault_results, fault)


def test_every_link_opens_and_every_value_is_prometheus(stack, fault_results: dict) -> None:  # noqa: F811
    check_notifications(stack, fault_results)
