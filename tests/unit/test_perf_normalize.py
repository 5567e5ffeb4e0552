"""Fast-path gates in normalisation and the contract change no result.

``_may_hold_ticker_label`` only skips a regex that cannot match; ``_ALNUM`` is
``str.isalnum`` as a regex. Both are checked against the plain computation.
"""

from __future__ import annotations

import random
import sys

import pytest

from pipeline import normalize
from pipeline.contract import _ALNUM

LABELS = [
    "Tickers: AAPL, MSFT",
    "Related tickers: $NVDA $AMD",
    "SYMBOLS: tsla",
    "Stocks mentioned: XOM, CVX",
    "symbol: BRK.B",
    "note: none",
    "TiCkEr: abc",
    "Stocks  mentioned : GE",
]
WORDS = ["Apple", "beats", "estimates", "shares", "rise", "3.5%", "$AAPL", "#MSFT"]
WORDS += ["(Reuters)", "-", "Zürich:", "€", "10,000", "Q3"]


def texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30)))
        if rng.random() < 0.6:
            body += rng.choice(("\n", ". ", " ", " | ")) + rng.choice(LABELS)
        out.append(body)
    return out


def test_ticker_label_gate_changes_no_normalisation(monkeypatch: pytest.MonkeyPatch) -> None:
    sample = texts(2000, 8)
    fast = [normalize.normalize_text(t) for t in sample]
    monkeypatch.setattr(normalize, "_may_hold_ticker_label", lambda tail: True)
    plain = [normalize.normalize_text(t) for t in sample]
    assert fast == plain
    # the gate let real labels through: they were stripped from the normalised text
    stripped = sum(
        1
        for t, a in zip(sample, fast, strict=True)
        if "tickers" in t.lower() and "tickers" not in a
    )
    assert stripped > 50


def test_alnum_regex_is_str_isalnum() -> None:
    for code in range(0, min(sys.maxunicode, 0x3FFFF) + 1):
        ch = chr(code)
        assert (_ALNUM.search(ch) is not None) == ch.isalnum(), hex(code)
