"""Company tagging: tickers, names, variants and the common-word rules (in memory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.companies import CompanyRegistry, CompanyTagger
from pipeline.errors import ConfigError


@pytest.fixture(scope="module")
def registry() -> CompanyRegistry:
    return CompanyRegistry.load()


@pytest.fixture(scope="module")
def tagger(registry: CompanyRegistry) -> CompanyTagger:
    return CompanyTagger(registry)


def test_cashtags_resolve_share_classes(tagger: CompanyTagger) -> None:
    assert tagger.tag("$TSLA up, $goog down, $BRK.B flat") == ("TSLA", "GOOGL", "BRK.B")


def test_unknown_cashtag_kept_upper_case(tagger: CompanyTagger) -> None:
    assert tagger.tag("$zzzq squeezes higher") == ("ZZZQ",)
    strict = CompanyTagger(tagger.registry, keep_unknown_tickers=False)
    assert strict.tag("$zzzq squeezes higher") == ()


def test_money_is_not_a_cashtag(tagger: CompanyTagger) -> None:
    assert tagger.tag("The deal is worth $5 billion, or $1.2bn after fees.") == ()


def test_exchange_prefixes(tagger: CompanyTagger) -> None:
    text = "JPMorgan (NYSE: JPM) and Apple (NASDAQ:AAPL) rose."
    assert tagger.tag(text) == ("JPM", "AAPL")
    methods = {m.text: m.method for m in tagger.find(text)}
    assert methods["NYSE: JPM"] == "exchange"


def test_first_version_traps(tagger: CompanyTagger) -> None:
    for text in (
        "Grandma's Apple pie recipe wins the county fair.",
        "Check the Target date fund in your 401k.",
        "Visa requirements for travel to Schengen tighten.",
        "Write a Shell script to rotate logs.",
        "They had to Ford the river at dawn.",
        "The Oracle of Omaha released his annual letter.",
    ):
        assert tagger.tag(text) == (), text


def test_input_tickers_win(tagger: CompanyTagger) -> None:
    assert tagger.tag("Apple shares rose", tickers=["goog", "$msft", "xyzq"]) == (
        "GOOGL",
        "MSFT",
        "XYZQ",
    )


def test_custom_registry(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    rows = [{"symbol": "ACME", "name": "Acme Widgets Inc.", "aliases": ["Acme"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    tagger = CompanyTagger(CompanyRegistry.load(path))
    assert tagger.tag("Acme Widgets beat estimates; Apple fell") == ("ACME",)


def test_duplicate_symbol_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text('{"symbol": "A", "name": "A"}\n{"symbol": "A", "name": "B"}\n')
    with pytest.raises(ConfigError):
        CompanyRegistry.load(path)
