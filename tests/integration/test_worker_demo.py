"""``finfeed demo`` end to end (its own embedded broker and Redis), with a deterministic
classifier so the test needs no model weights: every input accounted for exactly once."""

from __future__ import annotations

import json

import pytest

from finfeed.demo import SAMPLE_FEED, DemoOptions, format_summary, run_demo
from tests.integration.test_worker_support import LexiconClassifier

pytestmark = pytest.mark.integration


async def test_demo_accounts_for_every_input_and_reports_aggregates() -> None:
    lines = [ln for ln in SAMPLE_FEED.read_bytes().splitlines() if ln.strip()]
    summary = await run_demo(DemoOptions(classifier_override=LexiconClassifier(), partitions=3))
    assert summary["input"] == len(lines)
    assert summary["enriched"] + summary["duplicates"] + summary["dead_letter"] == len(lines)
    # what the worker counted is what the topics hold, one record id per input
    assert summary["records_on_topics"] == {
        "enriched": summary["enriched"],
        "duplicates": summary["duplicates"],
        "dead_letter": summary["dead_letter"],
    }
    assert sum(summary["duplicates_by_kind"].values()) == summary["duplicates"]
    assert sum(summary["dead_letter_by_reason"].values()) == summary["dead_letter"]
    # the aggregator consumed every point; companies carry 7-day averages in [-1, 1]
    assert summary["aggregator"]["consumed"] >= summary["timeseries_points"] > 0
    averaged = [c for c in summary["companies"].values() if c["avg_7d"] is not None]
    assert averaged and all(-1 <= c["avg_7d"] <= 1 and c["count_7d"] > 0 for c in averaged)
    text = format_summary(summary)
    assert f"accounted       {len(lines)} of {len(lines)}" in text
    json.dumps(summary)  # the --json object is serialisable
