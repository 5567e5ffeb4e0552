"""``RedisDedupeStore``: the shared dedupe state of every worker, decided inside Redis.

The decision logic is ``pipeline.dedupe``'s (exact hash of normalised text, MinHash LSH
bands for near copies, event-time horizon, a snippet's own earlier claim is not a
duplicate). This adapter binds it to Redis so any number of workers agree:

- ``{prefix}dd:x:{exact}`` -> ``"{id}|{event_ms}"``: the owner of an exact text; TTL horizon.
- ``{prefix}dd:m:{id}`` -> ``"{event_ms:015}{signature}"``: a claimed snippet's MinHash
  signature (uint32 big-endian per permutation), read when a band collides; TTL horizon.
- ``{prefix}dd:e:{epoch}:{shard}`` -> hash ``band -> "id,id,..."``: the LSH band index of
  the snippets claimed during one epoch (half a horizon of wall time), split in ``shards``
  hashes by band number. A lookup reads the three newest epochs (so every claim younger
  than the horizon is seen); each band holds at most ``max_bucket`` ids.

Why epochs of hashes rather than one key per band: the whole band index of a batch is
then read with one HMGET per shard and epoch (12 calls for up to ``MAX_SCRIPT_BATCH``
snippets) and its changes written with one HSET per shard, instead of a SADD + PEXPIRE
per band and snippet: about 4 Redis calls per snippet (EXISTS, GET, and for a claim two
SETs) plus 20 per script call, so one Redis core serves several workers. The index keeps
claims between one and one and a half horizons; the epoch three back is UNLINKed (freed
in the background, never blocking Redis) when a new epoch starts, and every epoch key
also carries a TTL as a safety net. Memory is bounded by 1.5 horizons of unique snippets
(about 5 KB each).

One script call decides up to ``MAX_SCRIPT_BATCH`` snippets in order, atomically: two
workers that see copies of one story at the same time cannot both claim it; a copy later
in a batch sees the claim of its original earlier in it (the script keeps this epoch's
bands in a table that each claim updates, and writes them back at the end).

Keys are built inside the script from the prefix, so this targets one Redis (or one
cluster shard via a hash-tagged prefix such as ``"{finfeed}:"``).
"""

from __future__ import annotations

import hashlib
import operator
import struct
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.dedupe import DedupeDecision, Fingerprint
from workers.errors import ServiceError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# One call decides a batch, in order (each snippet sees the claims of those before it).
# ARGV: prefix, horizon_ms, threshold, ttl_ms, max_bucket, epoch, epoch_ms, shards,
#       then for each shard the number of bands every snippet has in it, then per
#       snippet 5 values: id, exact, signature (uint32 BE each), event_ms (15 digits),
#       and its bands ("i:hex", comma-separated) shard by shard: shard 0's first.
# Returns 3 values per snippet: kind ("" = unique, claimed), canonical id, similarity.
#
# The band index is read once per call (one HMGET per shard and epoch, for every band of
# the batch) and this epoch's changes are written once at the end (one HSET per shard);
# in between, claims update an in-script copy of this epoch's bands, so a snippet later
# in the batch sees the claims of those before it exactly as if each had been written.
# The script runs atomically, so no other worker can observe the difference.
_LUA = r"""
local pfx = ARGV[1]
local horizon = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local max_bucket = tonumber(ARGV[5])
local epoch = tonumber(ARGV[6])
local epoch_ms = tonumber(ARGV[7])
local shards = tonumber(ARGV[8])
local width = 4
local LOOKBACK = 3  -- epochs read: claims younger than a horizon (= 2 epochs) are all seen
local CHUNK = 1000  -- fields per HMGET / HSET call (Lua's unpack has a stack limit)
local FIRST = 9 + shards  -- the first snippet's id
local PER = 5  -- values per snippet
local count = (#ARGV - FIRST + 1) / PER
local per_shard = {}  -- shard -> bands per snippet
for shard = 0, shards - 1 do
  per_shard[shard] = tonumber(ARGV[9 + shard])
end

local function ekey(e, shard)
  return pfx .. 'e:' .. string.format('%d', e) .. ':' .. shard
end

-- A new epoch: free the one that fell out of the lookback, in the background.
local marker = pfx .. 'epoch'
local seen = tonumber(redis.call('GET', marker) or '-1')
if epoch > seen then
  redis.call('SET', marker, string.format('%d', epoch))
  -- every epoch that left the lookback since the last one seen (a few at most; older
  -- ones after a long pause have expired by their TTL)
  local first = math.max(seen - LOOKBACK + 1, epoch - LOOKBACK - 4)
  for e = first, epoch - LOOKBACK do
    for shard = 0, shards - 1 do
      redis.call('UNLINK', ekey(e, shard))
    end
  end
end
local expire_at = (epoch + LOOKBACK + 1) * epoch_ms  -- safety net behind the UNLINK

-- 1. Every band of the batch, per shard: snippet j's bands in shard s are
--    fields[s][j * per_shard[s] + 1 ..  (j + 1) * per_shard[s]].
local fields = {}
local filled = {}  -- shard -> bands in fields[shard] so far
for shard = 0, shards - 1 do
  fields[shard] = {}
  filled[shard] = 0
end
for i = FIRST + 4, #ARGV, PER do
  local shard = 0
  local f = fields[0]
  local n = filled[0]
  local left = per_shard[0]
  for band in string.gmatch(ARGV[i], '[^,]+') do
    while left == 0 do  -- this shard's bands are all read: on to the next shard
      filled[shard] = n
      shard = shard + 1
      if shard == shards then
        return redis.error_reply('band lists do not match the declared band counts')
      end
      f = fields[shard]
      n = filled[shard]
      left = per_shard[shard]
    end
    n = n + 1
    f[n] = band
    left = left - 1
  end
  filled[shard] = n
end
for shard = 0, shards - 1 do
  if filled[shard] ~= count * per_shard[shard] then
    return redis.error_reply('band lists do not match the declared band counts')
  end
end

-- 2. Read the index once: older epochs' values per band, and this epoch's. (A band that
--    two snippets share is read twice: harmless, and rarer than checking for it.)
local older = {}  -- band -> values from the older epochs in the lookback
local current = {}  -- band -> this epoch's value, updated below by each claim
for shard = 0, shards - 1 do
  local f = fields[shard]
  for e = epoch - LOOKBACK + 1, epoch do
    local key = ekey(e, shard)
    for lo = 1, #f, CHUNK do
      local hi = math.min(lo + CHUNK - 1, #f)
      local values = redis.call('HMGET', key, unpack(f, lo, hi))
      for k = 1, hi - lo + 1 do
        local v = values[k]
        if v then
          local band = f[lo + k - 1]
          if e == epoch then
            current[band] = v
          else
            local o = older[band]
            if o == nil then
              older[band] = {v}
            else
              o[#o + 1] = v
            end
          end
        end
      end
    end
  end
end

-- shard -> band, value, band, value...: this epoch's changes, written at the end (a band
-- claimed twice in the batch appears twice, its last value last: HSET keeps that one)
local writes = {}
for shard = 0, shards - 1 do
  writes[shard] = {}
end

local function decide(j, id, exact, sig, ev_s)
  local ev = tonumber(ev_s)
  local nperm = math.floor(string.len(sig) / width)
  local mkey = pfx .. 'm:' .. id
  -- A snippet that already claimed its keys (redelivery) is never a duplicate of itself.
  if redis.call('EXISTS', mkey) == 1 then
    return '', '', '0'
  end
  local xkey = pfx .. 'x:' .. exact
  local owner = redis.call('GET', xkey)
  if owner then
    local sep = string.find(owner, '|', 1, true)
    local oid = string.sub(owner, 1, sep - 1)
    local oev = tonumber(string.sub(owner, sep + 1))
    if oid ~= id and math.abs(ev - oev) <= horizon then
      return 'exact', oid, '1'
    end
  end
  local candidates = {}
  local any = false
  for shard = 0, shards - 1 do
    local f = fields[shard]
    local lo = j * per_shard[shard] + 1
    for b = lo, lo + per_shard[shard] - 1 do
      local band = f[b]
      local o = older[band]
      if o then
        for _, v in ipairs(o) do
          for m in string.gmatch(v, '[^,]+') do
            if m ~= id then
              candidates[m] = true
              any = true
            end
          end
        end
      end
      local v = current[band]
      if v then
        for m in string.gmatch(v, '[^,]+') do
          if m ~= id then
            candidates[m] = true
            any = true
          end
        end
      end
    end
  end
  if any then
    local best_id = nil
    local best_sim = -1.0
    local best_ev = 0
    for m, _ in pairs(candidates) do
      local other = redis.call('GET', pfx .. 'm:' .. m)
      if other then  -- a missing signature is an expired claim
        local oev = tonumber(string.sub(other, 1, 15))
        local osig = string.sub(other, 16)
        if string.len(osig) == string.len(sig) and nperm > 0
            and math.abs(ev - oev) <= horizon then
          local same = 0
          for p = 1, nperm * width, width do
            if string.sub(sig, p, p + width - 1) == string.sub(osig, p, p + width - 1) then
              same = same + 1
            end
          end
          local sim = same / nperm
          -- highest similarity wins; ties go to the earliest event, then the smallest id
          if best_id == nil or sim > best_sim
              or (sim == best_sim and (oev < best_ev or (oev == best_ev and m < best_id))) then
            best_sim = sim
            best_id = m
            best_ev = oev
          end
        end
      end
    end
    if best_id ~= nil and best_sim >= threshold then
      return 'near', best_id, tostring(best_sim)
    end
  end
  -- Unique: claim the exact key, the signature and every band (this epoch).
  redis.call('SET', xkey, id .. '|' .. ev_s, 'PX', ttl)
  redis.call('SET', mkey, ev_s .. sig, 'PX', ttl)
  for shard = 0, shards - 1 do
    local w = writes[shard]
    local n = #w
    local f = fields[shard]
    local lo = j * per_shard[shard] + 1
    for b = lo, lo + per_shard[shard] - 1 do
      local band = f[b]
      local v = current[band]
      local value = id
      if v then
        value = v .. ',' .. id
        local n = select(2, string.gsub(value, ',', ',')) + 1
        while n > max_bucket do  -- drop the oldest ids of a crowded (boilerplate) band
          value = string.sub(value, string.find(value, ',', 1, true) + 1)
          n = n - 1
        end
      end
      current[band] = value
      w[n + 1] = band
      w[n + 2] = value
      n = n + 2
    end
  end
  return '', '', '0'
end

local out = {}
for j = 0, count - 1 do
  local i = FIRST + PER * j
  local kind, canonical, sim = decide(j, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
  out[#out + 1] = kind
  out[#out + 1] = canonical
  out[#out + 1] = sim
end

-- 3. Write this epoch's changed bands: one HSET (per CHUNK fields) per shard.
for shard = 0, shards - 1 do
  local args = writes[shard]
  if #args > 0 then
    local key = ekey(epoch, shard)
    for lo = 1, #args, 2 * CHUNK do
      redis.call('HSET', key, unpack(args, lo, math.min(lo + 2 * CHUNK - 1, #args)))
    end
    redis.call('PEXPIREAT', key, expire_at)
  end
end
return out
"""

_LUA_SHA = hashlib.sha1(_LUA.encode("utf-8")).hexdigest()

# Snippets per script call: bounds how long one call holds Redis (~0.05-0.1 ms a snippet).
MAX_SCRIPT_BATCH = 64


def _event_ms(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("naive datetime: dedupe needs timezone-aware event times")
    ms = int((ts - _EPOCH) // timedelta(milliseconds=1))
    return f"{max(ms, 0):015d}"


_STRUCTS: dict[int, struct.Struct] = {}


def pack_signature(minhash: Sequence[int]) -> bytes:
    """MinHash values as uint32 big-endian (the values are already < 2**32)."""
    packer = _STRUCTS.get(len(minhash))
    if packer is None:
        packer = _STRUCTS[len(minhash)] = struct.Struct(f">{len(minhash)}I")
    try:
        return packer.pack(*minhash)
    except struct.error:  # a signature from a wider hash: keep the low 32 bits
        return packer.pack(*(int(v) & 0xFFFFFFFF for v in minhash))


def _first_only(bands: Sequence[str]) -> Sequence[str]:
    return (bands[0],)  # itemgetter of one position returns the item, not a tuple


def _decision(reply: Sequence[Any]) -> DedupeDecision:
    kind = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    if not kind:
        return DedupeDecision(duplicate_of=None, kind=None, similarity=0.0)
    canonical = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
    similarity = float(reply[2].decode() if isinstance(reply[2], bytes) else reply[2])
    return DedupeDecision(
        duplicate_of=canonical,
        kind="exact" if kind == "exact" else "near",
        similarity=similarity,
    )


class RedisDedupeStore:
    """``pipeline.dedupe.DedupeStore`` on Redis: atomic check-and-claim shared by workers."""

    def __init__(
        self,
        client: Any,
        prefix: str = "finfeed:",
        *,
        max_bucket: int = 64,
        shards: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bucket < 1 or shards < 1:
            raise ValueError("max_bucket and shards must be >= 1")
        self._client = client
        self._prefix = f"{prefix}dd:"
        self._max_bucket = max_bucket
        self._shards = shards
        self._clock = clock  # wall clock (seconds) that places claims in epochs
        self._orders: dict[int, Callable[[Sequence[str]], Sequence[str]]] = {}

    def _header(self, threshold: float, horizon: timedelta) -> list[Any]:
        horizon_ms = max(2, int(horizon / timedelta(milliseconds=1)))
        epoch_ms = horizon_ms // 2
        epoch = int(self._clock() * 1000) // epoch_ms
        return [
            self._prefix,
            horizon_ms,
            repr(float(threshold)),
            horizon_ms,
            self._max_bucket,
            epoch,
            epoch_ms,
            self._shards,
        ]

    def _args(
        self, header: list[Any], items: Sequence[tuple[str, Fingerprint, datetime]]
    ) -> list[Any]:
        """ARGV of one script call (see ``_LUA``): band ``i`` lives in shard ``i % shards``
        (``Fingerprint.bands[i]`` is band ``i``)."""
        shards = self._shards
        n_bands = len(items[0][1].bands)
        if any(len(fp.bands) != n_bands for _, fp, _ in items):
            raise ValueError("every fingerprint in one call must have the same number of bands")
        order = self._shard_order(n_bands)
        args = list(header)
        args += [len(range(shard, n_bands, shards)) for shard in range(shards)]
        for snippet_id, fp, event_time in items:
            signature = fp.signature or pack_signature(fp.minhash)
            bands = ",".join(order(fp.bands))
            args += (snippet_id, fp.exact, signature, _event_ms(event_time), bands)
        return args

    def _evaluate(self, calls: list[list[Any]]) -> list[Any]:
        """The script once per call, pipelined: one round trip. (EVALSHA directly, not a
        registered ``Script`` in the pipeline, which costs a SCRIPT EXISTS round trip
        before every execution.)"""
        pipe = self._client.pipeline(transaction=False)
        for args in calls:
            pipe.evalsha(_LUA_SHA, 0, *args)
        replies: list[Any] = pipe.execute()
        return replies

    def _shard_order(self, n_bands: int) -> Callable[[Sequence[str]], Sequence[str]]:
        """Bands reordered shard by shard (band i in shard i % shards), in one C call."""
        order = self._orders.get(n_bands)
        if order is None:
            shards = self._shards
            positions = [i for s in range(shards) for i in range(s, n_bands, shards)]
            order = operator.itemgetter(*positions) if n_bands > 1 else _first_only
            self._orders[n_bands] = order
        return order

    def check_and_claim(
        self,
        snippet_id: str,
        fp: Fingerprint,
        event_time: datetime,
        *,
        threshold: float,
        horizon: timedelta,
    ) -> DedupeDecision:
        return self.check_and_claim_many(
            [(snippet_id, fp, event_time)], threshold=threshold, horizon=horizon
        )[0]

    def check_and_claim_many(
        self,
        items: Sequence[tuple[str, Fingerprint, datetime]],
        *,
        threshold: float,
        horizon: timedelta,
    ) -> list[DedupeDecision]:
        """Decisions for ``items`` in order, in one round trip.

        Items are decided one after another inside Redis (a copy later in the batch sees
        the claim of its original earlier in it), ``MAX_SCRIPT_BATCH`` per script call.
        """
        import redis

        if not items:
            return []
        header = self._header(threshold, horizon)
        calls = [
            self._args(header, items[start : start + MAX_SCRIPT_BATCH])
            for start in range(0, len(items), MAX_SCRIPT_BATCH)
        ]
        try:
            try:
                replies = self._evaluate(calls)
            except redis.exceptions.NoScriptError:
                # a new or restarted Redis (or SCRIPT FLUSH): load the script and decide
                # again; safe, as a snippet's own claim never makes it its own duplicate
                self._client.script_load(_LUA)
                replies = self._evaluate(calls)
        except redis.RedisError as exc:
            raise ServiceError(f"dedupe check failed: {exc}") from exc
        flat = [x for reply in replies for x in reply]
        return [_decision(flat[i : i + 3]) for i in range(0, len(flat), 3)]
