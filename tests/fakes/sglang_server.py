"""A local stand-in for an SGLang server, computing real answers with a tiny Qwen3 model.

SGLang itself cannot be installed here; this server speaks the parts of its documented HTTP
protocol that finfeed uses, with the same request and response JSON shapes:

* ``GET /get_model_info`` -> ``{"model_path", "tokenizer_path", "is_generation", "weight_version"}``
* ``GET /v1/models`` -> OpenAI model list
* ``GET /health``
* ``POST /generate`` (native): ``text`` or ``input_ids`` (one or a batch), ``sampling_params``
  (``max_new_tokens``, ``temperature``, ``regex``), ``return_logprob``, ``top_logprobs_num``,
  ``token_ids_logprob``, ``logprob_start_len``, ``return_text_in_logprobs``; answers
  ``{"text", "output_ids", "meta_info": {"output_token_logprobs": [[lp, id, text|None]],
  "output_top_logprobs": [[[lp, id, text|None], ...]], "output_token_ids_logprobs": ...}}``
  (a list for a batch).
* ``POST /v1/chat/completions`` (OpenAI-compatible): ``messages``, ``max_tokens``,
  ``temperature``, ``logprobs``, ``top_logprobs``, ``regex``, ``chat_template_kwargs``;
  answers ``choices[0].logprobs.content[0].top_logprobs``.
* ``POST /v1/score``: ``query`` + each of ``items`` (text concatenated, or token ids),
  ``label_token_ids``, ``apply_softmax``, ``item_first`` -> ``{"scores": [[...]], "model",
  "usage", "object": "scoring"}``.

The answer is a real forward pass of the model directory's ``Qwen3ForCausalLM``. A ``regex``
constraint masks the next-token distribution to tokens that can start a match (as a grammar
backend does for the first token), and logprobs are those of the constrained distribution.
Fault injection for tests: ``POST /_fake/faults {"fail": [503, 429], "retry_after": 0.1,
"delay_s": 0}`` makes the next requests fail with those statuses, or stall.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.fakes.serving import serve_app


class TinyEngine:
    """Forward passes and constrained next-token logprobs over a local model directory."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_dir = model_dir
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
        self.model.eval()
        self._lock = threading.Lock()
        self._masks: dict[str, Any] = {}
        self._torch = torch

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def token_text(self, tid: int) -> str:
        return str(self.tokenizer.decode([tid], skip_special_tokens=False))

    def next_logits(self, ids: list[int]) -> Any:
        torch = self._torch
        with self._lock, torch.inference_mode():
            return self.model(torch.tensor([ids])).logits[0, -1].float()

    def allowed(self, pattern: str) -> Any:
        """Boolean mask of tokens whose text can begin a string matching ``pattern``."""
        import regex

        if pattern not in self._masks:
            compiled = regex.compile(pattern)
            vocab = self.model.get_output_embeddings().weight.shape[0]
            mask = self._torch.zeros(vocab, dtype=self._torch.bool)
            for tid in range(min(vocab, len(self.tokenizer))):
                text = self.token_text(tid)
                if text and compiled.fullmatch(text, partial=True):
                    mask[tid] = True
            self._masks[pattern] = mask
        return self._masks[pattern]

    def logprobs(self, ids: list[int], regex_pattern: str | None) -> Any:
        logits = self.next_logits(ids)
        if regex_pattern:
            logits = logits.masked_fill(~self.allowed(regex_pattern), float("-inf"))
        return self._torch.log_softmax(logits, dim=-1)


def create_app(
    model_dir: Path, *, served_name: str = "tiny-qwen3", weight_version: str = "w1"
) -> Any:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    engine = TinyEngine(model_dir)
    app = FastAPI()
    faults: dict[str, Any] = {"fail": [], "retry_after": None, "delay_s": 0.0, "requests": 0}
    lock = threading.Lock()

    @app.middleware("http")
    async def inject(request: Request, call_next: Any) -> Any:
        import asyncio

        if request.url.path.startswith("/_fake"):
            return await call_next(request)
        with lock:
            faults["requests"] += 1
            status = faults["fail"].pop(0) if faults["fail"] else None
            delay = faults["delay_s"]
        if delay:
            await asyncio.sleep(delay)
        if status is not None:
            headers = {}
            if faults["retry_after"] is not None:
                headers["Retry-After"] = str(faults["retry_after"])
            return JSONResponse(
                {"object": "error", "message": "overloaded", "code": status}, status, headers
            )
        return await call_next(request)

    @app.post("/_fake/faults")
    def set_faults(body: dict[str, Any]) -> dict[str, Any]:
        with lock:
            faults["fail"] = list(body.get("fail", []))
            faults["retry_after"] = body.get("retry_after")
            faults["delay_s"] = float(body.get("delay_s", 0.0))
        return {"ok": True}

    @app.get("/_fake/stats")
    def stats() -> dict[str, Any]:
        return {"requests": faults["requests"]}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {}

    @app.get("/get_model_info")
    def model_info() -> dict[str, Any]:
        return {
            "model_path": str(model_dir),
            "tokenizer_path": str(model_dir),
            "is_generation": True,
            "weight_version": weight_version,
        }

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": served_name, "object": "model", "owned_by": "sglang", "root": str(model_dir)}
            ],
        }

    def entry(lp: float, tid: int, with_text: bool) -> list[Any]:
        return [lp, tid, engine.token_text(tid) if with_text else None]

    def one_generate(
        ids: list[int], body: dict[str, Any], params: dict[str, Any]
    ) -> dict[str, Any]:
        torch = engine._torch
        lps = engine.logprobs(ids, params.get("regex"))
        sampled = int(torch.argmax(lps))
        with_text = bool(body.get("return_text_in_logprobs", False))
        meta: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "finish_reason": {"type": "length", "length": 1},
            "prompt_tokens": len(ids),
            "completion_tokens": 1,
            "cached_tokens": 0,
        }
        if body.get("return_logprob"):
            meta["output_token_logprobs"] = [entry(float(lps[sampled]), sampled, with_text)]
            k = int(body.get("top_logprobs_num") or 0)
            finite = torch.isfinite(lps)
            k = min(k, int(finite.sum()))
            top = torch.topk(lps, k) if k else None
            meta["output_top_logprobs"] = [
                [
                    entry(float(v), int(i), with_text)
                    for v, i in zip(top.values, top.indices, strict=True)
                ]
                if top is not None
                else []
            ]
            wanted = body.get("token_ids_logprob")
            if wanted:
                meta["output_token_ids_logprobs"] = [
                    [entry(float(lps[t]), int(t), with_text) for t in wanted]
                ]
        return {"text": engine.token_text(sampled), "output_ids": [sampled], "meta_info": meta}

    @app.post("/generate")
    def generate(body: dict[str, Any]) -> Any:
        params = body.get("sampling_params") or {}
        if body.get("input_ids") is not None:
            batch = body["input_ids"]
            prompts = batch if batch and isinstance(batch[0], list) else [batch]
            single = not (batch and isinstance(batch[0], list))
        else:
            texts = body["text"]
            single = isinstance(texts, str)
            prompts = [engine.encode(t) for t in ([texts] if single else texts)]
        outs = [one_generate(ids, body, params) for ids in prompts]
        return outs[0] if single else outs

    @app.post("/v1/chat/completions")
    def chat(body: dict[str, Any]) -> Any:
        torch = engine._torch
        kwargs = body.get("chat_template_kwargs") or {}
        prompt = engine.tokenizer.apply_chat_template(
            body["messages"], tokenize=False, add_generation_prompt=True, **kwargs
        )
        ids = engine.encode(prompt)
        lps = engine.logprobs(ids, body.get("regex"))
        sampled = int(torch.argmax(lps))
        k = min(int(body.get("top_logprobs") or 0), int(torch.isfinite(lps).sum()))
        top = torch.topk(lps, k) if k else None

        def tl(tid: int, lp: float) -> dict[str, Any]:
            text = engine.token_text(tid)
            return {"token": text, "bytes": list(text.encode("utf-8")), "logprob": lp}

        content = {
            **tl(sampled, float(lps[sampled])),
            "top_logprobs": [
                tl(int(i), float(v)) for v, i in zip(top.values, top.indices, strict=True)
            ]
            if top is not None
            else [],
        }
        return {
            "id": uuid.uuid4().hex,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", served_name),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": engine.token_text(sampled)},
                    "logprobs": {"content": [content]} if body.get("logprobs") else None,
                    "finish_reason": "length",
                }
            ],
            "usage": {
                "prompt_tokens": len(ids),
                "completion_tokens": 1,
                "total_tokens": len(ids) + 1,
            },
        }

    @app.post("/v1/score")
    def score(body: dict[str, Any]) -> Any:
        torch = engine._torch
        query, items = body.get("query"), body.get("items")
        labels = body.get("label_token_ids") or []
        if query is None or items is None or not labels:
            return JSONResponse(
                {
                    "object": "error",
                    "message": "query, items and label_token_ids are required",
                    "code": 400,
                },
                400,
            )
        items_list = [items] if isinstance(items, str) else items
        scores, prompt_tokens = [], 0
        for item in items_list:
            if isinstance(query, str):
                text = f"{item}{query}" if body.get("item_first") else f"{query}{item}"
                ids = engine.encode(text)
            else:
                ids = (
                    list(item) + list(query) if body.get("item_first") else list(query) + list(item)
                )
            prompt_tokens += len(ids)
            logits = engine.next_logits(ids)[labels] if body.get("apply_softmax") else None
            if logits is not None:
                scores.append(torch.softmax(logits, dim=-1).tolist())
            else:
                scores.append(torch.softmax(engine.next_logits(ids), dim=-1)[labels].tolist())
        return {
            "scores": scores,
            "model": body.get("model", served_name),
            "usage": {
                "prompt_tokens": prompt_tokens,
                "total_tokens": prompt_tokens,
                "completion_tokens": 0,
            },
            "object": "scoring",
        }

    app.state.engine = engine
    return app


@contextmanager
def running_server(model_dir: Path, **kwargs: Any) -> Iterator[str]:
    """Serve ``create_app(model_dir)`` with uvicorn on a free port; yields the base URL."""
    with serve_app(create_app(model_dir, **kwargs), what="fake SGLang server") as url:
        yield url
