"""``RedisDedupeStore``: the shared dedupe state of every worker, one Lua script per check.

The decision logic is ``pipeline.dedupe``'s (exact hash of normalised text, MinHash LSH
bands for near copies, event-time horizon, a snippet's own earlier claim is not a
duplicate). This adapter binds it to Redis so any number of workers agree:

- ``{prefix}dd:x:{exact}`` -> ``"{id}|{event_ms}"``: the owner of an exact text.
- ``{prefix}dd:m:{id}`` -> ``"{event_ms:015}{signature}"``: a claimed snippet's MinHash
  signature (uint32 big-endian per permutation), read when a band collides.
- ``{prefix}dd:b:{band}`` -> set of ids sharing an LSH band; size capped
  (``max_bucket``) and members whose signature expired are pruned on read.

Every key expires ``horizon`` after it was last written, so memory stays bounded by the
traffic of one horizon. One EVALSHA checks and claims atomically: two workers that see
near copies at the same time cannot both claim them; the second sees the first.
``check_and_claim_many`` sends a whole micro-batch in one pipelined round trip (the
scripts still run one after another, in order, so copies inside one batch are caught).

Keys are built inside the script from the prefix, so this targets one Redis (or one
cluster shard via a hash-tagged prefix such as ``"{finfeed}:"``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.dedupe import DedupeDecision, Fingerprint
from workers.errors import ServiceError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# ARGV: prefix, id, exact, signature, event_ms (15 digits), horizon_ms, threshold, ttl_ms,
#       max_bucket, band...
# Returns {kind, canonical_id, similarity}; kind "" when the snippet is unique (claimed).
_LUA = r"""
local pfx = ARGV[1]
local id = ARGV[2]
local exact = ARGV[3]
local sig = ARGV[4]
local ev_s = ARGV[5]
local ev = tonumber(ev_s)
local horizon = tonumber(ARGV[6])
local threshold = tonumber(ARGV[7])
local ttl = tonumber(ARGV[8])
local max_bucket = tonumber(ARGV[9])
local width = 4
local nperm = math.floor(string.len(sig) / width)

local mkey = pfx .. 'm:' .. id
-- A snippet that already claimed its keys (redelivery) is never a duplicate of itself.
if redis.call('EXISTS', mkey) == 1 then
  return {'', '', '0'}
end

local xkey = pfx .. 'x:' .. exact
local owner = redis.call('GET', xkey)
if owner then
  local sep = string.find(owner, '|', 1, true)
  local oid = string.sub(owner, 1, sep - 1)
  local oev = tonumber(string.sub(owner, sep + 1))
  if oid ~= id and math.abs(ev - oev) <= horizon then
    return {'exact', oid, '1'}
  end
end

local best_id = nil
local best_sim = -1.0
local best_ev = 0
local seen = {}
for i = 10, #ARGV do
  local bkey = pfx .. 'b:' .. ARGV[i]
  local members = redis.call('SMEMBERS', bkey)
  for _, m in ipairs(members) do
    local state = seen[m]
    if state == nil and m ~= id then
      local other = redis.call('GET', pfx .. 'm:' .. m)
      if not other then
        state = 'stale'
      else
        state = 'checked'
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
      seen[m] = state
    end
    if state == 'stale' then
      redis.call('SREM', bkey, m)
    end
  end
end
if best_id ~= nil and best_sim >= threshold then
  return {'near', best_id, tostring(best_sim)}
end

-- Unique: claim the exact key, the signature and every band.
redis.call('SET', xkey, id .. '|' .. ev_s, 'PX', ttl)
redis.call('SET', mkey, ev_s .. sig, 'PX', ttl)
for i = 10, #ARGV do
  local bkey = pfx .. 'b:' .. ARGV[i]
  redis.call('SADD', bkey, id)
  if redis.call('SCARD', bkey) > max_bucket then
    redis.call('SPOP', bkey)
  end
  redis.call('PEXPIRE', bkey, ttl)
end
return {'', '', '0'}
"""


def _event_ms(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("naive datetime: dedupe needs timezone-aware event times")
    ms = int((ts - _EPOCH) // timedelta(milliseconds=1))
    return f"{max(ms, 0):015d}"


def pack_signature(minhash: Sequence[int]) -> bytes:
    """MinHash values as uint32 big-endian (datasketch values are already < 2**32)."""
    return struct.pack(f">{len(minhash)}I", *(int(v) & 0xFFFFFFFF for v in minhash))


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

    def __init__(self, client: Any, prefix: str = "finfeed:", *, max_bucket: int = 64) -> None:
        if max_bucket < 1:
            raise ValueError("max_bucket must be >= 1")
        self._client = client
        self._prefix = f"{prefix}dd:"
        self._max_bucket = max_bucket
        self._script = client.register_script(_LUA)

    def _args(
        self,
        snippet_id: str,
        fp: Fingerprint,
        event_time: datetime,
        threshold: float,
        horizon: timedelta,
    ) -> list[Any]:
        horizon_ms = max(1, int(horizon / timedelta(milliseconds=1)))
        return [
            self._prefix,
            snippet_id,
            fp.exact,
            pack_signature(fp.minhash),
            _event_ms(event_time),
            horizon_ms,
            repr(float(threshold)),
            horizon_ms,
            self._max_bucket,
            *fp.bands,
        ]

    def check_and_claim(
        self,
        snippet_id: str,
        fp: Fingerprint,
        event_time: datetime,
        *,
        threshold: float,
        horizon: timedelta,
    ) -> DedupeDecision:
        import redis

        args = self._args(snippet_id, fp, event_time, threshold, horizon)
        try:
            reply = self._script(keys=[], args=args)
        except redis.RedisError as exc:
            raise ServiceError(f"dedupe check failed: {exc}") from exc
        return _decision(reply)

    def check_and_claim_many(
        self,
        items: Sequence[tuple[str, Fingerprint, datetime]],
        *,
        threshold: float,
        horizon: timedelta,
    ) -> list[DedupeDecision]:
        """Decisions for ``items`` in order, in one round trip (each check still atomic)."""
        import redis

        if not items:
            return []
        try:
            pipe = self._client.pipeline(transaction=False)
            for snippet_id, fp, event_time in items:
                self._script(
                    keys=[],
                    args=self._args(snippet_id, fp, event_time, threshold, horizon),
                    client=pipe,
                )
            replies = pipe.execute()
        except redis.RedisError as exc:
            raise ServiceError(f"dedupe check failed: {exc}") from exc
        return [_decision(r) for r in replies]
