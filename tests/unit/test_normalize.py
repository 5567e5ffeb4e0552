"""Normalisation: reprint packaging goes, the words that make a story distinct stay."""

from __future__ import annotations

import pytest

from pipeline.normalize import normalize_text, shingles, tokens

STORY = "Apple reported revenue of $97.2 billion, up 7% from a year earlier, as iPhone sales in China recovered."
PLAIN = normalize_text(STORY)


def test_plain_form() -> None:
    assert (
        PLAIN
        == "apple reported revenue of 97.2 billion up 7% from a year earlier as iphone sales in china recovered"
    )


@pytest.mark.parametrize(
    "reprint",
    [
        f"NEW YORK, Nov 3 (Reuters) - {STORY}",
        f"(Bloomberg) -- {STORY}",
        f"UPDATE 2-{STORY}",
        f"RPT-UPDATE 1-{STORY}",
        f"By Jane Doe and John Roe\n{STORY}",
        f"By Tom Hale - {STORY}",
        f"{STORY}\n(Reporting by Jane Doe in New York; Editing by Bob Smith)",
        f"{STORY} Read more: https://example.com/apple-q4",
        f"{STORY}\nClick here to subscribe to our newsletter.",
        f"{STORY} https://t.co/abc123",
        f"{STORY} $AAPL $MSFT",
        f"{STORY} #AAPL",
        f"{STORY}\nTickers: AAPL, MSFT",
        f"$AAPL $TSM {STORY}",
        STORY.replace("iPhone", "iPhone").upper(),
        STORY.replace(" ", "   \n "),
        STORY.replace("7%", "7&#37;").replace("revenue", "revenue&nbsp;"),
        STORY.replace("China", "<b>China</b>"),
        STORY.replace("Apple", "Ａｐｐｌｅ"),  # full-width forms (NFKC)
    ],
)
def test_reprint_packaging_normalises_away(reprint: str) -> None:
    assert normalize_text(reprint) == PLAIN


def test_smart_quotes_and_dashes() -> None:
    assert normalize_text(
        "Apple\u2019s \u201crecord\u201d quarter \u2014 analysts cheer"
    ) == normalize_text('Apple\'s "record" quarter - analysts cheer')


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("$AAPL beats estimates", "$MSFT beats estimates"),
        ("Strong quarter for $AAPL", "Strong quarter for $MSFT"),
        ("Apple shares rise 4%", "Apple shares rise 5%"),
        ("Apple shares rise 4%", "Apple shares fall 4%"),
        ("Revenue of 3.5 billion", "Revenue of 35 billion"),
        ("By Tuesday Apple will ship more", "By Friday Apple will ship more"),
    ],
)
def test_distinct_stories_stay_distinct(a: str, b: str) -> None:
    assert normalize_text(a) != normalize_text(b)


def test_inline_cashtag_keeps_its_symbol() -> None:
    assert normalize_text("$AAPL beats, shares jump") == "aapl beats shares jump"


def test_text_of_only_packaging_is_not_stripped_to_nothing() -> None:
    assert normalize_text("$AAPL $MSFT") == "aapl msft"
    assert normalize_text("https://example.com/x") == ""


def test_tokens_keep_decimals_and_percentages() -> None:
    assert tokens("EPS $1.85 vs 1,780.5; margin 47.1%.") == [
        "eps",
        "1.85",
        "vs",
        "1,780.5",
        "margin",
        "47.1%",
    ]


def test_shingles() -> None:
    assert shingles("a b c d", 2, normalized=True) == {"a b", "b c", "c d"}
    assert shingles("a b", 3, normalized=True) == {"a b"}
    assert shingles("", 3) == set()
    assert shingles("The Apple, the pie!", 2) == {"the apple", "apple the", "the pie"}
    with pytest.raises(ValueError):
        shingles("a", 0)


def test_long_text_is_fast_enough_to_not_backtrack() -> None:
    # a pathological run of cashtags and punctuation must not blow up the end-anchored patterns
    # (a leading run of cashtags is packaging; pytest-timeout catches runaway regexes)
    text = "$A " * 5000 + "word " * 5000 + "$" * 5000 + " $B" * 100
    assert normalize_text(text) == " ".join(["word"] * 5000)
