"""Text normalisation for exact hashing and near-duplicate shingling.

A reprint of a wire story rarely repeats it byte for byte: the re-run gets a dateline
("NEW YORK, Nov 3 (Reuters) -"), an "UPDATE 2-" slug, a byline, a "Read more:" footer,
links, HTML entities, curly quotes, or a trailing list of cashtags ("$AAPL $MSFT").
``normalize_text`` strips exactly that packaging and keeps the words of the story, so two
copies of one story hash alike and shingle alike, while two stories that differ in a
company name, a figure or a quarter stay different.

What is removed (anywhere unless said otherwise):

- HTML entities and tags (``&amp;``, ``&#8217;``, ``<b>``), Unicode compatibility forms (NFKC),
  curly quotes and dashes;
- URLs (``https://...``, ``www...``) and e-mail addresses;
- wire slugs at the start (``UPDATE 2-``, ``BRIEF-``, ``EXCLUSIVE-``, ``CORRECTED-``, ``RPT-``),
  datelines up to and including ``(Reuters) -`` / ``(Bloomberg) --`` / ``(AP) -`` and similar;
- bylines at the start (``By Jane Doe and John Roe``) and credit lines
  (``Reporting by ...; Editing by ...``, ``(Reporting by ...)``), ``(Adds ...)`` notes;
- boilerplate calls to action: ``Read more: ...``, ``Click here ...``, ``Subscribe ...``,
  ``Sign up ...``, ``Follow us ...`` up to the end of their sentence or line;
- runs of cashtags / ticker lists at the start or end (``$AAPL $MSFT``, ``Tickers: AAPL, MSFT``,
  ``#AAPL``); a cashtag inside a sentence keeps its symbol (``$AAPL beats`` -> ``aapl beats``);
- case (``str.casefold``), punctuation and whitespace: the result is space-separated word
  tokens; decimals and percentages survive (``3.5%`` stays ``3.5%``).

The result is for fingerprints only; the snippet's own text is never rewritten.
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = ["normalize_text", "shingles", "tokens"]

_TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u200b": "",
        "\u200c": "",
        "\u200d": "",
        "\ufeff": "",
    }
)

_TAG = re.compile(r"<[^<>]{1,200}>")
_URL = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")

# Slugs that wire services put before a story: "UPDATE 2-", "BRIEF-", "RPT-UPDATE 1-".
_SLUG = re.compile(
    r"^\s*(?:(?:update\s*\d*|brief|exclusive|corrected|correction|rpt|refile|"
    r"breaking|analysis|instant view|factbox|wrapup\s*\d*|live)\s*[-:\u2014]+\s*)+",
    re.IGNORECASE,
)
# Datelines ending in an agency credit: "NEW YORK, Nov 3 (Reuters) -", "(Bloomberg) --".
_AGENCIES = r"reuters|bloomberg|ap|afp|dow jones|marketwatch|business wire|globe newswire|prnewswire|pr newswire|cnbc|ft|wsj"
_DATELINE = re.compile(
    rf"^\s*[^()\n]{{0,80}}\((?:{_AGENCIES})\)\s*(?:[-:\u2014]+\s*)?",
    re.IGNORECASE,
)
# A bare agency credit anywhere: "(Reuters) -" in the middle after a reflowed headline.
_AGENCY_CREDIT = re.compile(rf"\((?:{_AGENCIES})\)\s*[-:\u2014]+", re.IGNORECASE)
_BYLINE = re.compile(
    r"^\s*[Bb][Yy]\s+[A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3}"
    r"(?:\s*(?:,|and|&)\s*[A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3})*\s*(?:[-|:\u2014,]+\s*|\n|\s{2,})",
)
_CREDITS = re.compile(
    r"\(?\s*(?:reporting|writing|editing|additional reporting|compiled)\s+by\b[^()\n]*\)?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_ADDS_NOTE = re.compile(
    r"\(\s*(?:adds|updates|recasts|corrects|changes)\b[^()]{0,200}\)", re.IGNORECASE
)
_BOILERPLATE = re.compile(
    r"(?:read more|read the full (?:story|article)|click here|subscribe (?:now|here|to)|"
    r"sign up (?:for|here|now)|follow us|for more (?:news|coverage)|related coverage|"
    r"see also|more from)\b[^.!?\n]*[.!?]?",
    re.IGNORECASE,
)
_TICKER_LIST_LABEL = re.compile(
    r"(?:related\s+)?(?:tickers?|symbols?|stocks? mentioned)\s*:\s*(?:[$#]?[A-Za-z][A-Za-z.]{0,6}[\s,;/]*)+$",
    re.IGNORECASE,
)
# A trailing run of cashtags is packaging when it holds two or more tags, or when it
# follows the end of a sentence or a separator; one tag closing a sentence is content
# ("strong quarter for $AAPL" must not equal "strong quarter for $MSFT").
_TAG_ITEM = r"[$#][A-Za-z][A-Za-z.]{0,6}\b"
_CASHTAG_RUN_END_MULTI = re.compile(rf"[\s,;/|(]*{_TAG_ITEM}(?:[\s,;/|]+{_TAG_ITEM})+[\s.)]*$")
_CASHTAG_RUN_END_AFTER_BREAK = re.compile(
    rf"(?<=[.!?:\n|])[\s\-\u2014]*{_TAG_ITEM}[\s.)]*$|\s+[-|\u2014]+\s*{_TAG_ITEM}[\s.)]*$"
)
# A leading run is packaging only with two or more tags ("$AAPL $MSFT Apple and ...").
_CASHTAG_RUN_START = re.compile(rf"^\s*{_TAG_ITEM}(?:[\s,;/|]+{_TAG_ITEM})+[\s,;/|:\-]*(?=\S)")
_CASHTAG = re.compile(r"[$#]([A-Za-z][A-Za-z.]{0,6})\b")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[^\W_]+(?:'[^\W_]+)?")


_BOILERPLATE_WORDS = (
    "read",
    "click",
    "subscribe",
    "sign up",
    "follow us",
    "for more",
    "related",
    "see also",
    "more from",
)


def _strip_packaging(text: str) -> str:
    # Cheap substring gates first: most texts carry little packaging, and each skipped
    # pattern saves a full scan of the text.
    text = _SLUG.sub("", text, count=1)
    has_paren = "(" in text
    if has_paren:
        text = _DATELINE.sub("", text, count=1)
        text = _SLUG.sub("", text, count=1)  # "(Reuters) - UPDATE 1-" order also occurs
    if text.lstrip()[:3].lower() == "by ":
        text = _BYLINE.sub("", text, count=1)
    if has_paren:
        text = _AGENCY_CREDIT.sub(" ", text)
        text = _ADDS_NOTE.sub(" ", text)
    lowered = text.lower()
    if " by " in lowered or "(by " in lowered:
        text = _CREDITS.sub(" ", text)
    if any(word in lowered for word in _BOILERPLATE_WORDS):
        text = _BOILERPLATE.sub(" ", text)
    return text


_TAIL = 400  # trailing ticker lists are short: end-anchored patterns only scan the tail


def _strip_tail(pattern: re.Pattern[str], text: str) -> str:
    head, tail = text[:-_TAIL], text[-_TAIL:]
    stripped = head + pattern.sub("", tail)
    # never strip a text that is only tickers down to nothing
    return stripped if _TOKEN.search(stripped) else text


def _may_hold_ticker_label(tail: str) -> bool:
    """False when ``_TICKER_LIST_LABEL`` cannot match: an ASCII tail without any of its
    label words (the regex scan costs more than this check). Non-ASCII text always goes to
    the regex, whose case-insensitive matching knows more than ``str.lower``."""
    if not tail.isascii():
        return True
    lowered = tail.lower()
    return "ticker" in lowered or "symbol" in lowered or "mentioned" in lowered


def _strip_ticker_runs(text: str) -> str:
    text = text.rstrip()
    if ":" in text[-_TAIL:] and _may_hold_ticker_label(text[-_TAIL:]):
        text = _strip_tail(_TICKER_LIST_LABEL, text)
    if "$" not in text and "#" not in text:
        return text
    if "$" in text[-_TAIL:] or "#" in text[-_TAIL:]:
        text = _strip_tail(_CASHTAG_RUN_END_MULTI, text)
        text = _strip_tail(_CASHTAG_RUN_END_AFTER_BREAK, text)
    stripped = _CASHTAG_RUN_START.sub("", text, count=1)
    if _TOKEN.search(stripped):
        text = stripped
    return _CASHTAG.sub(r"\1", text)


def tokens(text: str) -> list[str]:
    """Word tokens of ``text`` after normalisation (see the module docstring)."""
    if "&" in text:
        text = html.unescape(html.unescape(text))  # double-escaped feeds ("&amp;amp;") exist
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "/" in text or "www" in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _EMAIL.sub(" ", text)
    text = _strip_packaging(text)
    text = _strip_ticker_runs(text)
    return _TOKEN.findall(text.casefold())


def normalize_text(text: str) -> str:
    """The story's words, lower-cased and single-spaced: the input of exact hashing.

    Two reprints of one story normalise to the same string; see the module docstring
    for what counts as packaging. May be empty when the text is only packaging (a bare
    link, a cashtag list); callers fall back to a plainer form then.
    """
    return " ".join(tokens(text))


def shingles(text: str, size: int = 3, *, normalized: bool = False) -> set[str]:
    """Word ``size``-grams of the normalised text, joined by single spaces.

    A text shorter than ``size`` words gives one shingle holding all its words, so a
    short headline still has a signature; an empty text gives an empty set.
    """
    if size < 1:
        raise ValueError(f"shingle size must be >= 1, got {size}")
    words = text.split() if normalized else tokens(text)
    if not words:
        return set()
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}
