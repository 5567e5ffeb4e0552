"""The demo feed ends in the split its README documents, through the real pure steps."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.contract import ContractLimits, parse_snippet
from pipeline.dedupe import RECOMMENDED_THRESHOLD, Fingerprinter, InMemoryDedupeStore
from pipeline.errors import ContractError

DATA = Path(__file__).resolve().parents[2] / "finfeed" / "data"
NOW = datetime(2026, 11, 10, tzinfo=UTC)  # after the feed's last event time
KAFKA_TS = datetime(2026, 11, 9, 12, tzinfo=UTC)


def documented() -> tuple[dict[str, int], dict[str, int]]:
    text = (DATA / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| ([a-z_, ]+) \| (\d+) \|$", text, flags=re.MULTILINE))
    reasons = dict(re.findall(r"^\| `([a-z_]+)` \| (\d+) \|", text, flags=re.MULTILINE))
    return {k: int(v) for k, v in rows.items()}, {k: int(v) for k, v in reasons.items()}


def run(lines: list[bytes]) -> tuple[Counter[str], Counter[str]]:
    fpr = Fingerprinter()
    store = InMemoryDedupeStore()
    outcome: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for raw in lines:
        outcome["input"] += 1
        try:
            snippet = parse_snippet(raw, kafka_timestamp=KAFKA_TS, now=NOW, limits=ContractLimits())
        except ContractError as exc:
            outcome["dead_letter"] += 1
            reasons[exc.reason] += 1
            continue
        decision = store.check_and_claim(
            snippet.id,
            fpr.fingerprint(snippet.text),
            snippet.published_at,
            threshold=RECOMMENDED_THRESHOLD,
            horizon=timedelta(days=7),
        )
        if decision.is_duplicate:
            outcome["duplicates"] += 1
            outcome[f"duplicates, {decision.kind}"] += 1
        else:
            outcome["enriched"] += 1
    return outcome, reasons


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return (DATA / "sample_feed.jsonl").read_bytes().splitlines()


def test_split_is_as_documented(lines: list[bytes]) -> None:
    outcome, reasons = run(lines)
    counts, doc_reasons = documented()
    assert {"input", "enriched", "duplicates", "dead_letter"} <= set(counts)
    assert dict(outcome) == counts
    assert dict(reasons) == doc_reasons
    assert outcome["enriched"] + outcome["duplicates"] + outcome["dead_letter"] == outcome["input"]


def test_split_does_not_depend_on_arrival_order(lines: list[bytes]) -> None:
    forward, _ = run(lines)
    backward, _ = run(lines[::-1])
    assert backward["enriched"] == forward["enriched"]
    assert backward["duplicates"] == forward["duplicates"]


def test_feed_shape(lines: list[bytes]) -> None:
    assert 250 <= len(lines) <= 350
    for raw in lines:
        raw.decode("utf-8")  # line tools can read every line
    ids: Counter[str] = Counter()
    for raw in lines:
        with contextlib.suppress(ContractError):
            ids[parse_snippet(raw, kafka_timestamp=KAFKA_TS, now=NOW).id] += 1
    assert max(ids.values()) == 1  # every valid input has its own id
