"""A worker's outputs as Kafka rows, and the inputs each batch of rows finishes.

``OutputEncoder`` turns what the enricher decided (dead letters and duplicates of a poll,
the scored snippets of a micro-batch) into ``(topic, key, value)`` rows for the
``BatchPublisher``, plus an ``OutputUnit``: the tickets of the inputs those rows finish and
the counts the metrics need. The worker's ack loop marks a unit's inputs done only once the
broker acknowledged all of its rows. Nothing here touches the network.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from finfeed import serialization
from finfeed.settings import KafkaSettings
from pipeline.records import DeadLetterRecord, RecordEncoder
from workers.enricher import Enricher, Prepared, Scored
from workers.offsets import Ticket
from workers.publisher import RecordTooLargeError

log = logging.getLogger(__name__)

Row = tuple[str, bytes, bytes]  # topic, key, value


@dataclass(slots=True)
class OutputUnit:
    """Outputs of some inputs, in flight to the broker, and the inputs they finish."""

    futures: list[asyncio.Future[Any]]
    tickets: list[Ticket[Any]]
    enriched: int = 0
    duplicates: int = 0
    dead_letter: int = 0
    points: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    dup_kinds: dict[str, int] = field(default_factory=dict)

    def dead(self, reason: str, ticket: Ticket[Any]) -> None:
        self.tickets.append(ticket)
        self.dead_letter += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


class OutputEncoder:
    """Rows for the output topics, each record within ``max_record_bytes``."""

    def __init__(self, kafka: KafkaSettings, enricher: Enricher, max_record_bytes: int) -> None:
        self.kafka = kafka
        self.enricher = enricher
        self.max_record_bytes = max_record_bytes

    def prepared(self, prepared: Prepared[Ticket[Any]]) -> tuple[OutputUnit, list[Row]]:
        """Dead letters and duplicates of one poll."""
        unit = OutputUnit(futures=[], tickets=[])
        rows: list[Row] = []
        for record, ticket in prepared.dead_letters:
            rows.append(self.deadletter(record))
            unit.dead(record.reason, ticket)
        topic = self.kafka.topic_duplicates
        for dup, ticket in prepared.duplicates:
            rows.append((topic, dup.id.encode(), serialization.dumps(dup.to_dict())))
            unit.tickets.append(ticket)
            unit.duplicates += 1
            unit.dup_kinds[dup.kind] = unit.dup_kinds.get(dup.kind, 0) + 1
        return unit, rows

    def scored(self, scored: Scored[Ticket[Any]]) -> tuple[OutputUnit, list[Row]]:
        """Enriched records and time-series points of one scored micro-batch; a snippet
        whose records cannot be built or encoded becomes a ``processing_error`` dead letter."""
        k = self.kafka
        unit = OutputUnit(futures=[], tickets=[])
        rows: list[Row] = []
        processed_at = self.enricher.clock()
        limit = self.max_record_bytes
        encoder = RecordEncoder()  # shared parts (scores, times) are converted once
        dumps = serialization.dumps
        for item, scores in scored.scored:
            try:
                [(enriched, points, ticket)] = self.enricher.finish([(item, scores)], processed_at)
                enriched_dict, point_dicts = encoder.enriched(enriched, points)
                encoded = [(k.topic_enriched, enriched.id.encode(), dumps(enriched_dict))]
                encoded += [
                    (k.topic_timeseries, p.company.encode(), dumps(d))
                    for p, d in zip(points, point_dicts, strict=True)
                ]
                too_big = max(len(v) for _, _, v in encoded)
                if too_big > limit:
                    raise RecordTooLargeError(
                        f"an output record of {too_big} bytes exceeds {limit}"
                    )
            except Exception as exc:  # a record that breaks building or encoding
                log.warning("building records failed for snippet %s: %s", item.snippet.id, exc)
                dl = self.enricher.processing_error(exc, item.raw, item.position, processed_at)
                rows.append(self.deadletter(dl))
                unit.dead(dl.reason, item.token)
                continue
            rows.extend(encoded)
            unit.tickets.append(ticket)
            unit.enriched += 1
            unit.points += len(points)
        for record, ticket in scored.failed:
            rows.append(self.deadletter(record))
            unit.dead(record.reason, ticket)
        return unit, rows

    def deadletter(self, record: DeadLetterRecord) -> Row:
        """A dead letter, its original bytes truncated if they would not fit one record."""
        value = serialization.dumps(record.to_dict())
        if len(value) > self.max_record_bytes:
            keep = self.max_record_bytes // 3  # raw is carried as text and base64
            record = DeadLetterRecord(
                reason=record.reason,
                detail=f"{record.detail} [raw truncated from {len(record.raw)} to {keep} bytes]",
                raw=record.raw[:keep],
                source=record.source,
                failed_at=record.failed_at,
            )
            value = serialization.dumps(record.to_dict())
        return (self.kafka.topic_deadletter, record.id.encode(), value)
