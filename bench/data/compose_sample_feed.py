"""Builds finfeed/data/sample_feed.jsonl, the demo's raw feed (deterministic).

    .venv/bin/python bench/data/compose_sample_feed.py

Originals come from ``sample_feed_texts.STORIES`` (written for finfeed). On top of them
the feed gets exact reprints (same story from another outlet, packaging that normalises
away), near-duplicates (UPDATE re-runs with an added paragraph, a new headline on top,
boilerplate and credits) and malformed lines, each exactly as a producer would send it.
The expected split is printed and documented in finfeed/data/README.md.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample_feed_texts import STORIES

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "finfeed" / "data" / "sample_feed.jsonl"
START = datetime(2026, 10, 26, 6, 0, tzinfo=UTC)
SPAN = timedelta(days=13, hours=16)  # to 2026-11-08 22:00 UTC

REPRINT_SOURCES = [
    "yahoo-finance",
    "marketwatch",
    "benzinga",
    "investing.com",
    "finviz",
    "stocktwits",
]
ADDED_PARAGRAPHS = [
    "Shares were up 1.8% in premarket trading on the news.",
    "The company did not immediately respond to a request for further comment.",
    "Analysts said the announcement was broadly in line with what investors had been expecting.",
    "The stock has gained about 22% so far this year, outperforming the broader market.",
    "Shares were little changed in early trading as investors digested the details.",
    "Several brokerages adjusted their price targets following the announcement.",
]
BOILERPLATE = [
    "\nRead more: https://www.example-markets.com/news/{n}",
    "\nClick here to subscribe to our free morning briefing.",
    "\nSign up for the Markets Daily newsletter.",
]
DATELINES = ["NEW YORK, Nov 2 (Reuters) - ", "(Bloomberg) -- ", "SAN FRANCISCO (Reuters) - "]
CREDITS = [
    "\n(Reporting by Anna Keller; Editing by Mark Ruiz)",
    "\n(Reporting by Sam Otieno in New York; Editing by Lisa Chen)",
]


def _ts(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _headline(text: str) -> str:
    words = text.split()[:9]
    return " ".join(words).rstrip(",.;") + " - report"


def compose() -> list[str]:
    rng = random.Random(20261026)
    originals: list[dict[str, object]] = []
    for n, (source, text, tickers) in enumerate(STORIES):
        t = START + timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))
        msg: dict[str, object] = {}
        if n % 3 != 2:  # a third of the inputs come without an id: derived from source + text
            msg["id"] = f"{source}-{n + 1:04d}"
        msg["text"] = text
        if n % 67 != 5:  # three inputs without published_at: the Kafka timestamp stands in
            msg["published_at"] = _ts(t)
        msg["source"] = source
        if source in {"reuters", "bloomberg"} and n % 4 == 0:
            msg["url"] = f"https://www.{source}.example/markets/{n:04d}"
        if tickers is not None:
            msg["tickers"] = tickers
        if n % 11 == 0:
            msg["lang"] = "en"  # unknown fields are kept
        if source == "twitter" and n % 2 == 0:
            msg["author"] = f"@trader{n:03d}"
        originals.append({"t": t, "msg": msg, "long": source not in {"twitter"}, "n": n})

    lines: list[tuple[datetime, dict[str, object]]] = [(o["t"], o["msg"]) for o in originals]  # type: ignore[misc]
    with_time = [o for o in originals if "published_at" in o["msg"]]  # type: ignore[operator]
    pool = rng.sample(with_time, 60)
    exact_pool, near_pool = pool[:30], [o for o in pool[30:]]
    # near-duplicates need a long text: swap short tweets out for long stories
    longs = [o for o in with_time if o["long"] and o not in pool]
    near_pool = [o if o["long"] else longs.pop() for o in near_pool]

    for k, o in enumerate(exact_pool):
        msg = dict(o["msg"])  # type: ignore[call-overload]
        text = str(msg["text"])
        variant = k % 4
        if variant == 1:
            text = (
                text
                + " $"
                + (str(msg.get("tickers") or "X").split(",")[0].strip("[]'\" $") or "SPY")
            )
        elif variant == 2:
            text = text + f"\nhttps://www.example-finance.com/a/{k}"
        elif variant == 3:
            text = "  " + text.replace(" ", "  ", 3) + " "
        t = o["t"] + timedelta(minutes=rng.randrange(3, 360))  # type: ignore[operator]
        src = REPRINT_SOURCES[k % len(REPRINT_SOURCES)]
        rep: dict[str, object] = {"text": text, "published_at": _ts(t), "source": src}
        if k % 2 == 0:
            rep = {"id": f"{src}-rp{k:03d}", **rep}
        lines.append((t, rep))

    for k, o in enumerate(near_pool):
        msg = dict(o["msg"])  # type: ignore[call-overload]
        text = str(msg["text"])
        variant = k % 3
        if variant == 0:  # UPDATE 1 re-run: slug, dateline, added paragraph, credits
            new = f"UPDATE 1-{_headline(text)}\n{DATELINES[k % 3]}{text}\n{ADDED_PARAGRAPHS[k % len(ADDED_PARAGRAPHS)]}{CREDITS[k % 2]}"
        elif variant == 1:  # new headline on top + boilerplate footer
            new = f"{_headline(text)}\n{text}{BOILERPLATE[k % 3].format(n=k)}"
        else:  # aggregator re-post: added paragraph, cashtags, link
            new = f"{text} {ADDED_PARAGRAPHS[(k + 2) % len(ADDED_PARAGRAPHS)]}\nhttps://www.example-markets.com/story/{k}"
        t = o["t"] + timedelta(minutes=rng.randrange(10, 600))  # type: ignore[operator]
        src = REPRINT_SOURCES[(k + 3) % len(REPRINT_SOURCES)]
        lines.append(
            (t, {"id": f"{src}-nd{k:03d}", "text": new, "published_at": _ts(t), "source": src})
        )

    lines.sort(key=lambda item: item[0])
    out = [json.dumps(m, ensure_ascii=False) for _, m in lines]

    malformed = [
        '{"id": "bad-001", "text": "Apple shares rise after earnings", "published_at": "2026-10-31T14:00:00Z"',  # truncated JSON
        "Tesla deliveries beat estimates, shares up 5% in premarket",  # plain text, not JSON
        '{"id": "bad-003", "published_at": "2026-11-02T10:00:00Z", "source": "reuters"}',  # no text
        '{"id": "bad-004", "text": null, "published_at": "2026-11-02T11:00:00Z"}',  # null text
        '{"id": "bad-005", "text": "", "published_at": "2026-11-03T09:00:00Z"}',  # empty text
        '{"id": "bad-006", "text": "   \\n\\t  ", "published_at": "2026-11-03T09:30:00Z"}',  # whitespace only
        '{"id": "bad-007", "text": 12345, "published_at": "2026-11-04T12:00:00Z"}',  # text not a string
        '{"id": "bad-008", "text": "Nvidia shares hit a record high on Tuesday.", "published_at": "2026-11-04T13:00:00Z", "tickers": 42}',  # tickers wrong type
        '{"id": "bad-009", "text": "Amazon announces new data center in Ohio.", "published_at": 1762300000}',  # epoch number, not RFC 3339
        '{"id": "bad-010", "text": "Meta to report earnings next week.", "published_at": "2099-01-01T00:00:00Z"}',  # far future
        '{"id": "bad-011", "text": "Netflix price increase announced.", "published_at": "next Tuesday"}',  # not a timestamp
        '{"id": "bad-012", "text": "\\u0000\\u0001\\u0002JFIF\\u0000\\u0010\\u0000\\u0000binary\\u0000", "published_at": "2026-11-05T08:00:00Z"}',  # binary junk
        '{"id": "bad-013", "text": "\\u0007\\u0008\\u000b\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015ok", "published_at": "2026-11-05T09:00:00Z"}',  # control characters
        '["Apple", "Microsoft", "Nvidia"]',  # an array, not an object
        '{"id": "bad-015", "text": "Boeing wins order from Turkish Airlines", "published_at": "2026-11-06T10:00:00Z", "source": ["reuters"]}',  # source not a string
    ]
    # malformed lines are spread through the feed, as they arrive in real traffic
    step = len(out) // (len(malformed) + 1)
    for i, bad in enumerate(malformed):
        out.insert((i + 1) * step + i, bad)
    return out


def main() -> None:
    lines = compose()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} lines to {OUT}")


if __name__ == "__main__":
    main()
