"""The input contract: raw message bytes in, a validated ``Snippet`` out, or a reason why not.

One raw message is one JSON object (UTF-8) with:

==============  ==========================  ===================================================
field           type                        rule
==============  ==========================  ===================================================
``text``        string, required            non-empty after strip, at most ``max_text_chars``
                                            characters, no NUL/binary junk
``id``          string or integer           optional; else ``derive_snippet_id(source, text)``
``published_at`` RFC 3339 string            optional; else the Kafka timestamp; never more
                                            than ``max_future_skew`` after ``now``
``source``      string                      optional (``reuters``, ``twitter`` ...)
``url``         string                      optional
``tickers``     list of strings, or a       optional; ``$`` stripped, upper-cased, de-duplicated
                comma-separated string
``companies``   list of strings, or a       optional; stripped, de-duplicated
                comma-separated string
anything else   any JSON                    kept verbatim in ``Snippet.extra``
==============  ==========================  ===================================================

Every violation raises ``ContractError(reason, detail)``; ``reason`` is one of
``REASONS`` (machine readable, stable: dashboards and replays key on it). See
docs/input-contract.md for examples.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pipeline.errors import ContractError
from pipeline.normalize import normalize_text
from pipeline.records import Snippet, from_rfc3339, record_id

_orjson: Any
try:  # pragma: no cover - exercised by whichever parser is installed
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

__all__ = [
    "REASONS",
    "ContractLimits",
    "derive_snippet_id",
    "parse_snippet",
    "snippet_from_mapping",
]

REASONS: Final[tuple[str, ...]] = (
    "message_too_large",
    "invalid_utf8",
    "invalid_json",
    "not_an_object",
    "missing_text",
    "invalid_text",
    "empty_text",
    "text_too_long",
    "binary_content",
    "invalid_published_at",
    "published_at_in_future",
    "missing_published_at",
    "invalid_field",
)

_MAX_ID_CHARS = 512
_MAX_FIELD_CHARS = 2_048  # source, url
_MAX_LIST_ITEMS = 256  # tickers, companies
_MAX_ITEM_CHARS = 128
# Text may hold newlines and tabs; any other control or unassigned/private-use/surrogate
# code point counts against it, and more than this share of them means binary junk.
_MAX_NONPRINTABLE_RATIO = 0.10
_ALLOWED_CONTROLS = frozenset("\n\r\t")
_NONPRINTABLE_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})
_ALNUM = re.compile(r"[^\W_]")  # str.isalnum(): a Unicode word character but "_"
_LONG_DIGITS = re.compile("[0-9]{19}")  # a number orjson might not parse like json does
_ASCII_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # ASCII Cc but \n\r\t


@dataclass(frozen=True, slots=True)
class ContractLimits:
    """Size and time limits of the contract (``WorkerSettings`` supplies them)."""

    max_text_chars: int = 20_000
    max_message_bytes: int = 1_000_000
    max_future_skew: timedelta = timedelta(minutes=5)


def derive_snippet_id(source: str | None, text: str) -> str:
    """Id of a snippet that came without one: deterministic in source and normalised text.

    The same story from the same source always gets the same id, whatever its packaging
    (whitespace, case, links); the same text from two sources gets two ids, so each is
    counted as an input and the second is reported as a duplicate of the first.
    """
    normalized = normalize_text(text) or " ".join(text.split()).casefold()
    return record_id("snippet", source or "", normalized)


def parse_snippet(
    raw: bytes,
    *,
    kafka_timestamp: datetime | None,
    now: datetime,
    limits: ContractLimits = ContractLimits(),
) -> Snippet:
    """Validate one raw message; return its ``Snippet`` or raise ``ContractError``.

    ``kafka_timestamp`` stands in for a missing ``published_at``; ``now`` (injected, aware)
    bounds how far in the future an event time may be.
    """
    if len(raw) > limits.max_message_bytes:
        raise ContractError(
            "message_too_large",
            f"message is {len(raw)} bytes; the limit is {limits.max_message_bytes}",
        )
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError("invalid_utf8", f"not UTF-8 at byte {exc.start}: {exc.reason}") from exc
    if decoded.startswith("\ufeff"):
        decoded = decoded[1:]
    data = _loads(decoded)
    if not isinstance(data, dict):
        raise ContractError("not_an_object", f"expected a JSON object, got {_json_type(data)}")
    return snippet_from_mapping(data, kafka_timestamp=kafka_timestamp, now=now, limits=limits)


def snippet_from_mapping(
    data: Mapping[str, Any],
    *,
    kafka_timestamp: datetime | None,
    now: datetime,
    limits: ContractLimits = ContractLimits(),
) -> Snippet:
    """The contract applied to an already-decoded object (a backfill row, an API body)."""
    text = _text(data, limits)
    source = _optional_str(data, "source", _MAX_FIELD_CHARS)
    url = _optional_str(data, "url", _MAX_FIELD_CHARS)
    published_at = _published_at(data.get("published_at"), kafka_timestamp, now, limits)
    tickers = tuple(
        _dedupe_keep_order(
            t.lstrip("$#").strip().upper() for t in _str_list(data, "tickers") if t.lstrip("$#")
        )
    )
    companies = tuple(_dedupe_keep_order(_str_list(data, "companies")))
    snippet_id = _snippet_id(data.get("id"), source, text)
    known = {"id", "text", "published_at", "source", "url", "tickers", "companies"}
    extra = {str(k): v for k, v in data.items() if k not in known}
    return Snippet(
        id=snippet_id,
        text=text,
        published_at=published_at,
        source=source,
        url=url,
        tickers=tickers,
        companies=companies,
        extra=extra,
    )


def _loads(decoded: str) -> Any:
    """Parse JSON exactly as ``json.loads`` (no NaN/Infinity) would, fast when possible.

    orjson parses valid documents several times faster and gives the same values, except
    for integers beyond 64 bits (it turns them into floats): a document with a run of 19
    digits goes to the standard library, as does anything orjson refuses (invalid JSON,
    but also numbers beyond float range or lone surrogate escapes, which the standard
    library accepts), so the result and every error message stay those of ``json.loads``.
    """
    if _orjson is not None and _LONG_DIGITS.search(decoded) is None:
        try:
            return _orjson.loads(decoded)
        except (ValueError, RecursionError):
            pass
    try:
        return json.loads(decoded, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise ContractError("invalid_json", f"not JSON: {exc}") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _text(data: Mapping[str, Any], limits: ContractLimits) -> str:
    if "text" not in data or data["text"] is None:
        raise ContractError("missing_text", "the 'text' field is required")
    text = data["text"]
    if not isinstance(text, str):
        raise ContractError("invalid_text", f"'text' must be a string, got {_json_type(text)}")
    if len(text) > limits.max_text_chars:
        raise ContractError(
            "text_too_long",
            f"'text' has {len(text)} characters; the limit is {limits.max_text_chars}",
        )
    text = text.strip()
    if not text:
        raise ContractError("empty_text", "'text' is empty or only whitespace")
    _check_printable(text)
    return text


def _count_nonprintable(text: str) -> int:
    """Characters other than newline/tab that are control, surrogate, private-use,
    unassigned, or the replacement character."""
    if text.isascii():  # only C0 controls and DEL can be bad: one regex scan
        return len(_ASCII_CONTROLS.findall(text))
    if text.isprintable():  # no Cc/Cf/Cs/Co/Cn and no newline at all
        return text.count("\ufffd")
    return sum(
        1
        for ch in text
        if ch not in _ALLOWED_CONTROLS
        and (ch == "\ufffd" or unicodedata.category(ch) in _NONPRINTABLE_CATEGORIES)
    )


def _check_printable(text: str) -> None:
    if "\x00" in text:
        raise ContractError("binary_content", "'text' contains NUL characters")
    bad = _count_nonprintable(text)
    if bad and bad / len(text) > _MAX_NONPRINTABLE_RATIO:
        raise ContractError(
            "binary_content",
            f"{bad} of {len(text)} characters of 'text' are control, replacement or unassigned",
        )
    if _ALNUM.search(text) is None:
        raise ContractError("binary_content", "'text' holds no letter or digit")


def _optional_str(data: Mapping[str, Any], name: str, max_chars: int) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContractError("invalid_field", f"{name!r} must be a string, got {_json_type(value)}")
    value = value.strip()
    if len(value) > max_chars:
        raise ContractError("invalid_field", f"{name!r} is longer than {max_chars} characters")
    return value or None


def _str_list(data: Mapping[str, Any], name: str) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise ContractError(
            "invalid_field",
            f"{name!r} must be a list of strings or a comma-separated string, got {_json_type(value)}",
        )
    if len(items) > _MAX_LIST_ITEMS:
        raise ContractError("invalid_field", f"{name!r} has more than {_MAX_LIST_ITEMS} items")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ContractError(
                "invalid_field", f"{name!r} items must be strings, got {_json_type(item)}"
            )
        item = item.strip()
        if len(item) > _MAX_ITEM_CHARS:
            raise ContractError(
                "invalid_field", f"{name!r} item longer than {_MAX_ITEM_CHARS} characters"
            )
        if item:
            out.append(item)
    return out


def _dedupe_keep_order(items: Any) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def _snippet_id(value: Any, source: str | None, text: str) -> str:
    if value is None:
        return derive_snippet_id(source, text)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ContractError(
            "invalid_field", f"'id' must be a string or an integer, got {_json_type(value)}"
        )
    ident = str(value).strip()
    if not ident:
        return derive_snippet_id(source, text)
    if len(ident) > _MAX_ID_CHARS or (
        not ident.isprintable() and any(unicodedata.category(ch) == "Cc" for ch in ident)
    ):
        raise ContractError(
            "invalid_field", f"'id' must be at most {_MAX_ID_CHARS} printable characters"
        )
    return ident


def _published_at(
    value: Any, kafka_timestamp: datetime | None, now: datetime, limits: ContractLimits
) -> datetime:
    if value is None:
        if kafka_timestamp is None:
            raise ContractError(
                "missing_published_at", "no 'published_at' and no Kafka timestamp to stand in"
            )
        if kafka_timestamp.tzinfo is None:
            raise ContractError("missing_published_at", "the Kafka timestamp is naive")
        ts = kafka_timestamp.astimezone(UTC)
    else:
        if not isinstance(value, str):
            raise ContractError(
                "invalid_published_at",
                f"'published_at' must be an RFC 3339 string, got {_json_type(value)}",
            )
        try:
            ts = from_rfc3339(value)
        except (ValueError, OverflowError) as exc:
            raise ContractError(
                "invalid_published_at", f"'published_at' is not RFC 3339 with an offset: {value!r}"
            ) from exc
    if not math.isfinite(ts.timestamp()):  # pragma: no cover - datetime bounds this already
        raise ContractError("invalid_published_at", f"'published_at' out of range: {value!r}")
    if ts - now > limits.max_future_skew:
        raise ContractError(
            "published_at_in_future",
            f"'published_at' {ts.isoformat()} is more than {limits.max_future_skew} after now "
            f"({now.astimezone(UTC).isoformat()})",
        )
    return ts
