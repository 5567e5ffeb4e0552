"""The JSON codec of finfeed's wire records: orjson when installed, else the standard library.

Records are small dicts of str/float/int/list; ``dumps`` returns compact UTF-8 bytes
(non-ASCII kept as is), ``loads`` accepts bytes or str. Both codecs write equivalent JSON
(the same values after parsing); record ids never depend on the encoded bytes.
"""

from __future__ import annotations

import json
from typing import Any

_orjson: Any
try:  # pragma: no cover - exercised by whichever codec is installed
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

BACKEND = "orjson" if _orjson is not None else "json"


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON bytes."""
    if _orjson is not None:
        encoded: bytes = _orjson.dumps(value)
        return encoded
    return _ENCODER.encode(value).encode("utf-8")


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    if _orjson is not None:
        return _orjson.loads(data)
    if isinstance(data, memoryview):
        data = bytes(data)
    return json.loads(data)


def dumps_pretty(value: Any) -> str:
    """Indented, key-sorted JSON text for people (``finfeed tail``)."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
