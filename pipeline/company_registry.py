"""The company registry: the listed companies finfeed knows, and the text keys that find them.

``CompanyRegistry`` loads JSON Lines (symbol, name, aliases, exchange, share classes, which
aliases are common words): the registry shipped at ``pipeline/data/companies.jsonl`` by
default, or a user's own file in the same format (docs/companies.md). It resolves tickers
and names to canonical symbols and searches names for the API. Tokenisation and name keys
live here too, shared with the tagger in ``pipeline.companies``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from rapidfuzz import fuzz, process

from pipeline.company_rules import (
    CORPORATE_SUFFIXES,
    CUE_WORDS,
    MAX_SUFFIX_LEN,
    is_common_word,
)
from pipeline.errors import ConfigError

SHIPPED_REGISTRY = Path(__file__).resolve().parent / "data" / "companies.jsonl"

# A word token: letters/digits with inner apostrophes ("L'Oréal", "McDonald's"), or "&".
TOKEN_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|&")
_CLASS_SEPARATOR_RE = re.compile(r"^([A-Z0-9]+)[-/]([A-Z]{1,2})$")  # "BRK-B", "BRK/B"
_TICKER_SHAPE_RE = re.compile(r"^[A-Z0-9]{1,10}(?:[.\-/][A-Z0-9]{1,3})?$")


def ticker_key(ticker: str) -> str:
    """Canonical form of a ticker for lookups: upper case, class separator '.' ("BRK-B" -> "BRK.B")."""
    key = ticker.strip().lstrip("$").upper()
    return _CLASS_SEPARATOR_RE.sub(r"\1.\2", key)


def fold(raw: str) -> str:
    """Lower case without accents: 'Nestlé' -> 'nestle', 'Société' -> 'societe'."""
    if raw.isascii():
        return raw.lower()
    decomposed = unicodedata.normalize("NFKD", raw)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class Token(NamedTuple):
    """One word of a text: ``norm`` is folded, apostrophes and possessive 's removed."""

    norm: str
    start: int
    end: int
    possessive: bool


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    lowered = text.lower() if text.isascii() else None  # one call instead of one per word
    for m in TOKEN_RE.finditer(text):
        start, end = m.span()
        norm = lowered[start:end] if lowered is not None else fold(m.group())
        if norm == "&":
            out.append(Token("and", start, end, False))
            continue
        possessive = norm.endswith(("'s", "’s"))
        if possessive:
            norm = norm[:-2]
        if "'" in norm or "’" in norm:
            norm = norm.replace("'", "").replace("’", "")
        out.append(Token(norm, start, end, possessive))
    return out


def strip_suffixes(tokens: Sequence[Token]) -> list[Token]:
    """Drop a leading 'the' and trailing corporate suffixes ('Inc', 'Co., Ltd.', 'N.V.')."""
    words = list(tokens)
    if len(words) > 1 and words[0].norm == "the":
        words = words[1:]
    changed = True
    while changed and len(words) > 1:
        changed = False
        for size in range(min(MAX_SUFFIX_LEN, len(words) - 1), 0, -1):
            if tuple(t.norm for t in words[-size:]) in CORPORATE_SUFFIXES:
                words = words[:-size]
                changed = True
                break
        if len(words) > 1 and words[-1].norm == "and":  # "Eli Lilly and Company"
            words = words[:-1]
            changed = True
    return words


def name_key(name: str) -> tuple[str, ...]:
    """The token key a name is matched under: folded, possessive and suffixes removed."""
    return tuple(t.norm for t in strip_suffixes(tokenize(name)))


@dataclass(frozen=True, slots=True)
class Company:
    """One registry entry. ``ambiguous`` means the bare symbol is a common word or acronym."""

    symbol: str
    name: str
    aliases: tuple[str, ...] = ()
    exchange: str | None = None
    country: str | None = None
    ambiguous: bool = False
    share_classes: tuple[str, ...] = ()
    ambiguous_aliases: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> Company:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: a registry line must be a JSON object")
        try:
            symbol = str(data["symbol"]).strip()
            name = str(data["name"]).strip()
        except KeyError as exc:
            raise ConfigError(f"{where}: missing field {exc.args[0]!r}") from exc
        if not symbol or not name:
            raise ConfigError(f"{where}: symbol and name must not be empty")

        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: {key!r} must be a list of strings")
            return tuple(v.strip() for v in value if v.strip())

        exchange, country = data.get("exchange"), data.get("country")
        return cls(
            symbol=ticker_key(symbol),
            name=name,
            aliases=strings("aliases"),
            exchange=str(exchange) if exchange else None,
            country=str(country) if country else None,
            ambiguous=bool(data.get("ambiguous", False)),
            share_classes=tuple(ticker_key(s) for s in strings("share_classes")),
            ambiguous_aliases=strings("ambiguous_aliases"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "name": self.name,
            "aliases": list(self.aliases),
            "exchange": self.exchange,
            "country": self.country,
            "ambiguous": self.ambiguous,
            "share_classes": list(self.share_classes),
            "ambiguous_aliases": list(self.ambiguous_aliases),
        }

    @property
    def tickers(self) -> tuple[str, ...]:
        """The symbol, its share classes and listings, and ticker-shaped aliases equal to them."""
        return (self.symbol, *self.share_classes)


@dataclass(frozen=True, slots=True)
class NameEntry:
    """A name key in the registry: whose it is and how it must be matched."""

    symbol: str
    kind: Literal["name", "alias"]
    ambiguous: bool
    needs_possessive: bool = False  # "McDonald's" must not match "McDonald"
    exact_case: str | None = None  # all-caps aliases ("HP", "SAP") match only in capitals


class CompanyRegistry:
    """Companies indexed by ticker (symbol, share classes, listings) and by name key."""

    def __init__(self, companies: Iterable[Company]) -> None:
        self._companies: dict[str, Company] = {}
        self._tickers: dict[str, str] = {}
        self._names: dict[tuple[str, ...], list[NameEntry]] = {}
        self._first_tokens: dict[str, int] = {}  # first token -> longest key starting with it
        self._no_fuzzy: set[tuple[str, ...]] = set()  # possessive names: "McDonald" is a surname
        for company in companies:
            if company.symbol in self._companies:
                raise ConfigError(f"duplicate symbol in registry: {company.symbol}")
            self._companies[company.symbol] = company
        # tickers: canonical symbols first so a share class never shadows another symbol
        for company in self._companies.values():
            self._tickers[company.symbol] = company.symbol
        for company in self._companies.values():
            for ticker in company.share_classes:
                self._tickers.setdefault(ticker, company.symbol)
        for company in self._companies.values():
            self._index_names(company)
        self._fuzzy_keys: dict[str, list[str]] = {}
        self._fuzzy_symbol: dict[str, str] = {}
        for key, entries in self._names.items():
            entry = entries[0]
            joined = " ".join(key)
            if entry.ambiguous or entry.exact_case or key in self._no_fuzzy or len(joined) < 5:
                continue
            self._fuzzy_symbol.setdefault(joined, entry.symbol)
            self._fuzzy_keys.setdefault(joined[:2], []).append(joined)

    def _index_names(self, company: Company) -> None:
        ambiguous_keys = {name_key(a) for a in company.ambiguous_aliases}
        forms: list[tuple[str, Literal["name", "alias"]]] = [(company.name, "name")]
        forms += [(a, "alias") for a in company.aliases]
        parsed: list[tuple[str, Literal["name", "alias"], list[Token], bool]] = []
        for form, kind in forms:
            full = tokenize(form)
            tokens = strip_suffixes(full)
            if tokens:
                parsed.append((form, kind, tokens, len(tokens) < len(full)))
        # "Strategy Inc", "Next plc": one word left after the suffix is dropped, and not
        # listed as an alias on its own, may be an ordinary word: it needs context.
        listed = {tuple(t.norm for t in tokens) for _, _, tokens, cut in parsed if not cut}
        for form, kind, tokens, cut in parsed:
            key = tuple(t.norm for t in tokens)
            ambiguous = (
                key in ambiguous_keys
                or (len(key) == 1 and is_common_word(key[0]))
                or all(k in CUE_WORDS for k in key)
                or (cut and len(key) == 1 and key not in listed)
            )
            exact = form if form.isupper() and len(form.replace(" ", "")) <= 5 else None
            if tokens[-1].possessive:
                self._add_name(key, NameEntry(company.symbol, kind, ambiguous, True, exact))
                glued = (*key[:-1], key[-1] + "s")
                self._add_name(glued, NameEntry(company.symbol, kind, ambiguous, False, exact))
                self._no_fuzzy.update({key, glued})
            else:
                self._add_name(key, NameEntry(company.symbol, kind, ambiguous, False, exact))

    def _add_name(self, key: tuple[str, ...], entry: NameEntry) -> None:
        entries = self._names.setdefault(key, [])
        if any(e.symbol == entry.symbol for e in entries):
            return
        entries.append(entry)
        self._first_tokens[key[0]] = max(self._first_tokens.get(key[0], 0), len(key))

    @classmethod
    def load(cls, path: Path | str | None = None) -> CompanyRegistry:
        """Read a JSON Lines registry; None = the registry shipped with finfeed."""
        source = Path(path) if path is not None else SHIPPED_REGISTRY
        try:
            lines = source.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read company registry {source}: {exc}") from exc
        companies: list[Company] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            where = f"{source}:{number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where}: invalid JSON: {exc}") from exc
            companies.append(Company.from_dict(data, where))
        return cls(companies)

    def __len__(self) -> int:
        return len(self._companies)

    def __iter__(self) -> Iterator[Company]:
        return iter(self._companies.values())

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and ticker_key(symbol) in self._companies

    def get(self, symbol: str) -> Company | None:
        return self._companies.get(ticker_key(symbol))

    def resolve_ticker(self, ticker: str) -> str | None:
        """Canonical symbol of a ticker, share class or listing ("GOOG" -> "GOOGL"), or None."""
        return self._tickers.get(ticker_key(ticker))

    def names(self, key: tuple[str, ...]) -> list[NameEntry]:
        return self._names.get(key, [])

    def longest_key_from(self, first_token: str) -> int:
        return self._first_tokens.get(first_token, 0)

    def has_fuzzy_prefix(self, prefix: str) -> bool:
        return prefix in self._fuzzy_keys

    def fuzzy_name(self, phrase: str, threshold: float) -> tuple[str, float] | None:
        """Best unambiguous name within ``threshold`` (Levenshtein ratio, 0-100) of a phrase."""
        return self.fuzzy_key(" ".join(name_key(phrase)), threshold)

    def fuzzy_key(self, query: str, threshold: float) -> tuple[str, float] | None:
        """``fuzzy_name`` for a phrase already in key form (folded words, one space).

        A registry name is a variant of the phrase when the Levenshtein ratio of the two is
        at least ``threshold`` and the words agree: either the same letters with different
        spacing ("JP Morgan Chase", "#LondonStockExchange"), or the same number of words
        with at most one differing word, itself within ``threshold - 5`` ("Proctor and
        Gamble", "Berkshire Hathway"). A lone misspelt word ("Marvel", "Human") never is.
        """
        if len(query) < 5:
            return None
        glued = query.replace(" ", "")
        choices = self._fuzzy_keys.get(query[:2])
        if not choices:
            return None
        words = query.split()
        for key, score, _ in process.extract(
            query, choices, scorer=fuzz.ratio, score_cutoff=min(threshold, 80.0), limit=5
        ):
            if key.replace(" ", "") == glued:
                return self._fuzzy_symbol[key], 100.0
            if score < threshold:
                continue
            key_words = key.split()
            if len(words) < 2 or len(key_words) != len(words):
                continue
            differing = [(a, b) for a, b in zip(words, key_words, strict=True) if a != b]
            if len(differing) == 1 and fuzz.ratio(*differing[0]) >= threshold - 5:
                return self._fuzzy_symbol[key], float(score)
        return None

    def resolve_name(
        self, name: str, threshold: float | None = 85.0, *, tickers: bool = True
    ) -> str | None:
        """Canonical symbol for a company name or alias (exact key, ticker, then fuzzy).

        ``threshold`` is the rapidfuzz ratio (0-100) for name variants; None = exact only.
        ``tickers=False`` does not read a ticker-shaped name ("IT", "DOW") as a ticker.
        """
        key = name_key(name)
        if key:
            entries = self._names.get(key)
            if entries:
                return entries[0].symbol
        if tickers and _TICKER_SHAPE_RE.match(name.strip()):
            by_ticker = self.resolve_ticker(name)
            if by_ticker is not None:
                return by_ticker
        found = self.fuzzy_name(name, threshold) if threshold is not None else None
        return found[0] if found else None

    def search(self, query: str, limit: int = 10) -> list[tuple[Company, float]]:
        """Companies whose symbol, name or alias best match a free-text query (for look-ups)."""
        q = query.strip()
        if not q:
            return []
        scored: dict[str, float] = {}
        by_ticker = self.resolve_ticker(q) if _TICKER_SHAPE_RE.match(q.upper()) else None
        if by_ticker is not None:
            scored[by_ticker] = 100.0
        labels: list[str] = []
        owners: list[str] = []
        for company in self._companies.values():
            for label in (company.name, *company.aliases):
                labels.append(fold(label))
                owners.append(company.symbol)
        for _, score, index in process.extract(
            fold(q), labels, scorer=fuzz.WRatio, limit=limit * 3, score_cutoff=60
        ):
            symbol = owners[index]
            scored[symbol] = max(scored.get(symbol, 0.0), float(score))
        ranked = sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return [(self._companies[s], score) for s, score in ranked]
