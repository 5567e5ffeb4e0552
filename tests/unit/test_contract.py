"""The input contract: what becomes a Snippet, and the machine-readable reason for everything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.contract import REASONS, ContractLimits, derive_snippet_id, parse_snippet
from pipeline.errors import ContractError

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
KAFKA_TS = datetime(2026, 11, 10, 11, 59, 30, tzinfo=UTC)


def parse(
    obj: object,
    *,
    raw: bytes | None = None,
    limits: ContractLimits | None = None,
    kafka: datetime | None = KAFKA_TS,
):
    data = raw if raw is not None else json.dumps(obj).encode("utf-8")
    return parse_snippet(data, kafka_timestamp=kafka, now=NOW, limits=limits or ContractLimits())


def reason_of(obj: object = None, **kw: object) -> str:
    with pytest.raises(ContractError) as info:
        parse(obj, **kw)  # type: ignore[arg-type]
    assert info.value.reason in REASONS
    assert info.value.detail
    return info.value.reason


def test_full_message_is_parsed_and_normalised() -> None:
    s = parse(
        {
            "id": "rtr-1",
            "text": "  Apple beats estimates \n",
            "published_at": "2026-11-03T14:30:00+01:00",
            "source": "reuters",
            "url": "https://example.com/a",
            "tickers": ["$aapl", "MSFT", "aapl"],
            "companies": "Apple Inc., Microsoft",
            "lang": "en",
            "meta": {"desk": "tech"},
        }
    )
    assert s.id == "rtr-1"
    assert s.text == "Apple beats estimates"
    assert s.published_at == datetime(2026, 11, 3, 13, 30, tzinfo=UTC)
    assert s.published_at.tzinfo is UTC
    assert (s.source, s.url) == ("reuters", "https://example.com/a")
    assert s.tickers == ("AAPL", "MSFT")
    assert s.companies == ("Apple Inc.", "Microsoft")
    assert dict(s.extra) == {"lang": "en", "meta": {"desk": "tech"}}


def test_comma_separated_tickers_and_integer_id() -> None:
    s = parse(
        {
            "id": 42,
            "text": "x1",
            "tickers": " $tsla, nvda ,, ",
            "published_at": "2026-11-01T00:00:00Z",
        }
    )
    assert s.id == "42"
    assert s.tickers == ("TSLA", "NVDA")


def test_missing_published_at_uses_kafka_timestamp() -> None:
    s = parse({"text": "Tesla deliveries fall"})
    assert s.published_at == KAFKA_TS


def test_missing_published_at_without_kafka_timestamp() -> None:
    assert reason_of({"text": "Tesla deliveries fall"}, kafka=None) == "missing_published_at"


def test_derived_id_is_deterministic_in_source_and_normalised_text() -> None:
    a = parse({"text": "NEW YORK (Reuters) - Apple beats estimates. $AAPL", "source": "reuters"})
    b = parse(
        {
            "text": "apple   BEATS estimates",
            "source": "reuters",
            "published_at": "2026-11-01T00:00:00Z",
        }
    )
    c = parse({"text": "Apple beats estimates", "source": "bloomberg"})
    d = parse({"text": "Intel beats estimates", "source": "reuters"})
    assert a.id == b.id == derive_snippet_id("reuters", "Apple beats estimates")
    assert c.id != a.id  # same text from another outlet is another input
    assert d.id != a.id


def test_blank_id_is_derived() -> None:
    s = parse({"id": "  ", "text": "Apple beats", "source": "x"})
    assert s.id == derive_snippet_id("x", "Apple beats")


def test_utf8_bom_is_accepted() -> None:
    raw = b"\xef\xbb\xbf" + json.dumps({"text": "Nvidia rallies"}).encode()
    assert parse(None, raw=raw).text == "Nvidia rallies"


def test_non_ascii_text_is_kept() -> None:
    assert parse({"text": "Siemens Energy hebt Prognose an – Aktie steigt 5 %"}).text.startswith(
        "Siemens"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"text": "Apple"', "invalid_json"),
        (b"Apple beats estimates", "invalid_json"),
        (b'{"text": NaN}', "invalid_json"),
        (b"", "invalid_json"),
        (b'{"text": "caf\xe9"}', "invalid_utf8"),
        (b"\xff\xfe\x00\x00", "invalid_utf8"),
        (b'["Apple"]', "not_an_object"),
        (b'"Apple"', "not_an_object"),
        (b"null", "not_an_object"),
    ],
)
def test_undecodable_messages(raw: bytes, reason: str) -> None:
    assert reason_of(raw=raw) == reason


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"id": "a"}, "missing_text"),
        ({"text": None}, "missing_text"),
        ({"text": 12345}, "invalid_text"),
        ({"text": ["Apple"]}, "invalid_text"),
        ({"text": ""}, "empty_text"),
        ({"text": " \n\t "}, "empty_text"),
        ({"text": "ok\x00\x00binary"}, "binary_content"),
        ({"text": "\x07\x08\x0b\x0e\x0f\x10\x11\x12ok"}, "binary_content"),
        ({"text": "\ufffd\ufffd\ufffd\ufffd ab"}, "binary_content"),
        ({"text": "!!! ??? ..."}, "binary_content"),
        ({"text": "Apple", "published_at": 1762300000}, "invalid_published_at"),
        ({"text": "Apple", "published_at": "next Tuesday"}, "invalid_published_at"),
        ({"text": "Apple", "published_at": "2026-11-03T10:00:00"}, "invalid_published_at"),
        ({"text": "Apple", "published_at": "2026-11-03"}, "invalid_published_at"),
        ({"text": "Apple", "published_at": "2099-01-01T00:00:00Z"}, "published_at_in_future"),
        ({"text": "Apple", "tickers": 42}, "invalid_field"),
        ({"text": "Apple", "tickers": ["AAPL", 7]}, "invalid_field"),
        ({"text": "Apple", "companies": {"a": 1}}, "invalid_field"),
        ({"text": "Apple", "source": ["reuters"]}, "invalid_field"),
        ({"text": "Apple", "url": 3}, "invalid_field"),
        ({"text": "Apple", "id": True}, "invalid_field"),
        ({"text": "Apple", "id": {"k": 1}}, "invalid_field"),
        ({"text": "Apple", "id": "x" * 600}, "invalid_field"),
        ({"text": "Apple", "tickers": ["A"] * 300}, "invalid_field"),
    ],
)
def test_contract_violations(obj: dict[str, object], reason: str) -> None:
    assert reason_of(obj) == reason


def test_text_length_limit_is_inclusive() -> None:
    limits = ContractLimits(max_text_chars=50)
    assert len(parse({"text": "a" * 50}, limits=limits).text) == 50
    assert reason_of({"text": "a" * 51}, limits=limits) == "text_too_long"


def test_message_size_limit() -> None:
    limits = ContractLimits(max_message_bytes=100)
    raw = json.dumps({"text": "b" * 200}).encode()
    assert reason_of(raw=raw, limits=limits) == "message_too_large"


def test_future_skew_boundary() -> None:
    limits = ContractLimits(max_future_skew=timedelta(minutes=5))
    ok = (NOW + timedelta(minutes=5)).isoformat()
    late = (NOW + timedelta(minutes=5, seconds=1)).isoformat()
    assert parse({"text": "a1", "published_at": ok}, limits=limits).published_at == NOW + timedelta(
        minutes=5
    )
    assert (
        reason_of({"text": "a1", "published_at": late}, limits=limits) == "published_at_in_future"
    )


def test_a_few_control_characters_in_long_text_are_tolerated() -> None:
    text = "Apple beats estimates on strong iPhone demand in China\x0b" * 3
    assert parse({"text": text}).text.startswith("Apple")


def test_every_reason_is_exercised_here_and_documented() -> None:
    tests = Path(__file__).read_text(encoding="utf-8")
    docs = (Path(__file__).resolve().parents[2] / "docs" / "input-contract.md").read_text(
        encoding="utf-8"
    )
    for reason in REASONS:
        assert f'"{reason}"' in tests, f"no test for {reason}"
        assert f"`{reason}`" in docs, f"{reason} missing from docs/input-contract.md"
