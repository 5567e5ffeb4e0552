"""A local OpenAI-compatible chat-completions server with deterministic keyword "models".

It speaks the part of the OpenAI protocol the labelling client uses:
``POST /v1/chat/completions`` with ``{"model", "messages", "temperature", "max_tokens"}``,
answering ``{"id", "object": "chat.completion", "choices": [{"index": 0, "message":
{"role": "assistant", "content": ...}, "finish_reason": "stop"}], "usage": {...}}``;
``GET /v1/models`` lists the models; an unknown model is a 404 with an OpenAI error body.

Each model labels sentiment by the same keyword rule (``keyword_label``) but answers with
its own quirk, so a test can check the client's parsing, voting and retrying:

``kw-plain``     a bare JSON object, with ``usage``.
``kw-fenced``    JSON inside a ```json fence followed by chatter, and NO ``usage`` field.
``kw-badlabel``  says "bullish"/"bearish" instead of positive/negative (invalid -> abstain).
``kw-flaky``     the first request for each snippet stalls past any sane client timeout
                 (``stall_s``); the retry answers like ``kw-plain``.
``kw-busy``      the first request for each snippet is a 429 with ``Retry-After: 0``.
``kw-contrarian`` flips positive and negative (to make ties and disagreements).

``requests`` counts requests per (model, snippet) so tests can assert retries.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.fakes.serving import serve_app

POSITIVE = ("beats", "raises", "record", "upgrade", "soars")
NEGATIVE = ("misses", "cuts", "probe", "falls", "downgrade")
MODELS = ("kw-plain", "kw-fenced", "kw-badlabel", "kw-flaky", "kw-busy", "kw-contrarian")


def keyword_label(text: str) -> str:
    lowered = text.lower()
    if any(w in lowered for w in NEGATIVE):
        return "negative"
    if any(w in lowered for w in POSITIVE):
        return "positive"
    return "neutral"


def _snippet(messages: list[dict[str, Any]]) -> str:
    user = next(m["content"] for m in messages if m.get("role") == "user")
    return str(user).split("Snippet:\n", 1)[-1].strip()


def create_app(stall_s: float = 5.0) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()
    requests: Counter[tuple[str, str]] = Counter()
    app.state.requests = requests
    app.state.system_prompts = []

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]}

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> Any:
        model = str(body.get("model", ""))
        if model not in MODELS:
            return JSONResponse(
                {"error": {"message": f"model {model!r} not found", "type": "invalid_request"}},
                status_code=404,
            )
        messages = body["messages"]
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        app.state.system_prompts.append(system)
        text = _snippet(messages)
        requests[(model, text)] += 1
        first = requests[(model, text)] == 1
        if model == "kw-flaky" and first:
            await asyncio.sleep(stall_s)
        if model == "kw-busy" and first:
            return JSONResponse(
                {"error": {"message": "rate limited", "type": "rate_limit"}},
                status_code=429,
                headers={"Retry-After": "0"},
            )
        label = keyword_label(text)
        if model == "kw-contrarian":
            label = {"positive": "negative", "negative": "positive"}.get(label, label)
        shown = label
        if model == "kw-badlabel":
            shown = {"positive": "bullish", "negative": "bearish"}.get(label, label)
        answer = json.dumps({"rationale": f"Keyword rule says {label}.", "label": shown})
        if model == "kw-fenced":
            answer = f"```json\n{answer}\n```\nLet me know if you need anything else."
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{len(requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
        }
        if model != "kw-fenced":
            prompt_tokens = sum(len(str(m["content"]).split()) for m in messages)
            completion_tokens = len(answer.split())
            payload["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        return payload

    return app


@contextmanager
def running_server(**kwargs: Any) -> Iterator[tuple[str, Any]]:
    """Serve ``create_app`` with uvicorn on a free port; yields (base URL ending /v1, app)."""
    app = create_app(**kwargs)
    with serve_app(app, what="fake OpenAI server") as url:
        yield url + "/v1", app
