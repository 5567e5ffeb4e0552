"""The rule set that decides whether a common-word company alias is about the company.

"Apple", "Target", "Visa", "Shell", "Ford", "Oracle", "Amazon", "Meta", "Gap", "Block" and
"Progressive" are companies and ordinary words. A mention of such an *ambiguous alias*
(marked in the registry, or any one-word name found in ``COMMON_WORDS``) is accepted by the
first rule that decides, in this order (docs/companies.md explains each with examples):

1. ``corporate_suffix``: the alias is followed by a corporate suffix ("Target Corp.").
2. ``corroborated``: the same company is named elsewhere in the text by a ticker, a cashtag,
   an exchange-prefixed ticker or an unambiguous name ("Apple (AAPL)", "$V ... Visa").
   ``cue_word_alias`` (reject): an alias that is itself a financial cue word ("Investor" for
   Investor AB) needs one of the two rules above.
3. ``lowercase`` (reject): the alias is written in lower case ("apple pie"), unless the whole
   text is upper case.
4. ``article`` (reject): it follows "the", "a" or "an" ("the Amazon", "an Apple").
5. ``inside_proper_name`` (reject): it follows another capitalised word mid-sentence in a
   sentence-case text ("Harrison Ford", "the Big Apple"), unless that word is a cue word.
6. ``non_company_continuation`` (reject): the next word, written right after it, is a lower-case
   word that does not continue a company mention: not a cue word, a reporting verb, a function
   word, a number or a past tense ("Apple pie", "Target date", "Shell script", "Gap year",
   "Ford the river", "Oracle of Omaha"). In title-case headlines the next word's case is
   ignored. Skipped for possessives ("Apple's iPhone").
7. Support (accept), else ``no_context`` (reject): ``financial_context`` (a cue word within
   ``window`` words, or a percent sign or money amount nearby), ``corporate_verb`` (followed by
   "said", "reported", "cuts"...), ``possessive`` (capitalised "Apple's"), or ``co_mention``
   (another company is named in the text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.company_registry import Token


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Corporate suffixes as folded token sequences ("Co., Ltd." -> ("co", "ltd")).
CORPORATE_SUFFIXES: frozenset[tuple[str, ...]] = frozenset(
    (word,)
    for word in _words(
        "inc incorporated corp corporation co company companies ltd limited plc llc lp llp "
        "ag se sa nv bv spa ab asa oyj as kk bhd berhad tbk pjsc jsc ojsc pcl sab gmbh kgaa "
        "holdings holding group groups hldgs"
    )
) | frozenset(
    tuple(s.split())
    for s in (
        "and co",
        "co ltd",
        "co inc",
        "n v",
        "s a",
        "s p a",
        "s a b",
        "l p",
        "p l c",
        "a g",
        "a s",
        "co kg",
        "ag and co kgaa",
        "group inc",
        "group plc",
        "group ltd",
        "holdings inc",
        "holdings plc",
        "holdings ltd",
        "public limited company",
        "limited company",
        "group holding",
        "group holdings",
    )
)
MAX_SUFFIX_LEN = max(len(s) for s in CORPORATE_SUFFIXES)

# Exchange prefix -> Yahoo-style symbol suffix of that market ("" = United States).
EXCHANGE_SUFFIXES: dict[str, str] = {
    **dict.fromkeys(
        _words(
            "NASDAQ NASDAQGS NASDAQGM NASDAQCM NYSE NYSEARCA NYSEAMERICAN NYSEMKT AMEX BATS CBOE "
            "OTC OTCMKTS OTCQX OTCQB"
        ),
        "",
    ),
    **dict.fromkeys(["LON", "LSE"], ".L"),
    **dict.fromkeys(["TYO", "TSE", "JPX"], ".T"),  # TSE with a letter code = Toronto
    **dict.fromkeys(["HKG", "HKEX", "SEHK"], ".HK"),
    **dict.fromkeys(["SHA", "SSE"], ".SS"),
    **dict.fromkeys(["SHE", "SZSE"], ".SZ"),
    "NSE": ".NS",
    **dict.fromkeys(["BOM", "BSE"], ".BO"),
    **dict.fromkeys(["KRX", "KOSPI"], ".KS"),
    "KOSDAQ": ".KQ",
    **dict.fromkeys(["TPE", "TWSE"], ".TW"),
    "TSX": ".TO",
    **dict.fromkeys(["TSXV", "CVE"], ".V"),
    "ASX": ".AX",
    **dict.fromkeys(["BVMF", "B3", "BOVESPA"], ".SA"),
    **dict.fromkeys(["ETR", "XETRA", "FRA", "FWB"], ".DE"),
    "EPA": ".PA",
    "AMS": ".AS",
    "EBR": ".BR",
    **dict.fromkeys(["BIT", "MIL"], ".MI"),
    "BME": ".MC",
    **dict.fromkeys(["SWX", "SIX", "VTX"], ".SW"),
    "STO": ".ST",
    "CPH": ".CO",
    "HEL": ".HE",
    "OSL": ".OL",
    "JSE": ".JO",
    "SGX": ".SI",
    "TADAWUL": ".SR",
    "BMV": ".MX",
}

# Upper-case words that are never read as bare tickers (cashtags still count).
COMMON_ACRONYMS: frozenset[str] = _words(
    "CEO CFO COO CTO CIO CMO EVP SVP VP MD IPO SPAC ETF ETFS ESG EPS GDP CPI PPI PCE PMI "
    "FOMC FED ECB BOE BOJ PBOC RBI IMF OECD OPEC WTO WHO NATO UN EU UK US USA UAE GCC "
    "SEC FTC DOJ FDA EPA FAA FCC CFTC FINRA IRS NHTSA DOE DOD NASA NYSE NASDAQ AMEX LSE "
    "TSX ASX HKEX JPX SGX KRX NSE BSE OTC CBOE CME ICE SIX AI ML API SAAS IOT EV EVS ICE "
    "LLM GPU CPU RAM SSD USB LTE NFT DAO DEFI ATM ATH ROI ROE ROA YOY QOQ MOM TTM EBIT "
    "EBITDA NAV AUM REIT REITS LBO M&A IPOS ADR ADRS GAAP IFRS LIBOR SOFR OIS CDS CLO CDO "
    "MBS ABS HY IG FX USD EUR GBP JPY CNY CHF CAD AUD HKD INR KRW TWD BRL RUB ZAR MXN SGD "
    "BTC ETH XRP CEO'S PM AM ET PT GMT UTC EST EDT PST PDT CET BST HK NYC LA DC CNBC BBC CNN "
    "WSJ FT AP AFP DJ RSS PDF FAQ CSV TV PC OK ASAP FYI DIY CEOS Q1 Q2 Q3 Q4 H1 H2 FY FY24 "
    "FY25 FY26 YTD MTD WTD NEW OLD TOP BIG ONE TWO TEN ALL NOW ON IT ARE FOR THE AND BUT "
    "NOT YES NO BUY SELL HOLD LONG SHORT CALL PUT BULL BEAR UP DOWN OUT HOT CUT LOW HIGH "
    "KEY BEST REAL TRUE FREE GOOD BAD MAX MIN PLUS VIA PER WAS HAS HAD CAN MAY WILL JUST "
    "GOLD RACE BUD WIT RIO ERIC NOK PINS FANG TEAM SHOP SPOT SNOW DASH COIN HOOD APP TKO"
)

# Lower-case English words that collide with company names or tickers. A one-word name or
# alias in this set is ambiguous even when a custom registry does not mark it, and a bare
# upper-case token in it is never read as a ticker ("COST", "LOW", "SNAP").
COMMON_WORDS: frozenset[str] = _words(
    "a an the and or of to in on at by for with from as is it its be are was were all now "
    "one two new old key low high cost well best buy sell hold long short call put gain "
    "bull bear up down out hot cut big top real true free good bad max min plus via per "
    "has had can may will just so do go see net fast peak pool tech arch cat dog car ball "
    "day life home land true base core fund edge loop link snap block square gap match "
    "zoom slack meta apple target visa shell ford oracle amazon progressive booking "
    "southern travelers fox news charter regions citizens principal public federal digital "
    "discover united delta american general intuitive align cadence vertex waters quest "
    "cardinal monster workday whirlpool tapestry microchip carrier adobe caterpillar "
    "constellation dominion lincoln everest globe insight ventas welltower realty equity "
    "essential evergy alliance marathon mosaic nucleus corning crown keystone pioneer "
    "unity sprout oak signet express sea grab mobile energy power gas oil "
    "bank capital trust first state national international global universal continental "
    "pacific atlantic eastern western northern central standard premier prime total "
    "summit pinnacle apex vista horizon frontier liberty freedom victory champion "
    "dollar tree stores store market markets chase lowe ross paramount discovery "
    "news fortune eagle hawk falcon lion tiger jaguar mustang bronco colt puma "
    "amber jade ruby pearl coral diamond gold silver iron steel copper nickel zinc "
    "lumen halo spark flash bolt surge wave tide stream river lake ocean sea bay harbor "
    "mint sage basil ginger pepper salt sugar honey maple cedar pine birch willow elm "
    "rock stone granite marble sand clay dust ash coal carbon solar wind storm thunder "
    "hub node net web cloud data signal pulse beacon compass anchor bridge gate tower "
    "castle palace temple church chapel abbey lodge cabin barn farm field garden park "
    "ring circle triangle star sun moon planet galaxy orbit rocket comet meteor nova "
    "aim arc ace art ark axe bet bid bit box bus cap cue dot fit fly fun gem gym hat ice "
    "ink jet joy kit lab lot man map mix mop mud nut owl pay pen pet pie pin pot ray "
    "rib rod row run saw sky spy sub sum tap tea tip toy tub van vet war wax way web win "
    "yes yen zip ally co next orange titan eternal recruit canon"
)

# Words that show a nearby common-word alias is the company.
CUE_WORDS: frozenset[str] = _words(
    "share shares stock stocks equity earnings eps revenue revenues sales profit profits "
    "profitability loss losses quarter quarterly q1 q2 q3 q4 fy guidance outlook forecast "
    "forecasts analyst analysts investor investors shareholder shareholders stockholders "
    "dividend dividends buyback buybacks repurchase ceo cfo coo chairman chief executive "
    "executives board valuation ipo listing listed acquisition acquisitions acquire "
    "acquires acquired merger mergers deal deals takeover stake bid lawsuit antitrust "
    "regulator regulators regulatory sec ftc doj billion million bn mln mn trillion "
    "percent pct nasdaq nyse wall street upgrade upgrades upgraded downgrade downgrades "
    "downgraded rating ratings overweight underweight outperform underperform results "
    "layoffs jobs job workers employees staff union strike supplier suppliers customers "
    "subscribers users margin margins ebitda bond bonds debt notes rally rallied fell "
    "rose jumped slumped tumbled surged plunged gained dropped slid climbed sank soared "
    "traded trading premarket afterhours session firm brand retailer "
    "retail automaker carmaker chipmaker chip chips bank lender insurer giant maker rival "
    "rivals competitor competitors partnership contract contracts orders deliveries "
    "shipments production plant factory factories stores launch launched unveiled "
    "product products pricing prices fine fined probe settlement spinoff spin unit "
    "division subsidiary payments network card cards processing cloud iphone ai data "
    "oil gas refinery refining upstream downstream lng exploration smartphone devices "
    "software streaming ads advertising platform app apps services capex spending "
    "cash flow results report reported reports beat beats missed misses consensus "
    "estimates estimate expectations price pt nyse tsx lse ftse dax nikkei hang payment "
    "volume volumes premiums ratio rs crore crores lakh inr buy sell bullish bearish "
    "accumulate sensex "
    "seng sensex nifty kospi index s&p dow"
)

# Verbs of company news: "Ford said", "Target cuts", "IndiGo adds".
REPORTING_VERBS: frozenset[str] = _words(
    "said says reported reports posted posts beat beats missed misses announced announces "
    "unveiled unveils launched launches plans planned agreed agrees cut cuts raised raises "
    "hikes hiked lifts lifted lowers lowered expects expected warns warned forecasts "
    "forecast tops topped boosts boosted buys bought sells sold acquires acquired hires "
    "hired fires fired sues sued wins won names named appoints appointed files filed "
    "settles settled signs signed inks inked recalls recalled confirms confirmed denies "
    "denied slashes slashed trims trimmed expands expanded invests invested pays paid "
    "offers offered adds added bags bagged eyes mulls weighs targets nears sets keeps "
    "joins exits enters shuts opens closes halts resumes suspends suspended reopens "
    "rose rises fell falls jumped jumps surged surges slid slides dropped drops gained "
    "gains climbed climbs plunged plunges tumbled tumbles soared soars sank sinks rallied "
    "rallies slumped slumps issues issued completes completed delivers delivered"
)

# Lower-case words that may directly follow a company name ("Apple and", "Target to cut").
CONTINUATIONS: frozenset[str] = (
    CUE_WORDS
    | REPORTING_VERBS
    | _words(
        "say sees saw faces faced ends ended begins began starts started stops stopped "
        "delays delayed reaches reached makes made takes took gets got has had have is was "
        "are were will would could can may might should must shall does did been be also "
        "still just now again on in at to for with from by as after before over under amid "
        "than vs versus and or but into ahead owes owed wants wanted needs needed tells told "
        "seeks sought bets bet pulls pulled pushes pushed moves moved both all each too "
        "alone itself which who that whose reportedly quietly officially finally "
        "plans plan hit hits"
    )
)

ARTICLES: frozenset[str] = frozenset({"the", "a", "an"})

_MONEY_OR_PERCENT = re.compile(r"%|[$€£¥]\s?\d|\d\s?(?:bn|mn|m|b)\b|\bper ?cent\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?:;\"“”‘'(\[\-–—|•\n]\s*$")
_SMALL_WORDS = _words("a an the and or of to in on at by for with from as vs")


def is_common_word(word: str) -> bool:
    return word in COMMON_WORDS


@dataclass(frozen=True, slots=True)
class TextShape:
    """How a text is cased: capitalisation carries no signal in title case or all caps."""

    title_case: bool
    all_caps: bool

    @classmethod
    def of(cls, text: str, tokens: Sequence[Token]) -> TextShape:
        letters = [c for c in text if c.isalpha()]
        if len(letters) >= 6 and not any(c.islower() for c in letters):
            return cls(title_case=False, all_caps=True)
        words = [
            text[t.start] for t in tokens if text[t.start].isalpha() and t.norm not in _SMALL_WORDS
        ]
        capitalised = sum(c.isupper() for c in words)
        title = len(words) >= 4 and capitalised >= 0.8 * len(words)
        return cls(title_case=title, all_caps=False)


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    rule: str
    score: float


def sentence_initial(text: str, tokens: Sequence[Token], i: int) -> bool:
    start = tokens[i].start
    head = text[:start]
    return not head.strip() or bool(_SENTENCE_END.search(head))


def _adjacent(text: str, left: Token, right: Token) -> bool:
    """Only spaces between two tokens (no comma, dash or full stop)."""
    gap = text[left.end : right.start]
    return gap.strip() == "" and "\n" not in gap


@dataclass(frozen=True, slots=True)
class ContextRules:
    """The rule set for ambiguous aliases; ``window`` = cue-word distance in words."""

    window: int = 8

    def judge(
        self,
        text: str,
        tokens: Sequence[Token],
        shape: TextShape,
        first: int,
        last: int,
        suffix: bool,
        corroborated: bool,
        others: bool,
        cue_alias: bool = False,
    ) -> Verdict:
        if suffix:
            return Verdict(True, "corporate_suffix", 0.95)
        if corroborated:
            return Verdict(True, "corroborated", 0.9)
        if cue_alias:
            return Verdict(False, "cue_word_alias", 0.0)
        head = tokens[first]
        if text[head.start].islower() and not shape.all_caps:
            return Verdict(False, "lowercase", 0.0)
        uninformative_case = shape.title_case or shape.all_caps
        if first > 0 and _adjacent(text, tokens[first - 1], head):
            prev = tokens[first - 1]
            if prev.norm in ARTICLES:
                return Verdict(False, "article", 0.0)
            if (
                not uninformative_case
                and text[prev.start].isupper()
                and not sentence_initial(text, tokens, first - 1)
                and prev.norm not in CUE_WORDS
            ):
                return Verdict(False, "inside_proper_name", 0.0)
        tail = tokens[last]
        nxt = tokens[last + 1] if last + 1 < len(tokens) else None
        if nxt is not None and not tail.possessive and _adjacent(text, tail, nxt):
            lower_next = text[nxt.start].islower() or uninformative_case
            word = nxt.norm
            if (
                lower_next
                and word not in CONTINUATIONS
                and not word.isdigit()
                and not word.endswith("ed")
            ):
                return Verdict(False, "non_company_continuation", 0.0)
        lo, hi = max(0, first - self.window), min(len(tokens), last + 1 + self.window)
        for j in range(lo, hi):
            if (j < first or j > last) and tokens[j].norm in CUE_WORDS:
                return Verdict(True, "financial_context", 0.8)
        span = text[max(0, head.start - 60) : tail.end + 60]
        if _MONEY_OR_PERCENT.search(span):
            return Verdict(True, "financial_context", 0.8)
        if nxt is not None and nxt.norm in REPORTING_VERBS and text[nxt.start].islower():
            return Verdict(True, "corporate_verb", 0.75)
        if tail.possessive and not shape.all_caps:
            return Verdict(True, "possessive", 0.75)
        if others:
            return Verdict(True, "co_mention", 0.75)
        return Verdict(False, "no_context", 0.0)
