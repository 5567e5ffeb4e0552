"""Output rows of a poll: topics, keys, counts, and dead letters that fit one record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from finfeed.settings import KafkaSettings
from pipeline.records import DeadLetterRecord, DuplicateRecord, SourcePosition
from workers.enricher import Prepared
from workers.offsets import Ticket
from workers.outputs import OutputEncoder

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
KAFKA = KafkaSettings()


def _encoder(limit: int = 1_000_000) -> OutputEncoder:
    return OutputEncoder(KAFKA, enricher=None, max_record_bytes=limit)  # type: ignore[arg-type]


def _dead(raw: bytes, offset: int) -> DeadLetterRecord:
    return DeadLetterRecord(
        reason="invalid_json",
        detail="Expecting value",
        raw=raw,
        source=SourcePosition("news.raw", 0, offset),
        failed_at=NOW,
    )


def test_prepared_rows_and_counts() -> None:
    dup = DuplicateRecord("d1", "c1", "near", 0.8, NOW, NOW)
    prepared: Prepared[Ticket[Any]] = Prepared(
        dead_letters=[(_dead(b"{", 3), Ticket("p0", 3, 1))],
        duplicates=[(dup, Ticket("p0", 4, 1))],
    )
    unit, rows = _encoder().prepared(prepared)
    assert [topic for topic, _, _ in rows] == [KAFKA.topic_deadletter, KAFKA.topic_duplicates]
    assert rows[1][1] == b"d1" and json.loads(rows[1][2])["canonical_id"] == "c1"
    assert (unit.dead_letter, unit.duplicates, unit.reasons, unit.dup_kinds) == (
        1,
        1,
        {"invalid_json": 1},
        {"near": 1},
    )
    assert [t.offset for t in unit.tickets] == [3, 4]


def test_oversized_dead_letter_is_truncated_to_fit_and_says_so() -> None:
    limit = 4_000
    record = _dead(b"x" * 50_000, 7)
    topic, key, value = _encoder(limit).deadletter(record)
    assert topic == KAFKA.topic_deadletter and key == record.id.encode()  # same id: idempotent
    assert len(value) <= limit
    body = json.loads(value)
    assert "raw truncated from 50000" in body["detail"]
    assert body["source"]["offset"] == 7
