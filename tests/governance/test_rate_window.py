"""A rate window keeps the same few slices at any rate (issue 11: one sample per streamed
chunk held a minute of a busy batch's chunks)."""

from __future__ import annotations

import pytest

from opscopilot.governance.metrics import RateWindow


def test_a_window_sums_what_was_added_within_it_and_forgets_the_rest():
    window = RateWindow(60.0)
    window.add(5.0, now=1000.0)
    window.add(3.0, now=1030.0)
    assert window.total(1030.0) == pytest.approx(8.0)
    assert window.per_second(1030.0) == pytest.approx(8.0 / 60.0)
    assert window.total(1062.0) == pytest.approx(3.0)  # the first left with its slice
    assert window.total(1100.0) == 0.0


def test_a_window_holds_at_most_one_slice_per_sixtieth_whatever_the_rate():
    window = RateWindow(60.0)
    for n in range(120_000):  # 2,000 chunks a second for a minute
        window.add(1.0, now=n / 2000.0)
    assert len(window._buckets) <= RateWindow.BUCKETS + 1
    assert window.total(59.9995) == pytest.approx(120_000.0)
