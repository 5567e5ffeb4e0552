"""SGLang backend: label-token classifiers served by an SGLang server, over HTTP.

Three ways to read the label probabilities (``mode``), each following SGLang's documented API:

``chat`` (default; NOSIBLE's published client)
    ``POST /v1/chat/completions`` with the two messages, ``max_tokens: 1``,
    ``temperature: 0``, ``logprobs: true``, ``top_logprobs``, a ``regex`` constraint admitting
    only the label strings and ``chat_template_kwargs: {"enable_thinking": false}``. The label
    probabilities come from ``choices[0].logprobs.content[0].top_logprobs`` of the first
    generated token, renormalised over the label tokens (a label missing from the top-k gets 0;
    if all are missing, the sampled token decides). Needs no local tokenizer: without one, a
    label's token is the longest top-k token that is a prefix of its label string.
``generate``
    ``POST /generate`` (native API) with the chat prompt rendered locally (``tokenizer_path``),
    batched ``text`` lists, ``sampling_params`` (``max_new_tokens: 1``, ``temperature: 0``,
    ``regex``), ``return_logprob``, ``top_logprobs_num``, ``token_ids_logprob`` (the label ids)
    and ``logprob_start_len: -1``; reads ``meta_info.output_token_ids_logprobs`` (exact label
    logprobs) or else ``meta_info.output_top_logprobs``.
``score``
    ``POST /v1/score`` with ``query`` (the prompt up to the snippet), ``items`` (snippet plus the
    rest of the prompt), ``label_token_ids`` and ``apply_softmax: true``: the probabilities of
    the label tokens as next token, no generation (``tokenizer_path`` needed for the ids).

Requests run concurrently (bounded by ``max_concurrency``) on one pooled ``httpx.Client``.
Connect errors, timeouts, 5xx and 429 are retried with exponential backoff and full jitter
(``Retry-After`` honoured); when retries run out the whole batch fails with
``BackpressureError`` so the worker pauses. A batch is never partially returned.

Only the system-first prompt layout is served through SGLang (``models.prompting``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.errors import BackpressureError, ClassifierError, ModelLoadError, UnsupportedAspectError
from models.prompting import (
    LabelTokens,
    chat_messages,
    render_chat,
    resolve_label_tokens,
    system_first_prompt,
)
from pipeline.aspects import Aspect
from pipeline.scores import AspectScore, AspectScores

log = logging.getLogger(__name__)

SGLangMode = Literal["chat", "generate", "score"]
_RETRY_STATUS = {429, 500, 502, 503, 504}
_TEXT_MARK = "\u2063FINFEED-SNIPPET\u2063"
_ITEMS_PER_REQUEST = 32
_OPENAI_MAX_TOP_LOGPROBS = 20


@dataclass(frozen=True, slots=True)
class ServedModel:
    """What the server reported about itself at start."""

    model_path: str
    version: str


class SGLangClassifier:
    """Scores aspects through an SGLang server (see the module docstring for the modes)."""

    name = "sglang"

    def __init__(
        self,
        base_url: str,
        *,
        mode: SGLangMode = "chat",
        models: Mapping[str, str] | None = None,
        api_key: str | None = None,
        timeout_s: float = 30,
        max_retries: int = 4,
        max_concurrency: int = 32,
        tokenizer_path: Path | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 10.0,
        transport: Any = None,
    ) -> None:
        import httpx

        if mode not in ("chat", "generate", "score"):
            raise ModelLoadError(f"SGLang mode must be chat, generate or score, got {mode!r}")
        if max_concurrency < 1 or max_retries < 0:
            raise ModelLoadError("max_concurrency must be >= 1 and max_retries >= 0")
        self.mode: SGLangMode = mode
        self.models = dict(models or {})
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=max_concurrency),
            transport=transport,
        )
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="sglang")
        self._tokenizer: Any = None
        if tokenizer_path is not None:
            from transformers import AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(
                    str(tokenizer_path), local_files_only=True
                )
            except (OSError, ValueError) as exc:
                raise ModelLoadError(f"cannot load tokenizer from {tokenizer_path}: {exc}") from exc
        elif mode != "chat":
            raise ModelLoadError(
                f"SGLang {mode} mode renders prompts and label ids locally: give tokenizer_path "
                "(the served model's directory or its tokenizer files)"
            )
        self._labels: dict[tuple[str, ...], LabelTokens] = {}
        self.served = self._model_info()

    # -- start-up ----------------------------------------------------------------------------

    def _model_info(self) -> ServedModel:
        """Model path and version, from /get_model_info (or /v1/models), once at start."""
        try:
            info = self._request("GET", "/get_model_info", None)
            path = str(info.get("model_path") or info.get("served_model_name") or "sglang")
            version = str(info.get("weight_version") or Path(path).name or path)
            return ServedModel(model_path=path, version=version)
        except ClassifierError as exc:
            if isinstance(exc, BackpressureError):
                raise
        listing = self._request("GET", "/v1/models", None)
        data = listing.get("data") or []
        if not data:
            raise ClassifierError("SGLang server lists no model")
        first = data[0]
        path = str(first.get("root") or first.get("id"))
        return ServedModel(model_path=path, version=str(first.get("id")))

    # -- Classifier interface ------------------------------------------------------------------

    def supports(self, aspect: Aspect) -> bool:
        return not self.models or aspect.name in self.models

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def classify(self, texts: Sequence[str], aspects: Sequence[Aspect]) -> list[AspectScores]:
        unsupported = [a.name for a in aspects if not self.supports(a)]
        if unsupported:
            raise UnsupportedAspectError(
                f"no served model configured for {unsupported} (models: {sorted(self.models)})"
            )
        results: list[AspectScores] = [{} for _ in texts]
        if not texts or not aspects:
            return results
        jobs: list[tuple[Aspect, list[int], Callable[[], list[dict[str, float]]]]] = []
        for aspect in aspects:
            if self.mode == "chat":
                for i, text in enumerate(texts):
                    jobs.append((aspect, [i], self._chat_job(aspect, text)))
            else:
                for start in range(0, len(texts), _ITEMS_PER_REQUEST):
                    idx = list(range(start, min(start + _ITEMS_PER_REQUEST, len(texts))))
                    chunk = [texts[i] for i in idx]
                    make = self._generate_job if self.mode == "generate" else self._score_job
                    jobs.append((aspect, idx, make(aspect, chunk)))
        futures = [self._pool.submit(job) for _, _, job in jobs]
        try:
            outputs = [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        for (aspect, idx, _), probs in zip(jobs, outputs, strict=True):
            if len(probs) != len(idx):
                raise ClassifierError(f"SGLang answered {len(probs)} items for {len(idx)}")
            model, version = self._model_of(aspect)
            for i, p in zip(idx, probs, strict=True):
                results[i][aspect.name] = AspectScore.from_probs(aspect, p, model, version)
        return results

    def _model_of(self, aspect: Aspect) -> tuple[str, str]:
        served = self.models.get(aspect.name)
        if served is None:
            return self.served.model_path, self.served.version
        return served, f"{served}@{self.served.version}"

    def _label_tokens(self, aspect: Aspect) -> LabelTokens:
        key = (aspect.name, *(aspect.model_labels[lab] for lab in aspect.labels))
        if key not in self._labels:
            self._labels[key] = resolve_label_tokens(self._tokenizer, aspect)
        return self._labels[key]

    # -- chat mode -------------------------------------------------------------------------------

    def _chat_job(self, aspect: Aspect, text: str) -> Callable[[], list[dict[str, float]]]:
        body: dict[str, Any] = {
            "model": self.models.get(aspect.name, "default"),
            "messages": chat_messages(aspect, text),
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": _OPENAI_MAX_TOP_LOGPROBS,
            "regex": aspect.label_regex(),
            "chat_template_kwargs": {"enable_thinking": False},
        }
        token_texts = (
            dict(zip(aspect.labels, self._label_tokens(aspect).token_texts, strict=True))
            if self._tokenizer is not None
            else None
        )

        def run() -> list[dict[str, float]]:
            out = self._request("POST", "/v1/chat/completions", body)
            try:
                first = out["choices"][0]["logprobs"]["content"][0]
                top = [(str(t["token"]), float(t["logprob"])) for t in first["top_logprobs"]]
                sampled = str(first["token"])
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise ClassifierError(f"unexpected chat completion shape: {exc!r}") from exc
            return [chat_label_probs(aspect, top, sampled, token_texts)]

        return run

    # -- generate mode ---------------------------------------------------------------------------

    def _generate_job(
        self, aspect: Aspect, texts: list[str]
    ) -> Callable[[], list[dict[str, float]]]:
        labels = self._label_tokens(aspect)
        body: dict[str, Any] = {
            "text": [system_first_prompt(self._tokenizer, aspect, t) for t in texts],
            "sampling_params": {
                "max_new_tokens": 1,
                "temperature": 0,
                "regex": aspect.label_regex(),
            },
            "return_logprob": True,
            "logprob_start_len": -1,
            "top_logprobs_num": _OPENAI_MAX_TOP_LOGPROBS,
            "token_ids_logprob": list(labels.token_ids),
        }
        served = self.models.get(aspect.name)
        if served is not None:
            body["lora_path"] = served

        def run() -> list[dict[str, float]]:
            out = self._request("POST", "/generate", body)
            items = out if isinstance(out, list) else [out]
            probs = []
            for item in items:
                try:
                    meta = item["meta_info"]
                    by_id: dict[int, float] = {}
                    exact = meta.get("output_token_ids_logprobs")
                    rows = exact[0] if exact else meta["output_top_logprobs"][0]
                    for entry in rows:
                        by_id[int(entry[1])] = float(entry[0])
                    sampled = int(meta["output_token_logprobs"][0][1])
                except (KeyError, IndexError, TypeError, ValueError) as exc:
                    raise ClassifierError(f"unexpected /generate shape: {exc!r}") from exc
                probs.append(id_label_probs(labels, by_id, sampled))
            return probs

        return run

    # -- score mode ------------------------------------------------------------------------------

    def _score_job(self, aspect: Aspect, texts: list[str]) -> Callable[[], list[dict[str, float]]]:
        labels = self._label_tokens(aspect)
        head = render_chat(self._tokenizer, chat_messages(aspect, _TEXT_MARK)).split(_TEXT_MARK)[0]
        items = []
        for text in texts:
            prompt = system_first_prompt(self._tokenizer, aspect, text)
            if not prompt.startswith(head):
                raise ClassifierError("chat template does not start with its system turn")
            items.append(prompt[len(head) :])
        body = {
            "model": self.models.get(aspect.name, "default"),
            "query": head,
            "items": items,
            "label_token_ids": list(labels.token_ids),
            "apply_softmax": True,
            "item_first": False,
        }

        def run() -> list[dict[str, float]]:
            out = self._request("POST", "/v1/score", body)
            try:
                scores = out["scores"]
                return [
                    {lab: float(p) for lab, p in zip(labels.labels, row, strict=True)}
                    for row in scores
                ]
            except (KeyError, TypeError, ValueError) as exc:
                raise ClassifierError(f"unexpected /v1/score shape: {exc!r}") from exc

        return run

    # -- HTTP with retries -----------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any) -> Any:
        import httpx

        last_hint: float | None = None
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt))
                if last_hint is not None:
                    delay = max(delay, min(last_hint, self.backoff_max_s))
                time.sleep(delay)
            try:
                resp = self._http.request(method, path, json=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                last_hint = None
                log.warning(
                    "SGLang %s %s failed (%s), attempt %d", method, path, last_error, attempt + 1
                )
                continue
            if resp.status_code in _RETRY_STATUS:
                last_hint = _retry_after(resp)
                last_error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                log.warning("SGLang %s %s: %s, attempt %d", method, path, last_error, attempt + 1)
                continue
            if resp.status_code >= 400:
                raise ClassifierError(
                    f"SGLang rejected {method} {path}: HTTP {resp.status_code}: {resp.text[:500]}"
                )
            try:
                return resp.json()
            except ValueError as exc:
                raise ClassifierError(
                    f"SGLang {path} answered non-JSON: {resp.text[:200]}"
                ) from exc
        raise BackpressureError(
            f"SGLang {method} {path} unavailable after {self.max_retries + 1} attempts: {last_error}",
            retry_after=last_hint if last_hint is not None else self.backoff_max_s,
        )


def _retry_after(resp: Any) -> float | None:
    raw = resp.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def id_label_probs(
    labels: LabelTokens, by_id: Mapping[int, float], sampled: int
) -> dict[str, float]:
    """Label probabilities from logprobs keyed by token id; the sampled token if none listed."""
    import math

    probs = {
        lab: math.exp(by_id[tid]) if tid in by_id and math.isfinite(by_id[tid]) else 0.0
        for lab, tid in zip(labels.labels, labels.token_ids, strict=True)
    }
    if sum(probs.values()) > 0:
        return probs
    for lab, tid in zip(labels.labels, labels.token_ids, strict=True):
        if tid == sampled:
            return {lab2: float(lab2 == lab) for lab2 in labels.labels}
    raise ClassifierError(f"no label token of {labels.aspect!r} among the returned logprobs")


def chat_label_probs(
    aspect: Aspect,
    top: Sequence[tuple[str, float]],
    sampled: str,
    token_texts: Mapping[str, str] | None,
) -> dict[str, float]:
    """Label probabilities from OpenAI-style top logprobs (token strings).

    With ``token_texts`` (each label's first-token text from the tokenizer) matching is exact.
    Without, a label's token is the longest listed token that is a non-empty prefix of its
    label string and of no other label's (``"not"`` for ``not-forward-looking``).
    """
    import math

    def match(candidates: Sequence[str]) -> dict[str, str]:
        chosen: dict[str, str] = {}
        if token_texts is not None:
            for lab in aspect.labels:
                if token_texts[lab] in candidates:
                    chosen[lab] = token_texts[lab]
            return chosen
        for lab in aspect.labels:
            surface = aspect.model_labels[lab]
            own = [
                t
                for t in candidates
                if t
                and surface.startswith(t)
                and (
                    t == surface
                    or not any(
                        aspect.model_labels[o].startswith(t) for o in aspect.labels if o != lab
                    )
                )
            ]
            if own:
                chosen[lab] = max(own, key=len)
        return chosen

    logprob: dict[str, float] = {}
    for token, lp in top:
        if token not in logprob or lp > logprob[token]:
            logprob[token] = lp
    chosen = match(list(logprob))
    probs = {
        lab: math.exp(logprob[chosen[lab]])
        if lab in chosen and math.isfinite(logprob[chosen[lab]])
        else 0.0
        for lab in aspect.labels
    }
    if sum(probs.values()) > 0:
        return probs
    hit = match([sampled])
    if hit:
        lab = next(iter(hit))
        return {other: float(other == lab) for other in aspect.labels}
    raise ClassifierError(f"SGLang's answer {sampled!r} matches no label of {aspect.name!r}")
