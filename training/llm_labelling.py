"""LLM-ensemble labelling through any OpenAI-compatible endpoint (``/v1/chat/completions``).

    python -m training.llm_labelling --input snippets.jsonl --output labelled.jsonl \\
        --aspect sentiment --base-url http://localhost:8000/v1 --models m1,m2,m3

The published method (``../shared/METHOD.md``, "Data and labelling") labels with an ensemble
of fast LLMs and a majority vote, then compares with ~200 human labels and reads the
rationales of disagreements to fix the prompt. This module is that step:

1. **Prompt** (``training.labelling_prompts.labelling_prompt``): per aspect, precise label definitions in terms of
   material impact, a decision tree (clearly negative? clearly positive? else neutral;
   dominant sentiment wins; neutral when in doubt), and a JSON answer
   ``{"rationale": "...one sentence...", "label": "..."}``. The forward-looking and
   prediction prompts follow ``training/data/LABELLING.md``.
2. **Ask** every model for every snippet (httpx, bounded concurrency, retries with backoff on
   timeouts, 429 and 5xx, ``Retry-After`` honoured). A model that fails after its retries
   abstains for that snippet; the run goes on.
3. **Parse** robustly (``training.labelling_prompts.parse_answer``): code fences, text around the JSON, label case and
   punctuation, model label strings (``forward-looking``) are accepted; anything else is an
   abstention, recorded with its reason.
4. **Vote** (``majority_vote``): most votes wins; a tie abstains or is broken by a configured
   label priority. Agreement = votes for the winner / models asked.
5. **Write** JSONL (chunk by chunk; ``--resume`` continues an interrupted run): the input row plus ``votes`` (model, label, rationale, error, attempts),
   ``label`` (the majority), ``agreement``; and a report with agreement statistics, per-model
   abstentions, token usage and cost, and (``--human-field``) accuracy against human labels
   with every disagreement's rationales (``training.labelling_report``).

Cost: tokens come from each response's ``usage``; when an endpoint omits it, input tokens
are estimated at 4 characters a token and output at one tenth of input, the 10:1
input:output ratio the method prices labelling prompts at. The report gives the measured
ratio beside the assumed one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.aspects import Aspect
from training.errors import LabellingError
from training.labelled import canonical_label
from training.labelling_prompts import labelling_prompt, parse_answer, user_message
from training.labelling_report import (
    ASSUMED_INPUT_OUTPUT_RATIO,
    LabellingReport,
    compare_with_human,
    format_summary,
)

log = logging.getLogger("finfeed.label")

_CHARS_PER_TOKEN = 4.0


# --------------------------------------------------------------------------- votes


@dataclass(frozen=True, slots=True)
class Vote:
    """One model's answer for one snippet."""

    model: str
    label: str | None
    rationale: str = ""
    error: str = ""
    attempts: int = 1
    input_tokens: int = 0
    output_tokens: int = 0
    usage_estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "label": self.label,
            "rationale": self.rationale,
            "attempts": self.attempts,
        }
        if self.error:
            out["error"] = self.error
        return out


TieRule = tuple[str, ...]  # () = abstain on ties; else label priority, first wins


def parse_tie_rule(value: str | None, aspect: Aspect) -> TieRule:
    """'abstain' (or empty) -> (); 'neutral,negative,positive' -> that priority."""
    if not value or value.strip().lower() == "abstain":
        return ()
    order = tuple(canonical_label(aspect, part) or part for part in value.split(",") if part)
    unknown = [lab for lab in order if lab not in aspect.labels]
    if unknown:
        raise LabellingError(f"tie priority names unknown labels {unknown} for {aspect.name}")
    return order + tuple(lab for lab in aspect.labels if lab not in order)


@dataclass(frozen=True, slots=True)
class Majority:
    label: str | None
    agreement: float  # votes for the label / models asked (0 when abstaining)
    counts: Mapping[str, int]
    tie: bool = False


def majority_vote(labels: Sequence[str | None], tie_rule: TieRule = ()) -> Majority:
    """Most votes wins; abstentions count against agreement but never win."""
    counts = Counter(lab for lab in labels if lab is not None)
    if not counts:
        return Majority(None, 0.0, {})
    top = max(counts.values())
    leaders = [lab for lab, c in counts.items() if c == top]
    tie = len(leaders) > 1
    if not tie:
        winner: str | None = leaders[0]
    elif tie_rule:
        winner = min(leaders, key=lambda lab: tie_rule.index(lab) if lab in tie_rule else 1e9)
    else:
        winner = None
    agreement = top / len(labels) if winner is not None else 0.0
    return Majority(winner, agreement, dict(sorted(counts.items())), tie)


# --------------------------------------------------------------------------- client


@dataclass(frozen=True)
class LabellingConfig:
    """One labelling run. ``models`` are the endpoint's model names (the ensemble)."""

    base_url: str
    models: tuple[str, ...]
    api_key: str = ""
    concurrency: int = 16
    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    timeout_s: float = 60.0
    temperature: float = 0.0
    max_tokens: int = 256
    json_mode: bool = False  # send response_format={"type": "json_object"}
    tie_rule: TieRule = ()
    prompt_override: str | None = None
    chunk_rows: int = 256  # rows in flight at once; output is written in input order

    def __post_init__(self) -> None:
        if not self.models:
            raise LabellingError("at least one model name is needed")
        if self.concurrency < 1 or self.max_retries < 0:
            raise LabellingError("concurrency must be >= 1 and max_retries >= 0")


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class EnsembleLabeller:
    """Asks every model of the ensemble for every snippet; returns one ``Vote`` each."""

    def __init__(
        self,
        config: LabellingConfig,
        aspect: Aspect,
        *,
        transport: Any = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.aspect = aspect
        self.system_prompt = labelling_prompt(aspect, config.prompt_override)
        self._transport = transport
        self._sleep = sleep

    def _url(self) -> str:
        base = self.config.base_url.rstrip("/")
        return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")

    def _payload(self, model: str, text: str) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": model,
            "messages": [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": user_message(text)},
            ],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        if self.config.json_mode:
            payload["response_format"] = {"type": "json_object"}
        return payload

    async def _ask(self, client: Any, sem: asyncio.Semaphore, model: str, text: str) -> Vote:
        import httpx

        cfg = self.config
        last_error = ""
        for attempt in range(1, cfg.max_retries + 2):
            wait: float | None = None
            async with sem:
                try:
                    resp = await client.post(self._url(), json=self._payload(model, text))
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                else:
                    if resp.status_code == 200:
                        return self._vote(model, text, resp, attempt)
                    last_error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                    if resp.status_code != 429 and resp.status_code < 500:
                        return Vote(model, None, error=last_error, attempts=attempt)
                    wait = _retry_after(resp)
            if attempt <= cfg.max_retries:
                backoff = min(cfg.max_backoff_s, cfg.backoff_s * 2 ** (attempt - 1))
                delay = wait if wait is not None else backoff * (0.5 + random.random() / 2)
                log.debug(
                    "%s attempt %d failed (%s); retry in %.2fs", model, attempt, last_error, delay
                )
                await self._sleep(delay)
        return Vote(model, None, error=f"gave up: {last_error}", attempts=cfg.max_retries + 1)

    def _vote(self, model: str, text: str, resp: Any, attempt: int) -> Vote:
        try:
            data = resp.json()
            content = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return Vote(model, None, error=f"malformed response: {exc}", attempts=attempt)
        usage = data.get("usage") or {}
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        estimated = prompt_tokens is None or completion_tokens is None
        if prompt_tokens is None:
            chars = len(self.system_prompt) + len(user_message(text))
            prompt_tokens = round(chars / _CHARS_PER_TOKEN)
        if completion_tokens is None:
            completion_tokens = round(prompt_tokens / ASSUMED_INPUT_OUTPUT_RATIO)
        parsed = parse_answer(str(content), self.aspect)
        return Vote(
            model=model,
            label=parsed.label,
            rationale=parsed.rationale,
            error=parsed.error,
            attempts=attempt,
            input_tokens=int(prompt_tokens),
            output_tokens=int(completion_tokens),
            usage_estimated=estimated,
        )

    async def vote_async(self, texts: Sequence[str]) -> list[list[Vote]]:
        """Votes per text (in ``config.models`` order), all requests bounded by one semaphore."""
        import httpx

        headers = {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}
        sem = asyncio.Semaphore(self.config.concurrency)
        limits = httpx.Limits(max_connections=self.config.concurrency)
        async with httpx.AsyncClient(
            timeout=self.config.timeout_s,
            headers=headers,
            limits=limits,
            transport=self._transport,
        ) as client:
            tasks = [
                [asyncio.create_task(self._ask(client, sem, m, t)) for m in self.config.models]
                for t in texts
            ]
            return [[await task for task in row] for row in tasks]

    def vote(self, texts: Sequence[str]) -> list[list[Vote]]:
        return asyncio.run(self.vote_async(texts))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class LabelledSnippet:
    """A snippet with the ensemble's votes and the majority label."""

    row: Mapping[str, Any]
    text: str
    votes: tuple[Vote, ...]
    majority: Majority

    def to_dict(self, aspect: str, output_field: str = "label") -> dict[str, Any]:
        out = dict(self.row)
        out[output_field] = self.majority.label
        out["aspect"] = aspect
        out["agreement"] = round(self.majority.agreement, 4)
        out["vote_counts"] = dict(self.majority.counts)
        out["votes"] = [v.to_dict() for v in self.votes]
        return out


def label_snippets(
    rows: Sequence[Mapping[str, Any]],
    aspect: Aspect,
    config: LabellingConfig,
    *,
    text_field: str = "text",
    labeller: EnsembleLabeller | None = None,
    on_chunk: Callable[[list[LabelledSnippet]], None] | None = None,
) -> list[LabelledSnippet]:
    """Votes and majority for every row with text, in input order, ``chunk_rows`` at a time."""
    labeller = labeller or EnsembleLabeller(config, aspect)
    usable = [r for r in rows if isinstance(r.get(text_field), str) and r[text_field].strip()]
    out: list[LabelledSnippet] = []
    for start in range(0, len(usable), config.chunk_rows):
        chunk = usable[start : start + config.chunk_rows]
        texts = [str(r[text_field]).strip() for r in chunk]
        votes = labeller.vote(texts)
        done = [
            LabelledSnippet(
                row=r,
                text=t,
                votes=tuple(v),
                majority=majority_vote([x.label for x in v], config.tie_rule),
            )
            for r, t, v in zip(chunk, texts, votes, strict=True)
        ]
        out.extend(done)
        if on_chunk is not None:
            on_chunk(done)
        log.info("labelled %d/%d snippets", len(out), len(usable))
    return out


def run(args: Any) -> int:
    """Entry point of ``finfeed label`` / ``python -m training.llm_labelling``."""
    from pathlib import Path

    from pipeline.aspects import load_aspects
    from training.labelled import read_jsonl

    aspect = load_aspects(args.aspects_file).get(args.aspect)
    prompt = Path(args.prompt_file).read_text(encoding="utf-8") if args.prompt_file else None
    config = LabellingConfig(
        base_url=args.base_url,
        models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
        api_key=args.api_key or "",
        concurrency=args.concurrency,
        max_retries=args.retries,
        timeout_s=args.timeout,
        backoff_s=args.backoff,
        json_mode=args.json_mode,
        tie_rule=parse_tie_rule(args.tie, aspect),
        prompt_override=prompt,
    )
    rows = [obj for _, obj in read_jsonl(Path(args.input))]
    if args.limit:
        rows = rows[: args.limit]
    out_path = Path(args.output)
    done: set[str] = set()
    if args.resume and out_path.is_file():  # skip rows a previous run already wrote
        done = {_row_key(obj, args.text_field) for _, obj in read_jsonl(out_path)}
        rows = [r for r in rows if _row_key(r, args.text_field) not in done]
    report = LabellingReport(aspect=aspect.name, models=config.models)
    report.cost.price_in_per_m = args.price_in
    report.cost.price_out_per_m = args.price_out
    started = time.monotonic()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("a" if done else "w", encoding="utf-8") as fh:

        def write_chunk(chunk: list[LabelledSnippet]) -> None:
            for item in chunk:
                row = item.to_dict(aspect.name, args.output_field)
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()  # a crash loses at most the chunk in flight; --resume continues

        items = label_snippets(
            rows, aspect, config, text_field=args.text_field, on_chunk=write_chunk
        )
    report.seconds = time.monotonic() - started
    for item in items:
        report.add(item)
    if args.human_field:
        report.human = compare_with_human(items, aspect, args.human_field)
    summary = report.to_dict()
    report_path = (
        Path(args.report) if args.report else Path(args.output).with_suffix(".report.json")
    )
    report_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    print(format_summary(summary))
    resumed = f" (after {len(done)} rows of an earlier run)" if done else ""
    print(f"wrote {len(items)} rows to {args.output}{resumed}; report {report_path}")
    return 0


def _row_key(row: Mapping[str, Any], text_field: str) -> str:
    return f"id:{row['id']}" if row.get("id") is not None else f"text:{row.get(text_field)}"


if __name__ == "__main__":
    import sys

    from finfeed.cli import main

    sys.exit(main(["label", *sys.argv[1:]]))
