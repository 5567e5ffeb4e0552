"""Rolling aggregates on Redis: the store behind the aggregator, the API and ``finfeed query``.

Semantics are those of ``pipeline.aggregates`` (the reference keyed function); this module
binds them to Redis so many processes share them and queries stay fast. Layout, for a key
prefix ``P`` (default ``finfeed:``), a company symbol ``S`` and an event-time bucket index
``B`` (``event_ms // bucket_ms``; the ``{S}`` hash tag keeps a company on one cluster slot):

``P agg:{S}:b:B`` - one hash per (company, bucket):
    ``#<snippet_id>``  every version of that snippet's contribution, ``;``-separated, each
                       ``point_id,knowledge_ms,event_ms,score_units,label,fl,pred``;
    ``@k``             the newest knowledge time of any version in the bucket;
    ``@<f><stat>``     running sums of the *current* versions (latest known) per filter
                       ``f`` in ``a`` (all), ``f`` (forward-looking), ``p`` (prediction):
                       ``n`` count, ``s`` score units, ``0``/``1``/``2`` label mix;
    ``@ek``, ``@L``    the version chains as knowledge-time deltas (+v1 at kt1, -v1 +v2 at
                       kt2, ...): ``@ek`` is the newest of those taking effect by the
                       bucket's horizon (its end + 1 h); ``@L`` lists the later ones (late
                       events, re-scores) as ``knowledge_ms,sign,score,label,fl,pred,pid``.
    The hash expires at the bucket's end plus the retention (EXPIREAT).
``P agg:symbols`` - sorted set of symbols scored by their newest knowledge time.

``apply`` is one Lua script per point (atomic): a point id already present in its
snippet's version list is a no-op (idempotent); otherwise the version is appended, the
current sums move to the newest version, and the snippet's delta chain is replaced.
``query`` is one Lua script per window: a bucket entirely inside the window answers from
its current sums when everything in it was known at ``as_of``, else from those sums minus
the late deltas after ``as_of`` (when every early delta was known); only the edge buckets and a bucket whose own
period contains ``as_of`` are scanned version by version. docs/aggregates.md has more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from finfeed.settings import AggregateSettings
from pipeline.aggregates import (
    ASPECT_FILTERS,
    AspectFilter,
    Contribution,
    RollingAggregate,
    WindowStats,
    bucket_index,
    from_ms,
    to_ms,
)
from pipeline.records import TimeseriesPoint
from workers.errors import WorkerError

log = logging.getLogger(__name__)

FILTER_CODES: dict[AspectFilter, str] = {"all": "@a", "forward_looking": "@f", "prediction": "@p"}
MAX_WINDOW_BUCKETS = 5_000


class AggregateStoreError(WorkerError):
    """A query or update of the Redis aggregate store failed or was malformed."""


_VERSION_PATTERN = "^([^,]+),(%-?%d+),(%-?%d+),(%-?%d+),(%d),(%d),(%d)$"

APPLY_LUA = (
    """
local key = KEYS[1]
local field = ARGV[1]
local pid = ARGV[2]
local kt = tonumber(ARGV[3])
local horizon = tonumber(ARGV[11])
local enc = ARGV[2] .. ',' .. ARGV[3] .. ',' .. ARGV[4] .. ',' .. ARGV[5] .. ','
  .. ARGV[6] .. ',' .. ARGV[7] .. ',' .. ARGV[8]
local cur = redis.call('HGET', key, field)
local versions = {}
if cur then
  for v in string.gmatch(cur, '[^;]+') do
    local p, k, e, s, l, f, r = string.match(v, '"""
    + _VERSION_PATTERN
    + """')
    if p == pid then return 0 end
    versions[#versions + 1] = {p, tonumber(k), s, l, f, r}
  end
  redis.call('HSET', key, field, cur .. ';' .. enc)
else
  redis.call('HSET', key, field, enc)
end
local function codes(fl, pr)
  local c = {'a'}
  if fl == '1' then c[#c + 1] = 'f' end
  if pr == '1' then c[#c + 1] = 'p' end
  return c
end
local function bump(prefix, v, sign)
  for _, c in ipairs(codes(v[5], v[6])) do
    redis.call('HINCRBY', key, prefix .. c .. 'n', sign)
    redis.call('HINCRBY', key, prefix .. c .. 's', sign * tonumber(v[3]))
    redis.call('HINCRBY', key, prefix .. c .. v[4], sign)
  end
end
local function newer(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] > b[1]) end
-- the version chain as knowledge-time deltas: +v1 at kt1, (-v1, +v2) at kt2, ...
local function chain(vs)
  table.sort(vs, function(a, b) return newer(b, a) end)
  local out = {}
  for i, v in ipairs(vs) do
    if i > 1 then
      local o = vs[i - 1]
      out[#out + 1] = {v[2], -1, o[3], o[4], o[5], o[6], v[1]}
    end
    out[#out + 1] = {v[2], 1, v[3], v[4], v[5], v[6], v[1]}
  end
  return out
end
local new = {pid, kt, ARGV[5], ARGV[6], ARGV[7], ARGV[8]}
-- current sums (the newest version overall)
local best = nil
for _, v in ipairs(versions) do
  if best == nil or newer(v, best) then best = v end
end
if best == nil or newer(new, best) then
  if best ~= nil then bump('@', best, -1) end
  bump('@', new, 1)
end
-- knowledge-time deltas: early ones (by the bucket's horizon) raise @ek, late ones are listed
local late = redis.call('HGET', key, '@L') or ''
local late_changed = false
local ek = tonumber(redis.call('HGET', key, '@ek') or '-1')
local ek0 = ek
local function delta(d, mult)
  if d[1] <= horizon then
    if mult > 0 and d[1] > ek then ek = d[1] end
  else
    local entry = d[1] .. ',' .. d[2] .. ',' .. d[3] .. ',' .. d[4] .. ','
      .. d[5] .. ',' .. d[6] .. ',' .. d[7]
    if mult > 0 then
      late = late .. ';' .. entry
    else
      local at = string.find(late .. ';', ';' .. entry .. ';', 1, true)
      if at then late = string.sub(late, 1, at - 1) .. string.sub(late, at + #entry + 1) end
    end
    late_changed = true
  end
end
if #versions > 0 then
  for _, d in ipairs(chain(versions)) do delta(d, -1) end
end
versions[#versions + 1] = new
for _, d in ipairs(chain(versions)) do delta(d, 1) end
if late_changed then redis.call('HSET', key, '@L', late) end
if ek > ek0 then redis.call('HSET', key, '@ek', ek) end
local kmax = tonumber(redis.call('HGET', key, '@k') or '-1')
if kt > kmax then redis.call('HSET', key, '@k', ARGV[3]) end
redis.call('EXPIREAT', key, ARGV[9])
redis.call('ZADD', KEYS[2], 'GT', kt, ARGV[10])
return 1
"""
)

QUERY_LUA = (
    """
local lo = tonumber(ARGV[1])
local hi = tonumber(ARGV[2])
local asof = tonumber(ARGV[3])
local fc = ARGV[4]
local bms = tonumber(ARGV[5])
local first = tonumber(ARGV[6])
local n, s, c0, c1, c2, lastk = 0, 0, 0, 0, 0, -1
local function want(fl, pr)
  return fc == '@a' or (fc == '@f' and fl == '1') or (fc == '@p' and pr == '1')
end
local function add(v, off)
  n = n + (tonumber(v[off]) or 0)
  s = s + (tonumber(v[off + 1]) or 0)
  c0 = c0 + (tonumber(v[off + 2]) or 0)
  c1 = c1 + (tonumber(v[off + 3]) or 0)
  c2 = c2 + (tonumber(v[off + 4]) or 0)
end
for i, key in ipairs(KEYS) do
  local start = (first + i - 1) * bms
  local stop = start + bms - 1
  local done = false
  if start > lo and stop <= hi then
    local v = redis.call('HMGET', key, '@k', fc .. 'n', fc .. 's', fc .. '0', fc .. '1',
      fc .. '2', '@ek')
    local ek = tonumber(v[7]) or -1
    if not v[1] then
      done = true
    elseif tonumber(v[1]) <= asof then
      -- everything in the bucket was known at as_of: the current sums
      add(v, 2)
      if tonumber(v[1]) > lastk then lastk = tonumber(v[1]) end
      done = true
    elseif ek <= asof then
      -- every early delta was known: the current sums minus the late deltas after as_of
      add(v, 2)
      if ek > lastk then lastk = ek end
      local late = redis.call('HGET', key, '@L') or ''
      for k, sg, sc, lb, fl, pr in string.gmatch(late,
          '(%-?%d+),(%-?%d),(%-?%d+),(%d),(%d),(%d),[^;]*') do
        k = tonumber(k)
        if k <= asof then
          if k > lastk then lastk = k end
        elseif want(fl, pr) then
          sg = tonumber(sg)
          n = n - sg
          s = s - sg * tonumber(sc)
          if lb == '0' then c0 = c0 - sg elseif lb == '1' then c1 = c1 - sg else c2 = c2 - sg end
        end
      end
      done = true
    end
  end
  if not done then
    local all = redis.call('HGETALL', key)
    for j = 1, #all, 2 do
      if string.byte(all[j], 1) == 35 then
        local bp, bk, be, bs, bl, bf, br = nil, -1, 0, 0, 0, 0, 0
        for v in string.gmatch(all[j + 1], '[^;]+') do
          local p, k, e, sc, l, fl, pr = string.match(v, '"""
    + _VERSION_PATTERN
    + """')
          k = tonumber(k)
          if k <= asof then
            e = tonumber(e)
            if e > lo and e <= hi and k > lastk then lastk = k end
            if bp == nil or k > bk or (k == bk and p > bp) then
              bp, bk, be, bs, bl, bf, br = p, k, e, sc, l, fl, pr
            end
          end
        end
        if bp ~= nil and be > lo and be <= hi and want(bf, br) then
          n = n + 1
          s = s + tonumber(bs)
          if bl == '0' then c0 = c0 + 1 elseif bl == '1' then c1 = c1 + 1 else c2 = c2 + 1 end
        end
      end
    end
  end
end
return {n, s, c0, c1, c2, lastk}
"""
)


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One version as stored in a bucket hash (for export and inspection)."""

    symbol: str
    snippet_id: str
    point_id: str
    knowledge_ms: int
    event_ms: int
    score_units: int
    label: int
    forward_looking: bool
    prediction: bool


class AggregateStore:
    """Rolling point-in-time aggregates per company and aspect filter, on Redis."""

    def __init__(
        self,
        client: Any,
        settings: AggregateSettings,
        prefix: str = "finfeed:",
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.settings = settings
        self.prefix = prefix
        self.clock = clock
        self.bucket_ms = settings.bucket_seconds * 1000
        # knowledge up to an hour after a bucket's end is "early" (summed); later is listed
        self.grace_ms = min(3600, settings.bucket_seconds) * 1000
        self.default_window = timedelta(days=settings.window_days)
        self.retention = timedelta(days=settings.retention_days)
        self._apply = client.register_script(APPLY_LUA)
        self._query = client.register_script(QUERY_LUA)

    # -- keys -------------------------------------------------------------------------
    @property
    def symbols_key(self) -> str:
        return f"{self.prefix}agg:symbols"

    def bucket_key(self, symbol: str, index: int) -> str:
        return f"{self.prefix}agg:{{{symbol}}}:b:{index}"

    # -- writes -----------------------------------------------------------------------
    def _apply_args(self, c: Contribution) -> tuple[list[str], list[Any]]:
        index = bucket_index(c.event_ms, self.settings.bucket_seconds)
        bucket_end_s = (index + 1) * self.settings.bucket_seconds
        expire_at = int(bucket_end_s + self.retention.total_seconds())
        keys = [self.bucket_key(c.company, index), self.symbols_key]
        args: list[Any] = [
            f"#{c.snippet_id}",
            c.point_id,
            c.knowledge_ms,
            c.event_ms,
            c.score_units,
            c.label,
            int(c.forward_looking),
            int(c.prediction),
            expire_at,
            c.company,
            (index + 1) * self.bucket_ms - 1 + self.grace_ms,
        ]
        return keys, args

    def apply_quiet(self, points: Sequence[TimeseriesPoint]) -> list[bool]:
        """Apply points in one pipelined round trip; per point, whether it changed anything."""
        contributions = []
        for point in points:
            try:
                contributions.append(Contribution.from_point(point))
            except Exception as exc:
                raise AggregateStoreError(f"cannot aggregate point {point.id}: {exc}") from exc
        return self.apply_contributions(contributions)

    def apply_contributions(self, contributions: Sequence[Contribution]) -> list[bool]:
        """``apply_quiet`` for already-extracted contributions (bulk loads, benchmarks)."""
        if not contributions:
            return []
        pipe = self.client.pipeline(transaction=False)
        for c in contributions:
            if ";" in c.point_id or "," in c.point_id:
                raise AggregateStoreError(f"point id {c.point_id!r} contains ';' or ','")
            keys, args = self._apply_args(c)
            self._apply(keys=keys, args=args, client=pipe)
        try:
            results = pipe.execute()
        except Exception as exc:
            raise AggregateStoreError(f"Redis apply failed: {exc}") from exc
        return [bool(int(r)) for r in results]

    def apply(self, points: Sequence[TimeseriesPoint]) -> list[RollingAggregate]:
        """Apply points (idempotent) and return the updated current aggregates.

        For every company that a point changed, one aggregate per aspect filter over the
        default window ending now, as known now. Re-applied points return nothing.
        """
        changed = self.apply_quiet(points)
        symbols: list[str] = []
        for point, did in zip(points, changed, strict=True):
            if did and point.company not in symbols:
                symbols.append(point.company)
        if not symbols:
            return []
        now = self.clock()
        requests = [(s, f) for s in symbols for f in ASPECT_FILTERS]
        return self.query_many([(s, f, now - self.default_window, now, now) for s, f in requests])

    def prune_symbols(self) -> int:
        """Forget symbols whose newest knowledge is older than the retention."""
        cutoff = to_ms(self.clock() - self.retention)
        return int(self.client.zremrangebyscore(self.symbols_key, "-inf", f"({cutoff}"))

    # -- reads ------------------------------------------------------------------------
    def _window_call(
        self, symbol: str, aspect: AspectFilter, start: datetime, end: datetime, as_of: datetime
    ) -> tuple[list[str], list[Any]]:
        lo, hi = to_ms(start), to_ms(end)
        if hi <= lo:
            raise AggregateStoreError("window end must be after its start")
        first = bucket_index(lo + 1, self.settings.bucket_seconds)
        last = bucket_index(hi, self.settings.bucket_seconds)
        if last - first + 1 > MAX_WINDOW_BUCKETS:
            raise AggregateStoreError(
                f"window spans {last - first + 1} buckets (at most {MAX_WINDOW_BUCKETS})"
            )
        keys = [self.bucket_key(symbol, i) for i in range(first, last + 1)]
        args = [lo, hi, to_ms(as_of), FILTER_CODES[aspect], self.bucket_ms, first]
        return keys, args

    @staticmethod
    def _stats(raw: Sequence[Any]) -> WindowStats:
        n, s, c0, c1, c2, lastk = (int(x) for x in raw)
        return WindowStats(
            count=n,
            score_units=s,
            negative=c0,
            neutral=c1,
            positive=c2,
            last_knowledge_ms=lastk if lastk >= 0 else None,
        )

    def query_many(
        self, requests: Iterable[tuple[str, AspectFilter, datetime, datetime, datetime]]
    ) -> list[RollingAggregate]:
        """Many ``(symbol, aspect, start, end, as_of)`` windows in one pipelined round trip."""
        reqs = list(requests)
        if not reqs:
            return []
        pipe = self.client.pipeline(transaction=False)
        for symbol, aspect, start, end, as_of in reqs:
            keys, args = self._window_call(symbol, aspect, start, end, as_of)
            self._query(keys=keys, args=args, client=pipe)
        try:
            results = pipe.execute()
        except Exception as exc:
            raise AggregateStoreError(f"Redis query failed: {exc}") from exc
        return [
            RollingAggregate.from_stats(
                symbol, aspect, start=start, end=end, as_of=as_of, stats=self._stats(raw)
            )
            for (symbol, aspect, start, end, as_of), raw in zip(reqs, results, strict=True)
        ]

    def window(
        self,
        symbol: str,
        *,
        aspect: AspectFilter = "all",
        start: datetime,
        end: datetime,
        as_of: datetime | None = None,
    ) -> RollingAggregate:
        """The aggregate over ``(start, end]`` as known at ``as_of`` (default now)."""
        as_of = as_of or self.clock()
        keys, args = self._window_call(symbol, aspect, start, end, as_of)
        try:
            raw = self._query(keys=keys, args=args)
        except Exception as exc:
            raise AggregateStoreError(f"Redis query failed: {exc}") from exc
        return RollingAggregate.from_stats(
            symbol, aspect, start=start, end=end, as_of=as_of, stats=self._stats(raw)
        )

    def query(
        self,
        symbol: str,
        *,
        aspect: AspectFilter = "all",
        window: timedelta | None = None,
        as_of: datetime | None = None,
    ) -> RollingAggregate:
        """The rolling aggregate over ``(T - window, T]`` as known at T = ``as_of`` or now."""
        end = as_of or self.clock()
        window = window or self.default_window
        return self.window(symbol, aspect=aspect, start=end - window, end=end, as_of=end)

    def series(
        self,
        symbol: str,
        *,
        aspect: AspectFilter = "all",
        start: datetime,
        end: datetime,
        step: timedelta,
        window: timedelta | None = None,
        as_of: datetime | None = None,
        point_in_time: bool = False,
        max_points: int = 2_000,
    ) -> list[tuple[RollingAggregate, RollingAggregate]]:
        """Per step end t in (start, end]: (moving average over window, volume over step).

        Knowledge is cut at ``as_of`` (default now); with ``point_in_time`` each step is
        as known at its own end (``min(t, as_of)``), the view a backtest had.
        """
        if step <= timedelta(0):
            raise AggregateStoreError("step must be positive")
        window = window or self.default_window
        as_of = as_of or self.clock()
        ends: list[datetime] = []
        t = start + step
        while t <= end:
            ends.append(t)
            if len(ends) > max_points:
                raise AggregateStoreError(f"more than {max_points} steps: widen the step")
            t += step
        reqs: list[tuple[str, AspectFilter, datetime, datetime, datetime]] = []
        for t in ends:
            known = min(t, as_of) if point_in_time else as_of
            reqs.append((symbol, aspect, t - window, t, known))
            reqs.append((symbol, aspect, t - step, t, known))
        out = self.query_many(reqs)
        return [(out[i], out[i + 1]) for i in range(0, len(out), 2)]

    def symbols(self) -> list[str]:
        """Every symbol with aggregates, most recently updated first."""
        raw = self.client.zrevrange(self.symbols_key, 0, -1)
        return [r.decode() if isinstance(r, bytes) else str(r) for r in raw]

    def has_symbol(self, symbol: str) -> bool:
        return self.client.zscore(self.symbols_key, symbol) is not None

    def movers(
        self,
        *,
        aspect: AspectFilter = "all",
        window: timedelta | None = None,
        as_of: datetime | None = None,
        min_count: int = 1,
        limit: int = 20,
        direction: str = "abs",
    ) -> list[tuple[RollingAggregate, RollingAggregate, float]]:
        """Companies ranked by the change of their mean score vs the previous window.

        Returns ``(current, previous, change)``; both windows need ``min_count`` snippets.
        ``direction``: ``up`` (largest rise first), ``down`` (largest fall), ``abs``.
        """
        window = window or self.default_window
        end = as_of or self.clock()
        symbols = self.symbols()
        ranked: list[tuple[RollingAggregate, RollingAggregate, float]] = []
        for chunk in _chunks(symbols, 500):
            reqs: list[tuple[str, AspectFilter, datetime, datetime, datetime]] = []
            for s in chunk:
                reqs.append((s, aspect, end - window, end, end))
                reqs.append((s, aspect, end - 2 * window, end - window, end))
            out = self.query_many(reqs)
            for i in range(0, len(out), 2):
                cur, prev = out[i], out[i + 1]
                if cur.count < min_count or prev.count < min_count:
                    continue
                if cur.mean_score is None or prev.mean_score is None:
                    continue
                ranked.append((cur, prev, cur.mean_score - prev.mean_score))
        if direction == "up":
            ranked.sort(key=lambda r: (-r[2], r[0].symbol))
        elif direction == "down":
            ranked.sort(key=lambda r: (r[2], r[0].symbol))
        else:
            ranked.sort(key=lambda r: (-abs(r[2]), r[0].symbol))
        return ranked[:limit]

    def versions(self, symbol: str, start: datetime, end: datetime) -> Iterator[StoredVersion]:
        """Every stored version with an event time in [start, end) (for inspection)."""
        first = bucket_index(to_ms(start), self.settings.bucket_seconds)
        last = bucket_index(to_ms(end) - 1, self.settings.bucket_seconds)
        lo, hi = to_ms(start), to_ms(end)
        for index in range(first, last + 1):
            raw = self.client.hgetall(self.bucket_key(symbol, index))
            for field, value in raw.items():
                name = field.decode() if isinstance(field, bytes) else str(field)
                if not name.startswith("#"):
                    continue
                text = value.decode() if isinstance(value, bytes) else str(value)
                for enc in text.split(";"):
                    pid, k, e, s, lab, fl, pr = enc.split(",")
                    if lo <= int(e) < hi:
                        yield StoredVersion(
                            symbol, name[1:], pid, int(k), int(e), int(s), int(lab),
                            fl == "1", pr == "1",
                        )  # fmt: skip

    def clear(self) -> int:
        """Delete every aggregate key under this prefix (for a rebuild)."""
        deleted = 0
        batch: list[Any] = []
        for key in self.client.scan_iter(match=f"{self.prefix}agg:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(self.client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(self.client.unlink(*batch))
        return deleted

    def last_update(self, symbol: str) -> datetime | None:
        score = self.client.zscore(self.symbols_key, symbol)
        return None if score is None else from_ms(int(score))


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
