"""The HTTP API through its real app and real Redis, checked against an independent recomputation."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from finfeed.api.app import create_app
from finfeed.settings import AggregateSettings, ApiSettings
from models.errors import BackpressureError
from pipeline.aspects import BUILTIN_ASPECTS, DEFAULT_ASPECT_NAMES, Aspect
from pipeline.records import from_rfc3339, to_rfc3339
from pipeline.scores import AspectScore, AspectScores
from tests.integration.aggregate_reference import Reference, scenario
from workers.aggregate_store import AggregateStore

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
ASPECTS = tuple(BUILTIN_ASPECTS[n] for n in DEFAULT_ASPECT_NAMES)


class KeywordClassifier:
    """A small deterministic classifier: probabilities from positive/negative word counts."""

    name = "keywords"

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.fail_next: Exception | None = None

    def classify(self, texts: Sequence[str], aspects: Sequence[Aspect]) -> list[AspectScores]:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        self.calls.append(len(texts))
        out: list[AspectScores] = []
        for text in texts:
            words = text.lower().split()
            pos = sum(w in {"beats", "raises", "record"} for w in words)
            neg = sum(w in {"misses", "cuts", "probe"} for w in words)
            fut = sum(w in {"expects", "will", "guidance"} for w in words)
            scores: AspectScores = {}
            for a in aspects:
                if a.name == "sentiment":
                    raw = {"negative": 1 + 3 * neg, "neutral": 1.5, "positive": 1 + 3 * pos}
                else:
                    raw = {"no": 1.0, "yes": 1 + 3 * fut}
                scores[a.name] = AspectScore.from_probs(a, raw, "kw", "1")
            out.append(scores)
        return out

    def supports(self, aspect: Aspect) -> bool:
        return True

    def close(self) -> None:
        pass


@pytest.fixture
def seeded(redis_client):  # type: ignore[no-untyped-def]
    store = AggregateStore(redis_client, AggregateSettings(), prefix="api:", clock=lambda: NOW)
    points = scenario(31, now=NOW, companies=("TSLA", "AAPL", "MSFT", "ZZTEST"), n=360)
    store.apply(points)
    return store, Reference(points)


def _client(
    store: AggregateStore, **api_kw: object
) -> tuple[httpx.AsyncClient, KeywordClassifier, list[int]]:
    classifier = KeywordClassifier()
    builds: list[int] = []

    def factory() -> KeywordClassifier:
        builds.append(threading.get_ident())
        return classifier

    app = create_app(ApiSettings(**api_kw), store, factory, ASPECTS)
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://api"), classifier, builds


def _same(body: dict, ref: Reference) -> None:  # type: ignore[type-arg]
    exp = ref.expected(
        body["symbol"], body["aspect"], from_rfc3339(body["window_start"]),
        from_rfc3339(body["window_end"]), from_rfc3339(body["as_of"]),
    )  # fmt: skip
    assert body["count"] == exp.count
    assert body["label_mix"] == {
        "negative": exp.negative,
        "neutral": exp.neutral,
        "positive": exp.positive,
    }
    if exp.mean is None:
        assert body["mean_score"] is None
    else:
        assert body["mean_score"] == pytest.approx(exp.mean, abs=2e-6)


async def test_sentiment_matches_reference_with_as_of(seeded) -> None:  # type: ignore[no-untyped-def]
    store, ref = seeded
    client, _, _ = _client(store)
    rng = random.Random(9)
    async with client:
        for symbol in ("TSLA", "AAPL", "msft"):
            for aspect in ("all", "forward_looking", "prediction"):
                for window in ("7d", "36h", "90m"):
                    as_of = NOW - timedelta(milliseconds=rng.randrange(0, 15 * 86_400_000))
                    r = await client.get(
                        f"/v1/companies/{symbol}/sentiment",
                        params={"window": window, "aspect": aspect, "as_of": to_rfc3339(as_of)},
                    )
                    assert r.status_code == 200, r.text
                    body = r.json()
                    assert body["symbol"] == symbol.upper() and body["window"] == window
                    assert from_rfc3339(body["as_of"]) == as_of
                    _same(body, ref)
        now = (await client.get("/v1/companies/TSLA/sentiment")).json()  # default: 7d, all, now
        assert from_rfc3339(now["as_of"]) == NOW
        _same(now, ref)
        assert now["count"] > 0


async def test_series_and_movers_match_reference(seeded) -> None:  # type: ignore[no-untyped-def]
    store, ref = seeded
    client, _, _ = _client(store)
    day0 = NOW.replace(hour=0, minute=0, second=0) - timedelta(days=10)
    async with client:
        r = await client.get(
            "/v1/companies/AAPL/series",
            params={"from": to_rfc3339(day0), "to": to_rfc3339(day0 + timedelta(days=10)),
                    "step": "1d", "window": "7d", "aspect": "forward_looking",
                    "as_of": to_rfc3339(NOW - timedelta(days=1)), "point_in_time": "true"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        points = r.json()["points"]
        assert len(points) == 10
        for p in points:
            t, as_of = from_rfc3339(p["t"]), from_rfc3339(p["as_of"])
            assert as_of == min(t, NOW - timedelta(days=1))
            avg = ref.expected("AAPL", "forward_looking", t - timedelta(days=7), t, as_of)
            vol = ref.expected("AAPL", "forward_looking", t - timedelta(days=1), t, as_of)
            assert (p["count"], p["volume"]) == (avg.count, vol.count)
            if avg.mean is not None:
                assert p["mean_score"] == pytest.approx(avg.mean, abs=2e-6)
        r = await client.get(
            "/v1/movers", params={"window": "5d", "min_count": 2, "limit": 3, "direction": "up"}
        )
        assert r.status_code == 200, r.text
        movers = r.json()["movers"]
        assert 0 < len(movers) <= 3
        changes = [m["change"] for m in movers]
        assert changes == sorted(changes, reverse=True)
        for m in movers:
            cur = ref.expected(m["symbol"], "all", NOW - timedelta(days=5), NOW, NOW)
            prev = ref.expected(
                m["symbol"], "all", NOW - timedelta(days=10), NOW - timedelta(days=5), NOW
            )
            assert m["change"] == pytest.approx(cur.mean - prev.mean, abs=5e-6)


async def test_company_search_and_errors(seeded) -> None:  # type: ignore[no-untyped-def]
    store, _ = seeded
    client, _, _ = _client(store)
    async with client:
        r = await client.get("/v1/companies", params={"q": "ZZTE"})
        assert r.status_code == 200
        assert r.json()["results"][0]["symbol"] == "ZZTEST"  # stored symbol, prefix match
        assert r.json()["results"][0]["has_data"] is True
        r = await client.get("/v1/companies", params={"q": "Tesla", "limit": 3})
        assert r.json()["results"][0]["symbol"] == "TSLA"  # the shipped registry, by name
        cases = [
            ("/v1/companies/TSLA/sentiment?window=7y", 400, "invalid_window"),
            ("/v1/companies/TSLA/sentiment?window=400d", 400, "invalid_window"),
            ("/v1/companies/TSLA/sentiment?aspect=bogus", 400, "invalid_aspect"),
            ("/v1/companies/TSLA/sentiment?as_of=yesterday", 400, "invalid_as_of"),
            ("/v1/companies/TSLA/sentiment?as_of=2026-01-01T00:00:00", 400, "invalid_as_of"),
            ("/v1/companies/NOPE_NOT_A_CO/sentiment", 404, "unknown_company"),
            (
                "/v1/companies/TSLA/series?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
                400,
                "invalid_range",
            ),
            (
                "/v1/companies/TSLA/series?step=1m&from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
                400,
                "invalid_range",
            ),
            ("/v1/movers?limit=0", 422, "invalid_request"),
            ("/v1/companies", 422, "invalid_request"),
            ("/v1/nothing-here", 404, "not_found"),
        ]
        for url, status, code in cases:
            r = await client.get(url)
            assert r.status_code == status, (url, r.text)
            assert r.json()["error"]["code"] == code, url
            assert r.json()["error"]["message"]
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        metrics = (await client.get("/metrics")).text
        assert (
            'finfeed_api_requests_total{method="GET",route="/v1/companies/{symbol}/sentiment",status="400"}'
            in metrics
        )
        docs = await client.get("/openapi.json")
        assert "/v1/companies/{symbol}/series" in docs.json()["paths"]
        assert (await client.get("/docs")).status_code == 200


async def test_bearer_token_guards_v1_only(seeded) -> None:  # type: ignore[no-untyped-def]
    store, _ = seeded
    client, _, _ = _client(store, token="s3cret")
    async with client:
        r = await client.get("/v1/companies/TSLA/sentiment")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = await client.get(
            "/v1/companies/TSLA/sentiment", headers={"Authorization": "Bearer nope"}
        )
        assert r.status_code == 401
        r = await client.get(
            "/v1/companies/TSLA/sentiment", headers={"Authorization": "Bearer s3cret"}
        )
        assert r.status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/ui")).status_code == 200


async def test_classify_one_and_batch_with_limits(seeded) -> None:  # type: ignore[no-untyped-def]
    store, _ = seeded
    client, classifier, builds = _client(store, max_batch=4, max_text_chars=200)
    async with client:
        r = await client.post(
            "/v1/classify", json={"text": "Tesla beats estimates and raises guidance"}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["classifier"] == "keywords"
        (one,) = body["results"]
        assert set(one["aspects"]) == {"sentiment", "forward_looking", "prediction"}
        sent = one["aspects"]["sentiment"]
        assert sent["label"] == "positive"
        assert sum(sent["probs"].values()) == pytest.approx(1.0, abs=1e-5)
        assert one["score"] == pytest.approx(
            sent["probs"]["positive"] - sent["probs"]["negative"], abs=1e-6
        )
        texts = ["Apple misses and cuts jobs", "Flat quarter", "Nvidia will expand, expects growth"]
        r = await client.post("/v1/classify", json={"texts": texts, "aspects": ["sentiment"]})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [set(x["aspects"]) for x in results] == [{"sentiment"}] * 3
        assert [x["aspects"]["sentiment"]["label"] for x in results] == [
            "negative",
            "neutral",
            "neutral",
        ]
        assert classifier.calls == [1, 3] and len(builds) == 1  # built once, lazily
        bad = [
            ({"texts": ["a"] * 5}, 413, "batch_too_large"),
            ({"text": "x" * 201}, 413, "text_too_long"),
            ({"text": "  "}, 400, "empty_text"),
            ({"texts": []}, 400, "empty_batch"),
            ({"text": "a", "texts": ["b"]}, 400, "invalid_request"),
            ({}, 400, "invalid_request"),
            ({"text": "a", "aspects": ["mood"]}, 400, "unknown_aspect"),
            ({"text": 5}, 422, "invalid_request"),
        ]
        for payload, status, code in bad:
            r = await client.post("/v1/classify", json=payload)
            assert r.status_code == status, (payload, r.text)
            assert r.json()["error"]["code"] == code
        r = await client.post("/v1/classify", content=b"{" + b" " * 2_000_000 + b"}",
                              headers={"content-type": "application/json"})  # fmt: skip
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        classifier.fail_next = BackpressureError("busy", retry_after=2.0)
        r = await client.post("/v1/classify", json={"text": "a"})
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
    no_model = create_app(ApiSettings(), store, None, ASPECTS)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=no_model), base_url="http://x"
    ) as c:
        r = await c.post("/v1/classify", json={"text": "a"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "classifier_unavailable"
