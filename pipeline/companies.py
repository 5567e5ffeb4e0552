"""Company tagging: which listed companies a snippet is about, as canonical symbols.

Two pieces, both pure:

- ``CompanyRegistry``: the companies finfeed knows (symbol, name, aliases, exchange, share
  classes, which aliases are common words), loaded from JSON Lines; the registry shipped at
  ``pipeline/data/companies.jsonl`` by default, or a user's own file in the same format.
- ``CompanyTagger``: ``tag(text, tickers=(), companies=())`` returns the canonical symbols of
  the companies a snippet is about, ordered by first mention. Tickers and company names given
  with the input win; otherwise the text is searched for cashtags (``$TSLA``), exchange-
  prefixed tickers (``NYSE: JPM``), company names and aliases (exact token match after
  normalisation, then rapidfuzz on capitalised spans for name variants), and bare upper-case
  tickers that cannot be English words.

Common-word aliases ("Apple", "Target", "Visa", "Shell") are accepted only under the rule set
in ``pipeline.company_rules`` (documented in docs/companies.md): corroborated by a corporate
suffix, a ticker or unambiguous name of the same company, or else capitalised, not in a
non-company construction ("Apple pie", "Ford the river", "the Amazon") and near financial
context. ``find(text)`` returns every accepted mention with its span, method and score, for
debugging and evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pipeline.company_registry import (
    SHIPPED_REGISTRY,
    Company,
    CompanyRegistry,
    NameEntry,
    Token,
    strip_suffixes,
    ticker_key,
    tokenize,
)
from pipeline.company_rules import (
    COMMON_ACRONYMS,
    CORPORATE_SUFFIXES,
    CUE_WORDS,
    EXCHANGE_SUFFIXES,
    MAX_SUFFIX_LEN,
    ContextRules,
    TextShape,
    is_common_word,
)

__all__ = [
    "SHIPPED_REGISTRY",
    "Company",
    "CompanyMention",
    "CompanyRegistry",
    "CompanyTagger",
]

MentionMethod = Literal["cashtag", "exchange", "ticker", "name", "alias", "fuzzy"]

# Priority when two candidate mentions overlap (higher wins at equal span length).
_METHOD_PRIORITY: dict[str, int] = {
    "exchange": 6,
    "cashtag": 5,
    "name": 4,
    "alias": 3,
    "ticker": 2,
    "fuzzy": 1,
}
_BASE_SCORE: dict[str, float] = {
    "exchange": 1.0,
    "cashtag": 1.0,
    "name": 0.95,
    "alias": 0.9,
    "ticker": 0.85,
}

_CASHTAG_RE = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9]{0,9}(?:[.\-][A-Za-z0-9]{1,3})?)(?!\w)")
_EXCHANGE_RE = re.compile(
    r"(?<![\w])(" + "|".join(sorted(EXCHANGE_SUFFIXES, key=len, reverse=True)) + r")"
    r"\s?:\s?([A-Z0-9]{1,10}(?:[.\-][A-Z0-9]{1,3})?)(?![\w\-])",
    re.IGNORECASE,
)
_BARE_TICKER_RE = re.compile(
    r"(?<![\w$@#/:.\-&'’])([A-Z][A-Z0-9]{1,5}(?:\.[A-Z]{1,2})?)(?![\w\-&'’]|\.[A-Za-z0-9])"
)


@dataclass(frozen=True, slots=True)
class CompanyMention:
    """A company found in a text: ``text[start:end]`` is the evidence."""

    symbol: str
    start: int
    end: int
    text: str
    method: MentionMethod
    score: float
    rule: str = ""  # for ambiguous aliases: the rule that accepted it
    known: bool = True  # False: a cashtag/exchange ticker not in the registry, kept as given


@dataclass(slots=True)
class _Candidate:
    mention: CompanyMention
    first: int = -1  # token range for name candidates
    last: int = -1
    ambiguous: bool = False
    suffix: bool = False
    possessive: bool = False
    cue_alias: bool = False  # the alias is itself a cue word ("Investor" AB)
    rejected: str | None = field(default=None)


class CompanyTagger:
    """Finds companies in snippets; see the module docstring and docs/companies.md."""

    def __init__(
        self,
        registry: CompanyRegistry,
        *,
        fuzzy_threshold: float | None = 85.0,
        keep_unknown_tickers: bool = True,
        rules: ContextRules | None = None,
    ) -> None:
        self.registry = registry
        self.fuzzy_threshold = fuzzy_threshold
        self.keep_unknown_tickers = keep_unknown_tickers
        self.rules = rules or ContextRules()

    def tag(
        self, text: str, tickers: Sequence[str] = (), companies: Sequence[str] = ()
    ) -> tuple[str, ...]:
        """Canonical symbols, in order of first mention (input tickers, then input companies)."""
        if tickers or companies:
            return self.normalize_input(tickers, companies)
        return _unique(m.symbol for m in self.find(text))

    def normalize_input(
        self, tickers: Sequence[str] = (), companies: Sequence[str] = ()
    ) -> tuple[str, ...]:
        """Tickers and names given with a snippet, through the registry; unknown ones kept."""
        out: list[str] = []
        for raw in tickers:
            value = raw.strip().lstrip("$").strip()
            if not value:
                continue
            m = _EXCHANGE_RE.fullmatch(value)
            if m:
                out.append(self._exchange_symbol(m.group(1), m.group(2))[0])
                continue
            out.append(self.registry.resolve_ticker(value) or ticker_key(value))
        for raw in companies:
            value = " ".join(raw.split())
            if value:
                out.append(self.registry.resolve_name(value, self.fuzzy_threshold) or value)
        return _unique(out)

    def find(self, text: str) -> list[CompanyMention]:
        """Every accepted mention, in text order, overlapping candidates resolved."""
        return _resolve_overlaps([c for c in self._judged(text) if c.rejected is None])

    def explain(self, text: str) -> list[tuple[CompanyMention, str | None]]:
        """Every candidate with the rule that rejected it (None = accepted), for debugging."""
        return [(c.mention, c.rejected) for c in self._judged(text)]

    def _judged(self, text: str) -> list[_Candidate]:
        """All candidates; ambiguous aliases judged by the context rules."""
        if not text:
            return []
        tokens = tokenize(text)
        candidates = self._ticker_candidates(text)
        candidates += self._name_candidates(text, tokens)
        if self.fuzzy_threshold is not None:
            taken = [(c.mention.start, c.mention.end) for c in candidates]
            candidates += self._fuzzy_candidates(text, tokens, taken)
        if not any(c.ambiguous for c in candidates):
            return candidates
        shape = TextShape.of(text, tokens)
        corroborated = {c.mention.symbol for c in candidates if not c.ambiguous}
        for cand in candidates:
            if not cand.ambiguous:
                continue
            verdict = self.rules.judge(
                text, tokens, shape, cand.first, cand.last, cand.suffix,
                corroborated=cand.mention.symbol in corroborated,
                others=bool(corroborated - {cand.mention.symbol}),
                cue_alias=cand.cue_alias,
            )  # fmt: skip
            if verdict.accepted:
                cand.mention = _with(cand.mention, verdict.rule, verdict.score)
            else:
                cand.rejected = verdict.rule
        return candidates

    # -- candidates -------------------------------------------------------------------------

    def _exchange_symbol(self, exchange: str, code: str) -> tuple[str, bool]:
        suffix = EXCHANGE_SUFFIXES[exchange.upper()]
        code = ticker_key(code)
        if exchange.upper() == "TSE" and not code.isdigit():
            suffix = ".TO"  # Toronto; Tokyo codes are numeric
        if suffix == ".HK" and code.isdigit():
            code = code.zfill(4)
        for probe in (code + suffix, code):
            symbol = self.registry.resolve_ticker(probe)
            if symbol is not None:
                return symbol, True
        return code + suffix, False

    def _ticker_candidates(self, text: str) -> list[_Candidate]:
        out: list[_Candidate] = []
        for m in _EXCHANGE_RE.finditer(text):
            symbol, known = self._exchange_symbol(m.group(1), m.group(2))
            if known or self.keep_unknown_tickers:
                mention = CompanyMention(
                    symbol, m.start(), m.end(), m.group(), "exchange", 1.0, known=known
                )
                out.append(_Candidate(mention))
        for m in _CASHTAG_RE.finditer(text):
            raw = m.group(1)
            if raw.isdigit():
                continue
            found = self.registry.resolve_ticker(raw)
            if found is None and not self.keep_unknown_tickers:
                continue
            symbol = found or ticker_key(raw)
            mention = CompanyMention(
                symbol, m.start(), m.end(), m.group(), "cashtag", 1.0, known=found is not None
            )
            out.append(_Candidate(mention))
        for m in _BARE_TICKER_RE.finditer(text):
            raw = m.group(1)
            letters = sum(c.isalpha() for c in raw.split(".")[0])
            if letters < 3 or raw in COMMON_ACRONYMS or is_common_word(raw.lower()):
                continue
            listed = self.registry.resolve_ticker(raw)
            company = self.registry.get(listed) if listed is not None else None
            if company is None or (company.ambiguous and ticker_key(raw) == company.symbol):
                continue
            mention = CompanyMention(company.symbol, m.start(), m.end(), raw, "ticker", 0.85)
            out.append(_Candidate(mention))
        return out

    def _name_candidates(self, text: str, tokens: list[Token]) -> list[_Candidate]:
        out: list[_Candidate] = []
        registry = self.registry
        n = len(tokens)
        i = 0
        while i < n:
            longest = registry.longest_key_from(tokens[i].norm)
            if not longest:
                i += 1
                continue
            matched = False
            for size in range(min(longest, n - i), 0, -1):
                key = tuple(t.norm for t in tokens[i : i + size])
                entries = registry.names(key)
                if not entries:
                    continue
                last = tokens[i + size - 1]
                entry = _pick(entries, text, tokens[i].start, last)
                if entry is None:
                    continue
                end_tok = i + size
                suffix_end = _suffix_after(tokens, end_tok, text)
                end = tokens[suffix_end - 1].end if suffix_end > end_tok else last.end
                possessive = tokens[suffix_end - 1].possessive
                mention = CompanyMention(
                    entry.symbol,
                    tokens[i].start,
                    end,
                    text[tokens[i].start : end],
                    entry.kind,
                    _BASE_SCORE[entry.kind],
                )
                out.append(
                    _Candidate(
                        mention,
                        first=i,
                        last=end_tok - 1,
                        ambiguous=entry.ambiguous,
                        suffix=suffix_end > end_tok,
                        possessive=possessive,
                        cue_alias=all(k in CUE_WORDS for k in key),
                    )
                )
                i = suffix_end
                matched = True
                break
            if not matched:
                i += 1
        return out

    def _fuzzy_candidates(
        self, text: str, tokens: list[Token], taken: list[tuple[int, int]]
    ) -> list[_Candidate]:
        """Name variants: capitalised spans of 1-4 words close to a registry name."""
        threshold = self.fuzzy_threshold
        assert threshold is not None
        out: list[_Candidate] = []
        used: list[tuple[int, int]] = list(taken)
        runs = _capitalised_runs(text, tokens)
        for run_start, run_end in runs:
            i = run_start
            while i < run_end:
                best: tuple[int, str, float] | None = None
                for size in range(min(4, run_end - i), 0, -1):
                    span = tokens[i : i + size]
                    start, end = span[0].start, span[-1].end
                    if any(s < end and start < e for s, e in used):
                        continue
                    first = span[0].norm
                    if first != "the" and not self.registry.has_fuzzy_prefix(first[:2]):
                        break  # every longer span starts with the same word
                    if all(is_common_word(t.norm) for t in span):
                        continue
                    query = " ".join(t.norm for t in strip_suffixes(span))
                    found = self.registry.fuzzy_key(query, threshold)
                    if found is not None and (best is None or found[1] > best[2]):
                        best = (size, found[0], found[1])
                if best is None:
                    i += 1
                    continue
                size, symbol, ratio = best
                start, end = tokens[i].start, tokens[i + size - 1].end
                mention = CompanyMention(
                    symbol, start, end, text[start:end], "fuzzy", round(0.9 * ratio / 100.0, 3)
                )
                out.append(_Candidate(mention, first=i, last=i + size - 1))
                used.append((start, end))
                i += size
        return out


def _pick(entries: list[NameEntry], text: str, start: int, last: Token) -> NameEntry | None:
    """The first entry whose case and possessive constraints this occurrence meets."""
    for entry in entries:
        if entry.needs_possessive and not last.possessive:
            continue
        if entry.exact_case is not None:
            end = last.end - 2 if last.possessive else last.end
            if text[start:end] != entry.exact_case:
                continue
        return entry
    return None


def _suffix_after(tokens: list[Token], i: int, text: str) -> int:
    """Index after a corporate suffix that directly follows token i-1 ('Apple Inc.')."""
    if i == 0 or tokens[i - 1].possessive:
        return i
    for size in range(min(MAX_SUFFIX_LEN, len(tokens) - i), 0, -1):
        words = tuple(t.norm for t in tokens[i : i + size])
        if words in CORPORATE_SUFFIXES:
            gap = text[tokens[i - 1].end : tokens[i].start]
            cased = text[tokens[i].start].isupper() or words == ("plc",)
            if gap.strip(" ,.") == "" and cased:
                return i + size
    return i


def _capitalised_runs(text: str, tokens: list[Token]) -> list[tuple[int, int]]:
    """Maximal runs of adjacent capitalised tokens ("Berkshire Hathway", "JP Morgan Chase")."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for i, tok in enumerate(tokens):
        first = text[tok.start]
        cap = first.isupper() or (first.isdigit() and start is not None) or tok.norm == "and"
        joined = start is not None and text[tokens[i - 1].end : tok.start].strip(" .-") == ""
        if cap and (start is None or joined):
            if start is None:
                start = i
            continue
        if start is not None:
            runs.append((start, i))
        start = i if cap else None
    if start is not None:
        runs.append((start, len(tokens)))
    return runs


def _with(mention: CompanyMention, rule: str, score: float) -> CompanyMention:
    return CompanyMention(
        mention.symbol,
        mention.start,
        mention.end,
        mention.text,
        mention.method,
        round(min(mention.score, score), 3),
        rule,
        mention.known,
    )


def _resolve_overlaps(candidates: list[_Candidate]) -> list[CompanyMention]:
    """Non-overlapping mentions: longer spans first, then the stronger method."""
    ranked = sorted(
        (c.mention for c in candidates),
        key=lambda m: (-(m.end - m.start), -_METHOD_PRIORITY[m.method], m.start),
    )
    kept: list[CompanyMention] = []
    for m in ranked:
        if all(m.end <= k.start or k.end <= m.start for k in kept):
            kept.append(m)
    kept.sort(key=lambda m: (m.start, m.end))
    return kept


def _unique(symbols: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(symbols))
