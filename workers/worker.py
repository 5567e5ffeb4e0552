"""The streaming enrichment worker: raw topic in, enriched records out, at least once.

One ``EnrichmentWorker`` is one member of a consumer group on the raw topic; any number
of them share its partitions. Plain aiokafka with manual commits (docs/worker.md says
why not faust). Three tasks overlap on one event loop:

- the **fetch loop** polls the broker, validates, fingerprints and dedupes each poll in a
  thread (``Enricher.prepare``, one Redis round trip per poll), publishes dead letters and
  duplicates at once, and gathers unique snippets into micro-batches (size or age);
- the **classify loop** scores one micro-batch at a time in a thread while the fetch loop
  prepares the next (prefetch), then publishes enriched records and time-series points;
- the **ack loop** awaits the broker's acknowledgements, in order, and only then marks the
  inputs done in the ``OffsetTracker``; the **commit loop** commits, per partition, the
  highest contiguous done offset + 1.

Backpressure: a ``BackpressureError`` from the classifier pauses every assigned partition
(``consumer.pause``) and retries the same batch with backoff until it is scored; too much
unfinished input (a slow classifier) pauses them too. Nothing is dropped and no offset
passes unscored input. A rebalance drains in-flight work of the revoked partitions and
commits it before they move (bounded by ``drain_timeout_s``; what does not finish in time
is redelivered to the next owner and produces the same record ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener

from finfeed.settings import KafkaSettings
from models.errors import BackpressureError
from pipeline.batching import MicroBatcher, MicroBatchPolicy
from pipeline.records import SourcePosition
from workers.enricher import Enricher, PendingSnippet, Prepared, RawInput, Scored, Validated
from workers.errors import ServiceError, WorkerError
from workers.kafka import client_kwargs
from workers.metrics import HealthServer, WorkerMetrics
from workers.offsets import OffsetTracker, Ticket
from workers.outputs import OutputEncoder, OutputUnit
from workers.publisher import BatchPublisher

log = logging.getLogger(__name__)

_MONO_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_TIMER = object()  # the dedupe stage woke up to release an aged micro-batch


def _mono_now() -> datetime:
    """A monotonic clock as an aware datetime, for the micro-batcher's age policy."""
    return _MONO_EPOCH + timedelta(seconds=time.monotonic())


@dataclass(frozen=True, slots=True)
class WorkerTuning:
    """Knobs with production defaults; tests shorten the timeouts."""

    max_inflight: int | None = None  # unfinished inputs before pausing; None = 8 batches
    max_poll_records: int | None = None  # per poll; None = 2 batches
    poll_timeout_ms: int = 200
    commit_interval_s: float = 1.0
    drain_timeout_s: float = 20.0  # rebalance: wait this long for in-flight work
    shutdown_timeout_s: float = 30.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 10.0
    queued_batches: int = 2  # scored-ahead micro-batches waiting for the classifier
    producer_linger_ms: int = 5
    producer_compression: str | None = None  # "gzip", "lz4", "zstd", "snappy"


@dataclass(slots=True)
class WorkerStats:
    """Counts of inputs whose outputs the broker acknowledged."""

    consumed: int = 0
    enriched: int = 0
    duplicates: int = 0
    dead_letter: int = 0
    timeseries_points: int = 0
    classifier_calls: int = 0
    commits: int = 0

    @property
    def accounted(self) -> int:
        """Inputs with acknowledged outputs: enriched + duplicates + dead letters."""
        return self.enriched + self.duplicates + self.dead_letter

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "accounted": self.accounted}


class EnrichmentWorker:
    """One consumer-group member: validate, dedupe, score, publish, commit."""

    def __init__(
        self,
        kafka: KafkaSettings,
        enricher: Enricher,
        policy: MicroBatchPolicy,
        *,
        metrics: WorkerMetrics | None = None,
        metrics_port: int | None = None,
        metrics_host: str = "0.0.0.0",
        tuning: WorkerTuning | None = None,
    ) -> None:
        self.kafka = kafka
        self.enricher = enricher
        self.policy = policy
        self.metrics = metrics or WorkerMetrics()
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.tuning = tuning or WorkerTuning()
        self.stats = WorkerStats()
        self.tracker: OffsetTracker[Any] = OffsetTracker()
        self._max_inflight = self.tuning.max_inflight or 8 * policy.max_size
        self._batcher: MicroBatcher[PendingSnippet[Ticket[Any]]] = MicroBatcher(policy)
        self._dedupe_q: asyncio.Queue[Validated[Ticket[Any]] | None] | None = None
        self._classify_q: asyncio.Queue[list[PendingSnippet[Ticket[Any]]] | None] | None = None
        self._ack_q: asyncio.Queue[OutputUnit | None] | None = None
        self._progress = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._pause_reasons: set[str] = set()
        self._consumer: Any = None
        self._producer: Any = None
        self._publisher: BatchPublisher = BatchPublisher(None)
        self._health: HealthServer | None = None
        self._running = False
        self._fatal: BaseException | None = None
        self._stop: asyncio.Event | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def health_port(self) -> int | None:
        return self._health.port if self._health is not None else None

    async def run(self, stop: asyncio.Event | None = None) -> WorkerStats:
        """Consume until ``stop`` is set; then finish in-flight work, commit and leave."""
        stop = stop or asyncio.Event()
        self._stop = stop
        self._dedupe_q = asyncio.Queue(maxsize=2)
        self._classify_q = asyncio.Queue(maxsize=max(1, self.tuning.queued_batches))
        self._ack_q = asyncio.Queue()
        common = client_kwargs(self.kafka)
        self._producer = AIOKafkaProducer(
            **common,
            acks="all",
            linger_ms=self.tuning.producer_linger_ms,
            max_batch_size=960 * 1024,  # under the brokers' default 1 MiB message.max.bytes
            max_request_size=8 * 1024 * 1024,
            compression_type=self.tuning.producer_compression,
        )
        self._consumer = AIOKafkaConsumer(
            **common,
            group_id=self.kafka.group_id,
            enable_auto_commit=False,  # offsets are committed only after outputs are acked
            auto_offset_reset="earliest",  # a new group starts from the oldest news
            session_timeout_ms=self.kafka.session_timeout_ms,
            heartbeat_interval_ms=self.kafka.heartbeat_interval_ms,
            max_poll_interval_ms=max(300_000, self.kafka.session_timeout_ms),
            isolation_level="read_committed",
        )
        self._publisher = BatchPublisher(self._producer)
        self._outputs = OutputEncoder(self.kafka, self.enricher, self._publisher.max_record_bytes)
        self._consumer.subscribe([self.kafka.topic_raw], listener=_Rebalance(self))
        try:
            await self._producer.start()
            await self._consumer.start()
        except Exception as exc:
            await self._close_clients()
            raise ServiceError(f"cannot connect to Kafka at {self.kafka.bootstrap}: {exc}") from exc
        if self.metrics_port is not None:
            self._health = await HealthServer(
                self.metrics, self._health_check, self.metrics_host, self.metrics_port
            ).start()
        self._running = True
        dedupe_task = asyncio.create_task(self._guard(self._dedupe_loop(stop), "dedupe"))
        classify_task = asyncio.create_task(self._guard(self._classify_loop(), "classify"))
        ack_task = asyncio.create_task(self._guard(self._ack_loop(), "ack"))
        commit_task = asyncio.create_task(self._guard(self._commit_loop(stop), "commit"))
        try:
            await self._fetch_loop(stop)
        finally:
            await self._shutdown(dedupe_task, classify_task, ack_task, commit_task)
        if self._fatal is not None:
            raise WorkerError(f"worker stopped: {self._fatal}") from self._fatal
        return self.stats

    async def _guard(self, stage: Any, name: str) -> None:
        """Run a stage; an unexpected failure stops the worker (nothing more is committed)
        instead of leaving the other stages waiting on it."""
        try:
            await stage
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("the %s stage failed; stopping the worker", name)
            if self._fatal is None:
                self._fatal = exc
            if self._stop is not None:
                self._stop.set()

    async def _shutdown(
        self,
        dedupe: asyncio.Task[None],
        classify: asyncio.Task[None],
        ack: asyncio.Task[None],
        commit: asyncio.Task[None],
    ) -> None:
        """Finish what was fetched (bounded), commit it, then leave the group.

        Each stage ends once the one before it handed everything on: fetching stopped ->
        dedupe releases the last micro-batch -> classify scores it -> ack awaits the
        broker. What does not finish within ``shutdown_timeout_s`` is not committed and is
        redelivered to the next owner of its partition.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.tuning.shutdown_timeout_s

        async def finish(
            task: asyncio.Task[None], queue: asyncio.Queue[Any] | None, name: str
        ) -> None:
            if queue is not None and not task.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(queue.put(None), max(0.0, deadline - loop.time()))
            try:
                await asyncio.wait_for(asyncio.shield(task), max(0.0, deadline - loop.time()))
            except TimeoutError:
                log.warning("%s did not finish in time; its input is redelivered", name)
                task.cancel()
            except Exception:
                log.exception("%s stage failed", name)

        await finish(dedupe, self._dedupe_q, "dedupe")
        await finish(classify, self._classify_q, "classifier")
        await finish(ack, self._ack_q, "publishing")
        commit.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await commit
        # Last commit: covers exactly the inputs whose outputs were acknowledged.
        await self._commit()
        self._running = False
        await self._close_clients()
        if self._health is not None:
            await self._health.stop()
        log.info("worker stopped: %s", self.stats.to_dict())

    async def _close_clients(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()

    def _health_check(self) -> tuple[bool, dict[str, Any]]:
        consumer = self._consumer
        assigned = (
            sorted(f"{tp.topic}/{tp.partition}" for tp in consumer.assignment()) if consumer else []
        )
        ok = self._running and self._fatal is None
        return ok, {
            "assigned": assigned,
            "paused": sorted(self._pause_reasons),
            "inflight": self.tracker.pending(),
            "stats": self.stats.to_dict(),
            **({"error": str(self._fatal)} if self._fatal else {}),
        }

    # -- fetch: validate, dedupe, batch -------------------------------------------------

    async def _fetch_loop(self, stop: asyncio.Event) -> None:
        """Poll, and validate each poll in a thread; hand it to the dedupe stage."""
        assert self._dedupe_q is not None
        consumer = self._consumer
        max_records = self.tuning.max_poll_records or 2 * self.policy.max_size
        while not stop.is_set() and self._fatal is None:
            await self._respect_capacity(stop)
            records = await consumer.getmany(
                timeout_ms=self.tuning.poll_timeout_ms, max_records=max_records
            )
            if records:
                inputs = self._inputs(records)
                validated = await asyncio.to_thread(self.enricher.validate, inputs)
                # waits while the next stage is behind; gives up if the worker is stopping
                if not await self._put_unless_stopped(self._dedupe_q, validated, stop):
                    return

    @staticmethod
    async def _put_unless_stopped(
        queue: asyncio.Queue[Any], item: Any, stop: asyncio.Event
    ) -> bool:
        if not queue.full():
            queue.put_nowait(item)
            return True
        put = asyncio.ensure_future(queue.put(item))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({put, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if put.done():
            return True
        put.cancel()
        return False

    async def _dedupe_loop(self, stop: asyncio.Event) -> None:
        """Dedupe each validated poll in order, publish its duplicates and dead letters,
        and gather its unique snippets into micro-batches (released by size or age)."""
        assert self._dedupe_q is not None and self._classify_q is not None
        while True:
            wait = self._batcher.time_until_due(_mono_now())
            validated: Validated[Ticket[Any]] | object | None
            try:
                if wait is None:
                    validated = await self._dedupe_q.get()
                else:
                    validated = await asyncio.wait_for(self._dedupe_q.get(), wait.total_seconds())
            except TimeoutError:
                validated = _TIMER
            if validated is None:  # shutting down: release what waits
                pending = self._batcher.flush()
                if pending:
                    await self._classify_q.put(pending)
                await self._classify_q.put(None)
                return
            if isinstance(validated, Validated):
                prepared = await self._dedupe(validated, stop)
                if prepared is not None:  # None: stopping while the store is down
                    await self._publish_prepared(prepared)
                    for item in prepared.unique:
                        full = self._batcher.add(item, _mono_now())
                        if full:
                            await self._classify_q.put(full)
            if self._batcher.due(_mono_now()):
                await self._classify_q.put(self._batcher.flush())

    def _inputs(self, records: dict[Any, list[Any]]) -> list[RawInput[Ticket[Any]]]:
        inputs: list[RawInput[Ticket[Any]]] = []
        consumer = self._consumer
        for tp, msgs in records.items():
            if not msgs:
                continue
            self.metrics.consumed.labels(tp.topic).inc(len(msgs))
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(0, highwater - msgs[-1].offset - 1)
                )
            for m in msgs:
                ts = (
                    datetime.fromtimestamp(m.timestamp / 1000, UTC)
                    if m.timestamp is not None and m.timestamp >= 0
                    else None
                )
                inputs.append(
                    RawInput(
                        value=m.value,
                        position=SourcePosition(tp.topic, tp.partition, m.offset),
                        timestamp=ts,
                        token=self.tracker.track(tp, m.offset),
                    )
                )
        self.stats.consumed += len(inputs)
        self.metrics.inflight.set(self.tracker.pending())
        return inputs

    async def _dedupe(
        self, validated: Validated[Ticket[Any]], stop: asyncio.Event
    ) -> Prepared[Ticket[Any]] | None:
        """``Enricher.dedupe`` in a thread; pause and retry while the dedupe store is down."""
        attempt = 0
        try:
            while True:
                try:
                    return await asyncio.to_thread(self.enricher.dedupe, validated)
                except ServiceError as exc:
                    if stop.is_set():
                        return None
                    delay = self._backoff(attempt)
                    attempt += 1
                    log.warning(
                        "dedupe store unavailable (%s); pausing, retry in %.1fs", exc, delay
                    )
                    self._pause("dedupe_store")
                    await self._sleep_or_stop(delay, stop)
        finally:
            if attempt:
                self._resume("dedupe_store")

    async def _publish_prepared(self, prepared: Prepared[Ticket[Any]]) -> None:
        """Dead letters and duplicates of a poll go out at once."""
        await self._submit(*self._outputs.prepared(prepared))

    # -- classify and publish -----------------------------------------------------------

    async def _classify_loop(self) -> None:
        assert self._classify_q is not None
        while True:
            batch = await self._classify_q.get()
            if batch is None:
                return
            if not batch:
                continue
            scored = await self._score(batch)
            await self._publish_scored(scored)

    async def _score(self, batch: list[PendingSnippet[Ticket[Any]]]) -> Scored[Ticket[Any]]:
        """Score ``batch``; on backpressure pause input and retry the same batch."""
        attempt = 0
        try:
            while True:
                started = time.perf_counter()
                try:
                    scored = await asyncio.to_thread(self.enricher.score, batch)
                except BackpressureError as exc:
                    delay = (
                        exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
                    )
                    attempt += 1
                    self.metrics.classifier_retries.labels("backpressure").inc()
                    log.warning(
                        "classifier backpressure (%s); pausing input, retry in %.2fs", exc, delay
                    )
                    self._pause("backpressure")
                    await asyncio.sleep(min(delay, self.tuning.backoff_max_s))
                    continue
                elapsed = time.perf_counter() - started
                self.metrics.classifier_latency.observe(elapsed)
                self.metrics.batch_size.observe(len(batch))
                self.stats.classifier_calls += scored.calls
                if scored.calls > 1:
                    self.metrics.classifier_retries.labels("isolation").inc(scored.calls - 1)
                return scored
        finally:
            if attempt:
                self._resume("backpressure")

    async def _publish_scored(self, scored: Scored[Ticket[Any]]) -> None:
        await self._submit(*self._outputs.scored(scored))

    async def _submit(self, unit: OutputUnit, rows: list[tuple[str, bytes, bytes]]) -> None:
        """Queue ``rows`` for the broker; the ack loop finishes ``unit`` once they are acked.

        Appending to the producer's batches waits only when its buffer is full (natural
        backpressure); the futures resolve when the broker acknowledged (acks=all).
        """
        if not unit.tickets:
            return
        assert self._ack_q is not None
        unit.futures = await self._publisher.publish(rows)
        self._ack_q.put_nowait(unit)

    # -- acknowledge and commit -----------------------------------------------------------

    async def _ack_loop(self) -> None:
        """Await each unit's acknowledgements in order; only then are its inputs done."""
        assert self._ack_q is not None
        while True:
            unit = await self._ack_q.get()
            if unit is None:
                return
            try:
                await asyncio.gather(*unit.futures)  # acknowledged by the broker
            except Exception as exc:
                # The broker refused outputs after the producer's own retries. Stop
                # without marking these inputs done: they are redelivered after restart.
                log.error("publishing outputs failed: %s; stopping the worker", exc)
                self._fatal = exc
                if self._stop is not None:
                    self._stop.set()
                return
            self.tracker.done_many(unit.tickets)
            s, m = self.stats, self.metrics
            s.enriched += unit.enriched
            s.duplicates += unit.duplicates
            s.dead_letter += unit.dead_letter
            s.timeseries_points += unit.points
            if unit.enriched:
                m.enriched.inc(unit.enriched)
                m.timeseries_points.inc(unit.points)
            for kind, n in unit.dup_kinds.items():
                m.duplicates.labels(kind).inc(n)
            for reason, n in unit.reasons.items():
                m.dead_lettered.labels(reason).inc(n)
            m.inflight.set(self.tracker.pending())
            self._progress.set()

    async def _commit_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._sleep_or_stop(self.tuning.commit_interval_s, stop)
            await self._commit()

    async def _commit(self, partitions: Any = None) -> None:
        """Commit, per partition, the first offset whose outputs are not acknowledged yet.

        Order (at-least-once): outputs produced -> acknowledged by the broker (ack loop)
        -> marked done in the tracker -> committed here. A crash anywhere before the commit
        redelivers the inputs, and they produce the same record ids again.
        """
        consumer = self._consumer
        if consumer is None:
            return
        async with self._commit_lock:
            assigned = set(consumer.assignment())
            chosen = assigned if partitions is None else assigned & set(partitions)
            plan = self.tracker.commit_plan(chosen)
            if not plan:
                return
            try:
                await consumer.commit(dict(plan))
            except Exception as exc:  # rebalancing, coordinator moved: the next commit retries
                log.warning("offset commit failed (%s); will retry", exc)
                return
            self.tracker.committed(plan)
            self.stats.commits += 1
            self.metrics.commits.inc()

    # -- backpressure ---------------------------------------------------------------------

    async def _respect_capacity(self, stop: asyncio.Event) -> None:
        """Pause fetching while too much input is unfinished (the classifier is behind)."""
        if self.tracker.pending() < self._max_inflight:
            return
        assert self._classify_q is not None
        self._pause("capacity")
        try:
            low = self._max_inflight // 2
            while self.tracker.pending() > low and not stop.is_set() and self._fatal is None:
                self._progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), 0.05)
        finally:
            self._resume("capacity")

    def _pause(self, reason: str) -> None:
        first = not self._pause_reasons
        self._pause_reasons.add(reason)
        if self._consumer is not None:
            self._consumer.pause(*self._consumer.assignment())
        self.metrics.paused.set(1)
        if first:
            log.info("paused consumption (%s)", reason)

    def _resume(self, reason: str) -> None:
        if reason not in self._pause_reasons:
            return
        self._pause_reasons.discard(reason)
        if not self._pause_reasons:
            if self._consumer is not None:
                self._consumer.resume(*self._consumer.paused())
            self.metrics.paused.set(0)
            log.info("resumed consumption")

    def _backoff(self, attempt: int) -> float:
        t = self.tuning
        base = min(t.backoff_max_s, t.backoff_initial_s * (2**attempt))
        return float(base * (0.5 + random.random() / 2))  # jitter: workers do not retry in step

    @staticmethod
    async def _sleep_or_stop(seconds: float, stop: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    # -- rebalance ------------------------------------------------------------------------

    async def on_revoked(self, revoked: list[Any]) -> None:
        """Finish and commit in-flight work of ``revoked`` before they move (bounded)."""
        if not revoked:
            return
        if self._running and self._classify_q is not None and self._fatal is None:
            pending = self._batcher.flush()
            if pending:
                await self._classify_q.put(pending)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.tuning.drain_timeout_s
            while any(self.tracker.pending(tp) for tp in revoked) and loop.time() < deadline:
                self._progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), 0.05)
            left = sum(self.tracker.pending(tp) for tp in revoked)
            if left:
                log.warning(
                    "rebalance: %d inputs unfinished; the next owner reprocesses them", left
                )
            await self._commit(revoked)
        self.tracker.forget(revoked)
        for tp in revoked:
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))

    async def on_assigned(self, assigned: list[Any]) -> None:
        self.metrics.assigned_partitions.set(len(self._consumer.assignment()))
        if self._pause_reasons and assigned:
            self._consumer.pause(*assigned)
        log.info("assigned %s", sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: EnrichmentWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._worker.on_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._worker.on_assigned(list(assigned))
