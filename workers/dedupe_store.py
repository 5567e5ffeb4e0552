"""``RedisDedupeStore``: the shared dedupe state of every worker, one Lua script per check.

The decision logic is ``pipeline.dedupe``'s (exact hash of normalised text, MinHash LSH
bands for near copies, event-time horizon, a snippet's own earlier claim is not a
duplicate). This adapter binds it to Redis so any number of workers agree:

- ``{prefix}dd:x:{exact}`` -> ``"{id}|{event_ms}"``: the owner of an exact text.
- ``{prefix}dd:m:{id}`` -> ``"{event_ms:015}{signature}"``: a claimed snippet's MinHash
  signature (uint32 big-endian per permutation), read when a band collides.
- ``{prefix}dd:b:{band}`` -> set of ids sharing an LSH band (band keys must not contain
  commas); size capped (``max_bucket``) and members whose signature expired are pruned
  when they come up as candidates.

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

# One call decides a whole batch, in order (each snippet sees the claims of those before it).
# ARGV: prefix, horizon_ms, threshold, ttl_ms, max_bucket, then per snippet 5 values:
#       id, exact, signature (uint32 BE each), event_ms (15 digits), bands (comma-separated).
# Returns 3 values per snippet: kind ("" = unique, claimed), canonical id, similarity.
# Few Redis calls per snippet (one Redis serves every worker): one SUNION reads all band
# buckets; signatures are read only for real candidates.
_LUA = r"""
local pfx = ARGV[1]
local horizon = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local max_bucket = tonumber(ARGV[5])
local width = 4

local function decide(id, exact, sig, ev_s, bands)
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
  local bkeys = {}
  for band in string.gmatch(bands, '[^,]+') do
    bkeys[#bkeys + 1] = pfx .. 'b:' .. band
  end
  local best_id = nil
  local best_sim = -1.0
  local best_ev = 0
  local stale = {}
  local members = {}
  if #bkeys > 0 then
    members = redis.call('SUNION', unpack(bkeys))
  end
  for _, m in ipairs(members) do
    if m ~= id then
      local other = redis.call('GET', pfx .. 'm:' .. m)
      if not other then
        stale[#stale + 1] = m
      else
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
  end
  -- Ids whose claim expired linger in buckets kept alive by newer claims: drop them.
  if #stale > 0 then
    for _, bkey in ipairs(bkeys) do
      redis.call('SREM', bkey, unpack(stale))
    end
  end
  if best_id ~= nil and best_sim >= threshold then
    return 'near', best_id, tostring(best_sim)
  end
  -- Unique: claim the exact key, the signature and every band.
  redis.call('SET', xkey, id .. '|' .. ev_s, 'PX', ttl)
  redis.call('SET', mkey, ev_s .. sig, 'PX', ttl)
  local crowded = #members - #stale >= max_bucket
  for _, bkey in ipairs(bkeys) do
    redis.call('SADD', bkey, id)
    redis.call('PEXPIRE', bkey, ttl)
    -- a bucket shared by many distinct snippets (boilerplate) stays bounded
    if crowded and redis.call('SCARD', bkey) > max_bucket then
      redis.call('SPOP', bkey)
    end
  end
  return '', '', '0'
end

local out = {}
for i = 6, #ARGV, 5 do
  local kind, canonical, sim = decide(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
  out[#out + 1] = kind
  out[#out + 1] = canonical
  out[#out + 1] = sim
end
return out
"""

# Snippets per script call: bounds how long one call holds Redis (~0.1-0.2 ms a snippet).
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

    def _header(self, threshold: float, horizon: timedelta) -> list[Any]:
        horizon_ms = max(1, int(horizon / timedelta(milliseconds=1)))
        return [self._prefix, horizon_ms, repr(float(threshold)), horizon_ms, self._max_bucket]

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
        try:
            pipe = self._client.pipeline(transaction=False)
            for start in range(0, len(items), MAX_SCRIPT_BATCH):
                args = list(header)
                for snippet_id, fp, event_time in items[start : start + MAX_SCRIPT_BATCH]:
                    args += (
                        snippet_id,
                        fp.exact,
                        pack_signature(fp.minhash),
                        _event_ms(event_time),
                        ",".join(fp.bands),
                    )
                self._script(keys=[], args=args, client=pipe)
            replies = pipe.execute()
        except redis.RedisError as exc:
            raise ServiceError(f"dedupe check failed: {exc}") from exc
        flat = [x for reply in replies for x in reply]
        return [_decision(flat[i : i + 3]) for i in range(0, len(flat), 3)]
