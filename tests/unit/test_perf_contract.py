"""The contract's fast paths decide exactly as the plain ones.

``_loads`` (orjson when it agrees) must return what ``json.loads`` returns and raise the
same ``invalid_json`` errors; ``_count_nonprintable`` must count what the per-character
Unicode category check counts.
"""

from __future__ import annotations

import json
import random
import unicodedata
from datetime import UTC, datetime

import pytest

from pipeline.contract import _count_nonprintable, _loads, parse_snippet
from pipeline.errors import ContractError

DOCUMENTS = [
    '{"text": "Apple beats", "n": 1}',
    '{"a": 1e400}',  # beyond float range: json gives inf
    '{"a": -1e400}',
    '{"a": 1e-400}',
    '{"a": -0.0, "b": -0}',
    '{"a": 1, "a": 2, "b": 3}',  # duplicate keys: the last wins, first position kept
    '{"a": 18446744073709551616}',  # beyond 64 bits: json keeps the int
    '{"a": -9223372036854775809}',
    '{"a": 9223372036854775808}',
    '{"a": 123456789012345678901234567890.5}',
    '{"a": "\\ud800"}',  # a lone surrogate escape
    '{"a": "\\u0000 \\n \\u00e9 \\ud83d\\ude00"}',
    '{"a": 1.00000000000000011102230246251565404236316680908203125}',
    '{"a": 5e-324, "b": 1.7976931348623157e308}',
    "[" * 400 + "]" * 400,
    '{"text": "x", "id": "1234567890123456789012"}',
]
INVALID = ['{"a": NaN}', '{"a": Infinity}', '{"a": 1,}', "{'a': 1}", '{"a": 01}', "", "[" * 5000]


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_loads_returns_what_json_loads_returns(doc: str) -> None:
    got, want = _loads(doc), json.loads(doc)
    assert repr(got) == repr(want)  # repr: tells 1.0 from 1, -0.0 from 0.0, key order


@pytest.mark.parametrize("doc", INVALID)
def test_loads_rejects_what_the_contract_rejects(doc: str) -> None:
    with pytest.raises(ContractError) as err:
        _loads(doc)
    assert err.value.reason == "invalid_json"


def reference_count(text: str) -> int:
    return sum(
        1
        for ch in text
        if ch not in "\n\r\t"
        and (ch == "\ufffd" or unicodedata.category(ch) in {"Cc", "Cs", "Co", "Cn"})
    )


def test_nonprintable_count_matches_the_category_check() -> None:
    rng = random.Random(11)
    alphabet = (
        [chr(c) for c in range(0, 128)]
        + ["\u00e9", "\u2014", "\ufffd", "\ue000", "\u0378", "\ud800", "\u200b", "\u2028"]
        + ["\u00a0", "\U0001f600", "\x85", "\x9f", "\u4e2d"]
    )
    for _ in range(3000):
        pool = alphabet[:128] if rng.random() < 0.4 else alphabet
        text = "".join(rng.choice(pool) for _ in range(rng.randint(1, 40)))
        if rng.random() < 0.3:
            text = "Plain words " + text  # mostly printable texts take the fast paths
        assert _count_nonprintable(text) == reference_count(text), repr(text)


def test_big_integers_in_extra_fields_survive_parsing() -> None:
    now = datetime(2026, 11, 3, tzinfo=UTC)
    raw = b'{"text": "Apple beats", "published_at": "2026-11-02T10:00:00Z", "big": 18446744073709551616}'
    snippet = parse_snippet(raw, kafka_timestamp=None, now=now)
    assert snippet.extra["big"] == 18446744073709551616 and isinstance(snippet.extra["big"], int)
