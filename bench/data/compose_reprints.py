"""Builds bench/data/reprints.jsonl: labelled pairs for choosing the near-duplicate threshold.

Every text here is an original composition for finfeed (no copied articles); figures are
invented. Pairs are of two kinds:

- ``dup``: one story and a reprint of it as wires, aggregators and social accounts produce
  them: a new headline on top, a dateline/byline/credit line, boilerplate ("Read more",
  "Click here"), tickers appended, links, an "UPDATE 1" re-run with an added paragraph,
  light copy edits, and combinations;
- ``not_dup``: distinct stories that look alike: templated earnings and rating stories
  about different companies, "X beats estimates" vs "Y beats estimates", the same
  company's results for different quarters, different news about one company on one day.

Run ``python bench/data/compose_reprints.py`` to rewrite the JSONL (deterministic).
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).with_name("reprints.jsonl")

# (slug, headline, body, added paragraph for an UPDATE re-run)
STORIES: list[tuple[str, str, str, str]] = [
    (
        "apple-q4",
        "Apple revenue rises as iPhone demand recovers in China",
        "Apple reported fiscal fourth-quarter revenue of $97.2 billion on Thursday, up 7% from a year earlier, as iPhone sales in Greater China returned to growth and services revenue set another record. Chief executive Tim Cook said the company expects holiday-quarter revenue to grow at a similar pace, helped by the new iPhone lineup.",
        "Shares rose 3.1% in extended trading. Analysts had expected revenue of $95.8 billion, according to LSEG data, and gross margin came in at 47.1%, above the company's own guidance range.",
    ),
    (
        "msft-azure",
        "Microsoft cloud growth beats forecasts on AI demand",
        "Microsoft said revenue at its Azure cloud unit grew 36% in the September quarter, ahead of analyst estimates, as corporate customers expanded spending on artificial intelligence services. The company said capital expenditure would rise again in the current quarter as it adds data-center capacity to meet demand it cannot yet serve.",
        "Chief financial officer Amy Hood told analysts that capacity constraints would persist at least through the end of the fiscal year, and that the company now expects operating margins to decline slightly as depreciation rises.",
    ),
    (
        "tsla-deliveries",
        "Tesla deliveries fall short as price cuts fail to lift demand",
        "Tesla delivered 412,000 vehicles in the third quarter, below the roughly 430,000 analysts had expected, as discounting in China and Europe failed to offset weaker demand for its ageing model lineup. The electric carmaker said inventory rose for a second straight quarter.",
        "The company reiterated that it expects volume growth to be notably lower this year than last, and said its lower-cost model remains on track for production in the first half of next year.",
    ),
    (
        "nvda-guidance",
        "Nvidia forecasts quarterly revenue above estimates on data-center boom",
        "Nvidia forecast fourth-quarter revenue of about $65 billion, plus or minus 2%, above Wall Street expectations, as cloud providers and AI startups kept buying its Blackwell accelerators. Data-center revenue rose 58% from a year earlier to $51.3 billion in the third quarter.",
        "Chief executive Jensen Huang said demand for the next-generation platform exceeds supply and that the company has visibility into orders well into next year. Gaming revenue was flat from the prior quarter.",
    ),
    (
        "amzn-aws",
        "Amazon shares jump as AWS growth accelerates",
        "Amazon shares jumped 9% in after-hours trading after the company reported that Amazon Web Services revenue grew 21% in the third quarter, its fastest pace in almost three years. Operating income for the group came in at $19.6 billion, well above the company's own guidance.",
        "Amazon guided fourth-quarter operating income of $21 billion to $25 billion and said it expects capital spending of about $125 billion this year, most of it on AI infrastructure.",
    ),
    (
        "googl-antitrust",
        "Alphabet to appeal ad-tech ruling, says remedies would harm publishers",
        "Alphabet said on Monday it would appeal a federal judge's ruling that its advertising technology business illegally monopolized key markets, arguing that the proposed remedies, including a forced sale of its ad exchange, would hurt the publishers and advertisers the case was meant to protect.",
        "The Justice Department has asked the court to order a divestiture within two years. Legal experts said the appeal could take until 2028 to resolve, leaving the business intact in the meantime.",
    ),
    (
        "meta-capex",
        "Meta raises spending outlook, shares slide",
        "Meta Platforms raised the low end of its full-year capital expenditure forecast to $70 billion and warned that expenses would grow significantly faster next year, overshadowing better-than-expected third-quarter advertising revenue. Shares fell 8% in extended trading.",
        "Chief executive Mark Zuckerberg told analysts the company would rather risk overbuilding capacity than fall behind in the race to build superintelligence, adding that the spending would pay off over several years.",
    ),
    (
        "jpm-profit",
        "JPMorgan profit rises on record trading revenue",
        "JPMorgan Chase reported a 12% rise in third-quarter profit to $14.4 billion on Tuesday as volatile markets drove record revenue at its trading desks and investment-banking fees recovered. The bank raised its full-year forecast for net interest income to about $92 billion.",
        "Chief executive Jamie Dimon cautioned that geopolitical tensions, sticky inflation and large fiscal deficits posed risks, and said the bank was setting aside more money for potential credit card losses.",
    ),
    (
        "xom-output",
        "Exxon lifts output target as Guyana and Permian ramp up",
        "Exxon Mobil raised its 2030 production target to 5.4 million barrels of oil equivalent a day on Wednesday, citing faster growth in Guyana and the Permian Basin, and said it would keep its $20 billion share buyback pace next year even if crude prices stay near current levels.",
        "The company also said structural cost savings would reach $18 billion by the end of the decade, and that it expects to generate $25 billion more in annual earnings by 2030 at constant prices.",
    ),
    (
        "pfe-trial",
        "Pfizer obesity pill fails to meet main goal in mid-stage trial",
        "Pfizer said its experimental once-daily obesity pill did not meet the main goal of a mid-stage study, with patients losing an average of 6.8% of body weight after 26 weeks compared with 1.9% on placebo, short of the threshold the company had set for advancing the drug.",
        "Pfizer said it would review the full data before deciding whether to continue development, and reiterated that it plans to build its obesity portfolio through acquisitions as well as internal research.",
    ),
    (
        "wmt-guidance",
        "Walmart raises annual forecast as shoppers trade down",
        "Walmart raised its full-year sales and profit forecast for the third time this year on Thursday, as higher-income households shifted more of their grocery spending to the retailer and its online business turned profitable. Comparable sales in the United States rose 4.6% in the quarter.",
        "Executives said the company was seeing no sign of a broad pullback in spending ahead of the holidays, though customers remained choosy about discretionary purchases such as electronics and home goods.",
    ),
    (
        "ba-strike",
        "Boeing machinists vote to end strike, production to restart",
        "Boeing's striking machinists voted to accept a new four-year contract on Monday, ending a seven-week walkout that halted production of the 737 MAX and 777 jets. The deal includes a 38% wage increase over the life of the contract and a larger ratification bonus.",
        "Boeing said it expects to restart production lines within weeks but warned that it would take longer to return to pre-strike output rates, and that the stoppage would weigh on fourth-quarter cash flow.",
    ),
    (
        "nflx-subs",
        "Netflix revenue tops estimates on price increases and ad tier",
        "Netflix reported third-quarter revenue of $11.5 billion, up 17% from a year earlier and slightly above estimates, helped by price increases in several markets and growth in its advertising-supported plan. Operating margin was 28%, below the company's forecast because of a tax dispute in Brazil.",
        "The company said it expects advertising revenue to more than double this year and that it remains on track for full-year revenue of about $45 billion.",
    ),
    (
        "amd-mi",
        "AMD signs multibillion-dollar AI chip deal with cloud provider",
        "Advanced Micro Devices said on Monday it had agreed to supply a large cloud provider with its next-generation Instinct accelerators in a multi-year deal worth tens of billions of dollars, a significant win in a market dominated by Nvidia. Deployments are due to begin in the second half of next year.",
        "As part of the agreement the customer received warrants to buy up to 160 million AMD shares, vesting as deployment milestones are met. AMD shares rose more than 20% in premarket trading.",
    ),
    (
        "intc-cuts",
        "Intel to cut thousands more jobs as turnaround drags",
        "Intel said it would cut about 15% of its remaining workforce and delay construction of a chip plant in Ohio as new chief executive Lip-Bu Tan seeks to reduce costs and refocus the company on its core processor business. The company expects the measures to save $10 billion a year by 2027.",
        "Intel also said it would record restructuring charges of about $2.8 billion in the current quarter, mostly for severance, and that it no longer expects its foundry business to break even before 2028.",
    ),
    (
        "ko-pricing",
        "Coca-Cola beats estimates as price increases offset lower volumes",
        "Coca-Cola reported third-quarter organic revenue growth of 6%, beating estimates, as higher prices offset a small decline in volumes in North America and Latin America. The company reaffirmed its full-year outlook for comparable earnings per share growth of 2% to 3%.",
        "Chief executive James Quincey said consumers in some emerging markets remained under pressure, but that the company's zero-sugar brands were growing quickly everywhere.",
    ),
    (
        "dis-parks",
        "Disney theme park profit slips as attendance softens",
        "Walt Disney said operating income at its experiences division, which includes theme parks and cruises, fell 4% in the fiscal fourth quarter as attendance at its domestic parks softened and costs rose ahead of new cruise ship launches. Streaming profit improved for a fourth straight quarter.",
        "Disney said it expects double-digit growth in adjusted earnings per share in each of the next two fiscal years and doubled its planned share repurchases to $7 billion.",
    ),
    (
        "bac-nii",
        "Bank of America sees net interest income rising next year",
        "Bank of America said it expects net interest income to grow 6% to 8% next year as deposit costs fall and maturing low-yield securities are reinvested at higher rates, an outlook that sent its shares up 4% on Tuesday. Third-quarter profit rose 10% to $8.2 billion.",
        "Chief financial officer Alastair Borthwick said loan growth was picking up across commercial clients and that credit quality remained solid, with net charge-offs roughly flat from the second quarter.",
    ),
    (
        "cvx-hess",
        "Chevron completes Hess deal after arbitration win",
        "Chevron completed its $53 billion acquisition of Hess on Friday, hours after an arbitration panel ruled that Exxon Mobil had no right of first refusal over Hess's stake in a prolific oil block off Guyana. The deal gives Chevron a 30% interest in the block.",
        "Chevron said it expects to realize $1 billion of cost synergies by the end of next year and to increase its share buybacks once the integration is complete.",
    ),
    (
        "lly-supply",
        "Eli Lilly says obesity drug supply shortage resolved",
        "Eli Lilly said all doses of its weight-loss drug were now available in the United States after more than a year of shortages, as new manufacturing capacity in North Carolina came online. The company raised its full-year revenue forecast by $2 billion to about $60 billion.",
        "Lilly also said it had filed for approval of an oral obesity treatment in several markets and expects decisions on the first applications within the next 12 months.",
    ),
    (
        "ual-fuel",
        "United Airlines forecasts strong holiday travel, shares rise",
        "United Airlines forecast fourth-quarter adjusted earnings above analyst estimates on Tuesday, saying demand for premium seats and international travel remained strong heading into the holiday season. The carrier also announced a $1.5 billion share buyback, its first since 2020.",
        "Executives said lower jet fuel prices and reduced capacity growth across the industry should support fares into the first quarter of next year.",
    ),
    (
        "crm-agents",
        "Salesforce lifts revenue target on demand for AI agents",
        "Salesforce raised its fiscal 2030 revenue target to more than $60 billion, citing strong early demand for its AI agent platform, which the company said had signed more than 12,000 paying customers since launch. Shares rose 5% in extended trading.",
        "The company said annual recurring revenue from its data and AI products reached $1.4 billion, up 120% from a year earlier, though analysts noted that the figure remains small relative to total sales.",
    ),
    (
        "gs-ib",
        "Goldman Sachs profit jumps as dealmaking rebounds",
        "Goldman Sachs reported a 37% jump in third-quarter profit on Tuesday as a rebound in mergers and initial public offerings lifted investment-banking fees by 42%, and its equity traders posted their second-best quarter on record.",
        "President John Waldron said the backlog of pending deals was at its highest level in three years and that the bank expected activity to remain robust through next year if markets stay calm.",
    ),
    (
        "ford-recall",
        "Ford recalls 850,000 vehicles over fuel pump defect",
        "Ford Motor is recalling about 850,000 vehicles in the United States because a low-pressure fuel pump may fail and cause the engine to stall while driving, increasing the risk of a crash, the National Highway Traffic Safety Administration said on Friday.",
        "The recall covers several 2022 to 2024 models including the Explorer, Expedition and F-150. Ford said it was not aware of any crashes or injuries related to the issue and that dealers would replace the pump free of charge.",
    ),
]

# Extra headlines used for "new headline" reprints: a different editor's title.
NEW_HEADLINES = {
    "apple-q4": "iPhone rebound in China lifts Apple sales to record",
    "msft-azure": "AI spending powers Microsoft's Azure to 36% growth",
    "tsla-deliveries": "Tesla misses delivery estimates; inventory climbs again",
    "nvda-guidance": "Nvidia's $65 billion forecast tops Street as Blackwell sells out",
    "amzn-aws": "AWS speeds up, Amazon stock soars after hours",
    "googl-antitrust": "Google parent vows to fight ad-tech breakup",
    "meta-capex": "Meta's AI spending plans spook investors",
    "jpm-profit": "Traders power JPMorgan to bigger profit",
    "xom-output": "Exxon boosts 2030 production goal, keeps buybacks",
    "pfe-trial": "Setback for Pfizer in weight-loss race",
    "wmt-guidance": "Wealthier shoppers help Walmart raise outlook again",
    "ba-strike": "Boeing strike ends as workers approve 38% raise",
    "nflx-subs": "Ads and price hikes push Netflix revenue past forecasts",
    "amd-mi": "AMD lands huge AI accelerator order, stock surges",
    "intc-cuts": "Intel deepens layoffs, slows Ohio plant",
    "ko-pricing": "Coke's higher prices keep sales growing",
    "dis-parks": "Disney parks cool while streaming profits climb",
    "bac-nii": "BofA upbeat on interest income, stock gains",
    "cvx-hess": "Chevron closes Hess purchase after beating Exxon in arbitration",
    "lly-supply": "Lilly ends shortage of weight-loss drug, lifts forecast",
    "ual-fuel": "United sees strong holidays, restarts buybacks",
    "crm-agents": "Salesforce bets bigger on AI agents with new 2030 target",
    "gs-ib": "Dealmaking revival drives Goldman profit up 37%",
    "ford-recall": "Fuel pump flaw prompts Ford recall of 850,000 vehicles",
}

TICKERS = {
    "apple-q4": "$AAPL",
    "msft-azure": "$MSFT",
    "tsla-deliveries": "$TSLA",
    "nvda-guidance": "$NVDA $AMD $INTC",
    "amzn-aws": "$AMZN",
    "googl-antitrust": "$GOOGL $GOOG",
    "meta-capex": "$META",
    "jpm-profit": "$JPM $BAC $C",
    "xom-output": "$XOM $CVX",
    "pfe-trial": "$PFE $LLY $NVO",
    "wmt-guidance": "$WMT $TGT",
    "ba-strike": "$BA",
    "nflx-subs": "$NFLX",
    "amd-mi": "$AMD $NVDA",
    "intc-cuts": "$INTC",
    "ko-pricing": "$KO $PEP",
    "dis-parks": "$DIS",
    "bac-nii": "$BAC",
    "cvx-hess": "$CVX $HES $XOM",
    "lly-supply": "$LLY",
    "ual-fuel": "$UAL $DAL",
    "crm-agents": "$CRM",
    "gs-ib": "$GS $MS",
    "ford-recall": "$F",
}

DATELINES = [
    "NEW YORK, Nov 3 (Reuters) - ",
    "(Bloomberg) -- ",
    "SAN FRANCISCO, Oct 30 (Reuters) - ",
    "WASHINGTON, Nov 4 (Reuters) - ",
    "LONDON, Nov 5 (Reuters) - ",
    "CHICAGO, Oct 28 (Reuters) - ",
]
BYLINES = ["By Maria Lindqvist\n", "By Daniel Okafor and Priya Natarajan\n", "By Tom Hale - "]
CREDITS = [
    "\n(Reporting by Maria Lindqvist in New York; Editing by Alan Birch)",
    "\n(Reporting by Daniel Okafor; Additional reporting by Priya Natarajan; Editing by Sonia Park)",
]
BOILERPLATE = [
    "\nRead more: https://www.example-news.com/markets/stocks/{slug}",
    "\nClick here to get the latest market news delivered to your inbox.",
    "\nSign up for our free daily markets newsletter.",
    "\nFor more news, visit https://markets.example.org/{slug}?utm_source=feed",
]


def _edit_lightly(body: str) -> str:
    """Copy edits an aggregator makes: a few word swaps, a dropped clause."""
    swaps = [
        (" on Thursday", ""),
        (" on Tuesday", ""),
        (" on Monday", ""),
        (" on Wednesday", ""),
        (" on Friday", ""),
        ("said", "says"),
        ("from a year earlier", "year on year"),
        ("analyst estimates", "Wall Street forecasts"),
        ("chief executive", "CEO"),
        ("Chief executive", "CEO"),
        ("percent", "%"),
    ]
    out = body
    for old, new in swaps:
        out = out.replace(old, new, 1)
    return out


def _pairs() -> list[dict[str, object]]:
    pairs: list[dict[str, object]] = []

    def add(label: str, kind: str, a: str, b: str, note: str) -> None:
        pairs.append(
            {
                "id": f"p{len(pairs) + 1:03d}",
                "label": label,
                "kind": kind,
                "a": a,
                "b": b,
                "note": note,
            }
        )

    for i, (slug, head, body, extra) in enumerate(STORIES):
        original = f"{head}\n{DATELINES[i % len(DATELINES)]}{body}"
        # 1. new headline, same story (dateline dropped by the aggregator)
        add("dup", "new_headline", original, f"{NEW_HEADLINES[slug]}\n{body}", slug)
        # 2. boilerplate + link added
        add(
            "dup",
            "boilerplate",
            original,
            original + BOILERPLATE[i % len(BOILERPLATE)].format(slug=slug),
            slug,
        )
        # 3. tickers appended (social re-post)
        add("dup", "tickers_appended", f"{head}. {body}", f"{head}. {body} {TICKERS[slug]}", slug)
        # 4. UPDATE 1 re-run with an added paragraph, byline and credits
        update = f"UPDATE 1-{head}\n{BYLINES[i % len(BYLINES)]}{DATELINES[(i + 1) % len(DATELINES)]}{body}\n{extra}{CREDITS[i % len(CREDITS)]}"
        add("dup", "update_added_paragraph", original, update, slug)
        # 5. light copy edits + new headline + boilerplate (the hardest reprints), every other story
        if i % 2 == 0:
            edited = f"{NEW_HEADLINES[slug]}\n{_edit_lightly(body)}{BOILERPLATE[(i + 1) % len(BOILERPLATE)].format(slug=slug)}"
            add("dup", "edited_reprint", original, edited, slug)
    return pairs


# --- look-alikes that are NOT duplicates ------------------------------------------------

EARNINGS_TEMPLATE = (
    "{co} reported {q} revenue of ${rev} billion on {day}, {dir} {pct}% from a year earlier, "
    "and adjusted earnings of ${eps} per share, {vs} the ${est} analysts had expected according "
    "to LSEG data. The company {guide} its full-year outlook."
)
EARNINGS = [
    (
        "Apple",
        "fiscal fourth-quarter",
        "97.2",
        "Thursday",
        "up",
        "7",
        "1.85",
        "above",
        "1.78",
        "raised",
    ),
    (
        "Microsoft",
        "fiscal first-quarter",
        "77.7",
        "Wednesday",
        "up",
        "18",
        "3.72",
        "above",
        "3.66",
        "raised",
    ),
    (
        "Alphabet",
        "third-quarter",
        "102.3",
        "Tuesday",
        "up",
        "16",
        "2.87",
        "above",
        "2.29",
        "reaffirmed",
    ),
    ("Amazon", "third-quarter", "180.2", "Thursday", "up", "13", "1.95", "above", "1.57", "raised"),
    (
        "Meta Platforms",
        "third-quarter",
        "51.2",
        "Wednesday",
        "up",
        "26",
        "7.25",
        "above",
        "6.72",
        "raised",
    ),
    ("Intel", "third-quarter", "13.7", "Thursday", "up", "3", "0.23", "above", "0.01", "cut"),
    ("Pfizer", "third-quarter", "16.7", "Tuesday", "down", "6", "0.87", "above", "0.78", "raised"),
    (
        "Exxon Mobil",
        "third-quarter",
        "85.3",
        "Friday",
        "down",
        "5",
        "1.88",
        "above",
        "1.82",
        "reaffirmed",
    ),
    (
        "Chevron",
        "third-quarter",
        "49.7",
        "Friday",
        "down",
        "2",
        "1.85",
        "above",
        "1.68",
        "reaffirmed",
    ),
    (
        "Netflix",
        "third-quarter",
        "11.5",
        "Tuesday",
        "up",
        "17",
        "5.87",
        "below",
        "6.94",
        "reaffirmed",
    ),
    (
        "Boeing",
        "third-quarter",
        "23.3",
        "Wednesday",
        "up",
        "30",
        "-7.47",
        "below",
        "-4.95",
        "withdrew",
    ),
    ("Walmart", "third-quarter", "179.5", "Thursday", "up", "6", "0.62", "above", "0.60", "raised"),
]
# same company, other quarters (an earlier quarter of the same year)
EARNINGS_PRIOR = {
    "Apple": (
        "fiscal third-quarter",
        "94.0",
        "Thursday",
        "up",
        "10",
        "1.57",
        "above",
        "1.43",
        "reaffirmed",
    ),
    "Microsoft": (
        "fiscal fourth-quarter",
        "76.4",
        "Wednesday",
        "up",
        "18",
        "3.65",
        "above",
        "3.37",
        "raised",
    ),
    "Alphabet": (
        "second-quarter",
        "96.4",
        "Wednesday",
        "up",
        "14",
        "2.31",
        "above",
        "2.18",
        "reaffirmed",
    ),
    "Amazon": (
        "second-quarter",
        "167.7",
        "Thursday",
        "up",
        "13",
        "1.68",
        "above",
        "1.33",
        "reaffirmed",
    ),
    "Meta Platforms": (
        "second-quarter",
        "47.5",
        "Wednesday",
        "up",
        "22",
        "7.14",
        "above",
        "5.92",
        "raised",
    ),
    "Intel": ("second-quarter", "12.9", "Thursday", "flat", "0", "-0.10", "below", "0.01", "cut"),
    "Pfizer": ("second-quarter", "14.7", "Tuesday", "up", "10", "0.78", "above", "0.58", "raised"),
    "Exxon Mobil": (
        "second-quarter",
        "81.5",
        "Friday",
        "down",
        "12",
        "1.64",
        "above",
        "1.56",
        "reaffirmed",
    ),
    "Netflix": (
        "second-quarter",
        "11.1",
        "Thursday",
        "up",
        "16",
        "7.19",
        "above",
        "7.08",
        "raised",
    ),
    "Walmart": (
        "second-quarter",
        "177.4",
        "Thursday",
        "up",
        "5",
        "0.68",
        "below",
        "0.73",
        "raised",
    ),
}

BEATS = [
    ("Apple beats estimates on iPhone strength", "Microsoft beats estimates on Azure strength"),
    ("Tesla misses delivery estimates", "Rivian misses delivery estimates"),
    ("Nvidia beats estimates, guides higher", "Broadcom beats estimates, guides higher"),
    (
        "JPMorgan beats profit estimates as trading booms",
        "Citigroup beats profit estimates as trading booms",
    ),
    ("Pfizer cuts full-year forecast", "Merck cuts full-year forecast"),
    ("Walmart raises annual outlook", "Target raises annual outlook"),
    ("$AAPL beats on revenue and EPS", "$MSFT beats on revenue and EPS"),
    ("Netflix shares jump 10% after earnings", "Spotify shares jump 10% after earnings"),
    ("Boeing shares fall after FAA audit", "Airbus shares fall after EASA audit"),
    ("Exxon to buy back $20 billion of stock", "Chevron to buy back $15 billion of stock"),
    ("AMD stock hits record high", "Intel stock hits 10-year low"),
    ("Amazon to cut 14,000 corporate jobs", "Meta to cut 600 jobs in AI unit"),
    ("Goldman upgrades Apple to buy", "Goldman downgrades Apple to sell"),
    ("Alphabet shares rise 4% premarket", "Alphabet shares fall 4% premarket"),
    ("Ford recalls 850,000 vehicles", "GM recalls 450,000 vehicles"),
]

RATING_TEMPLATE = (
    "{bank} {action} {co} to {rating} from {prior} and {tmove} its price target to ${target} "
    "from ${old}, saying {why}."
)
RATINGS = [
    (
        "Morgan Stanley",
        "upgraded",
        "Nvidia",
        "overweight",
        "equal-weight",
        "raised",
        "230",
        "190",
        "demand for AI accelerators will outstrip supply through next year",
    ),
    (
        "Morgan Stanley",
        "upgraded",
        "AMD",
        "overweight",
        "equal-weight",
        "raised",
        "260",
        "190",
        "its new accelerator deal makes it a credible second source for AI chips",
    ),
    (
        "Goldman Sachs",
        "downgraded",
        "Tesla",
        "sell",
        "neutral",
        "cut",
        "280",
        "340",
        "margins will stay under pressure as competition in China intensifies",
    ),
    (
        "Goldman Sachs",
        "downgraded",
        "Ford",
        "sell",
        "neutral",
        "cut",
        "9",
        "12",
        "tariffs and warranty costs will weigh on earnings next year",
    ),
    (
        "JPMorgan",
        "upgraded",
        "Walmart",
        "overweight",
        "neutral",
        "raised",
        "120",
        "105",
        "its advertising and membership income will keep margins expanding",
    ),
    (
        "JPMorgan",
        "upgraded",
        "Costco",
        "overweight",
        "neutral",
        "raised",
        "1,150",
        "1,000",
        "membership fee income will keep margins expanding",
    ),
    (
        "Bank of America",
        "downgraded",
        "Pfizer",
        "underperform",
        "neutral",
        "cut",
        "24",
        "29",
        "patent expirations will erode revenue faster than new launches can replace it",
    ),
    (
        "Bank of America",
        "downgraded",
        "Merck",
        "underperform",
        "neutral",
        "cut",
        "75",
        "95",
        "patent expirations will erode revenue faster than new launches can replace it",
    ),
    (
        "Citi",
        "upgraded",
        "Boeing",
        "buy",
        "neutral",
        "raised",
        "260",
        "210",
        "production is recovering faster than expected after the strike",
    ),
    (
        "Citi",
        "upgraded",
        "Airbus",
        "buy",
        "neutral",
        "raised",
        "210",
        "180",
        "production is recovering faster than expected despite engine shortages",
    ),
]

SAME_COMPANY_SAME_DAY = [
    (
        "Apple said on Monday it will open its first retail store in Saudi Arabia next year, expanding its presence in the Middle East as it seeks new sources of iPhone growth.",
        "Apple said on Monday it has appointed a new chief operating officer, naming its head of operations to succeed Jeff Williams, who is retiring at the end of the year.",
    ),
    (
        "Tesla shareholders approved a new compensation package for chief executive Elon Musk on Thursday that could be worth up to $1 trillion if the company meets ambitious targets.",
        "Tesla said on Thursday it would recall 63,000 Cybertrucks because the rear lights may be too dim, its ninth recall of the vehicle since launch.",
    ),
    (
        "Microsoft said on Tuesday it will invest $15 billion in the United Arab Emirates over the next four years to expand data centers and AI infrastructure.",
        "Microsoft said on Tuesday it will raise prices for its Microsoft 365 business subscriptions by up to 20% from next July, citing new AI features.",
    ),
    (
        "Nvidia said on Wednesday it would invest $5 billion in Intel and the two companies would jointly develop custom data-center and PC products.",
        "Nvidia said on Wednesday its chief executive would visit China next month to meet customers, as export restrictions on its chips continue to evolve.",
    ),
    (
        "Amazon said on Tuesday it would hire 250,000 seasonal workers in the United States for the holiday period, the same number as last year.",
        "Amazon said on Tuesday its cloud unit suffered a major outage in a Virginia region that disrupted thousands of websites and apps for several hours.",
    ),
    (
        "JPMorgan said on Friday it would commit $1.5 trillion over ten years to industries it considers critical to national security, including defense and energy.",
        "JPMorgan said on Friday it had named two co-heads of its investment bank as part of a reshuffle of senior management ahead of succession planning.",
    ),
    (
        "Boeing said on Wednesday it had delivered 55 jets in October, its highest monthly total since 2018, as 737 MAX production rose to 38 per month.",
        "Boeing said on Wednesday it will take a $4.9 billion charge on its 777X program after delaying first delivery of the jet to 2027.",
    ),
    (
        "Exxon Mobil said on Thursday it would cut 2,000 jobs worldwide as part of a restructuring to lower costs, including about 700 in Europe.",
        "Exxon Mobil said on Thursday it had started production at a new floating platform off Guyana, lifting the country's output capacity to 900,000 barrels a day.",
    ),
    (
        "Netflix said on Monday it would open permanent entertainment venues in Philadelphia and Dallas featuring experiences based on its shows.",
        "Netflix said on Monday it would split its stock ten-for-one to make shares more accessible to employees who participate in its stock option program.",
    ),
    (
        "Pfizer agreed on Monday to buy obesity drug developer Metsera for up to $7.3 billion including contingent payments, re-entering the weight-loss market.",
        "Pfizer said on Monday a late-stage trial of its RSV vaccine in adults aged 18 to 59 met its main goals, supporting an expanded approval application.",
    ),
]


def _not_dup_pairs(start: int) -> list[dict[str, object]]:
    pairs: list[dict[str, object]] = []

    def add(kind: str, a: str, b: str, note: str) -> None:
        pairs.append(
            {
                "id": f"p{start + len(pairs):03d}",
                "label": "not_dup",
                "kind": kind,
                "a": a,
                "b": b,
                "note": note,
            }
        )

    def fill(co: str, fields: tuple[str, ...]) -> str:
        q, rev, day, d, pct, eps, vs, est, guide = fields
        return EARNINGS_TEMPLATE.format(
            co=co, q=q, rev=rev, day=day, dir=d, pct=pct, eps=eps, vs=vs, est=est, guide=guide
        )

    # templated earnings, different companies (neighbours in the list)
    for i in range(len(EARNINGS)):
        a, b = EARNINGS[i], EARNINGS[(i + 1) % len(EARNINGS)]
        add("templated_earnings", fill(a[0], a[1:]), fill(b[0], b[1:]), f"{a[0]} vs {b[0]}")
    # templated earnings, same template, only the company and one figure differ
    for i in range(0, len(EARNINGS), 2):
        a, b = EARNINGS[i], EARNINGS[(i + 5) % len(EARNINGS)]
        add(
            "templated_earnings_same_numbers",
            fill(a[0], a[1:]),
            fill(b[0], a[1:3] + b[3:]),
            f"{a[0]} vs {b[0]}",
        )
    # same company, different quarter
    for co, prior in EARNINGS_PRIOR.items():
        cur = next(e for e in EARNINGS if e[0] == co)
        add("same_company_other_quarter", fill(co, cur[1:]), fill(co, prior), co)
    # "X beats estimates" vs "Y beats estimates"
    for a, b in BEATS:
        add("lookalike_headline", a, b, "")
    # templated analyst ratings, different companies
    for i in range(0, len(RATINGS), 2):
        ra, rb = RATINGS[i], RATINGS[i + 1]
        ta = RATING_TEMPLATE.format(
            bank=ra[0],
            action=ra[1],
            co=ra[2],
            rating=ra[3],
            prior=ra[4],
            tmove=ra[5],
            target=ra[6],
            old=ra[7],
            why=ra[8],
        )
        tb = RATING_TEMPLATE.format(
            bank=rb[0],
            action=rb[1],
            co=rb[2],
            rating=rb[3],
            prior=rb[4],
            tmove=rb[5],
            target=rb[6],
            old=rb[7],
            why=rb[8],
        )
        add("templated_rating", ta, tb, f"{ra[2]} vs {rb[2]}")
    # different stories about one company on one day
    for a, b in SAME_COMPANY_SAME_DAY:
        add("same_company_same_day", a, b, "")
    # different stories from the big list, same sector, both long
    sector_pairs = [
        ("jpm-profit", "gs-ib"),
        ("jpm-profit", "bac-nii"),
        ("xom-output", "cvx-hess"),
        ("pfe-trial", "lly-supply"),
        ("nvda-guidance", "amd-mi"),
        ("msft-azure", "amzn-aws"),
        ("ko-pricing", "wmt-guidance"),
        ("ba-strike", "ual-fuel"),
    ]
    by_slug = {s[0]: s for s in STORIES}
    for x, y in sector_pairs:
        sx, sy = by_slug[x], by_slug[y]
        add("same_sector_story", f"{sx[1]}\n{sx[2]}", f"{sy[1]}\n{sy[2]}", f"{x} vs {y}")
    return pairs


def main() -> None:
    pairs = _pairs()
    pairs += _not_dup_pairs(len(pairs) + 1)
    with OUT.open("w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    dup = sum(1 for p in pairs if p["label"] == "dup")
    print(f"wrote {len(pairs)} pairs to {OUT} ({dup} dup, {len(pairs) - dup} not_dup)")


if __name__ == "__main__":
    main()
