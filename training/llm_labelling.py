"""LLM-ensemble labelling through any OpenAI-compatible endpoint (``/v1/chat/completions``).

    python -m training.llm_labelling --input snippets.jsonl --output labelled.jsonl \\
        --aspect sentiment --base-url http://localhost:8000/v1 --models m1,m2,m3

The published method (``../shared/METHOD.md``, "Data and labelling") labels with an ensemble
of fast LLMs and a majority vote, then compares with ~200 human labels and reads the
rationales of disagreements to fix the prompt. This module is that step:

1. **Prompt** (``labelling_prompt``): per aspect, precise label definitions in terms of
   material impact, a decision tree (clearly negative? clearly positive? else neutral;
   dominant sentiment wins; neutral when in doubt), and a JSON answer
   ``{"rationale": "...one sentence...", "label": "..."}``. The forward-looking and
   prediction prompts follow ``training/data/LABELLING.md``.
2. **Ask** every model for every snippet (httpx, bounded concurrency, retries with backoff on
   timeouts, 429 and 5xx, ``Retry-After`` honoured). A model that fails after its retries
   abstains for that snippet; the run goes on.
3. **Parse** robustly (``parse_answer``): code fences, text around the JSON, label case and
   punctuation, model label strings (``forward-looking``) are accepted; anything else is an
   abstention, recorded with its reason.
4. **Vote** (``majority_vote``): most votes wins; a tie abstains or is broken by a configured
   label priority. Agreement = votes for the winner / models asked.
5. **Write** JSONL: the input row plus ``votes`` (model, label, rationale, error, attempts),
   ``label`` (the majority), ``agreement``; and a report with agreement statistics, per-model
   abstentions, token usage and cost, and (``--human-field``) accuracy against human labels
   with every disagreement's rationales.

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
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.aspects import Aspect
from training.labelled import canonical_label

log = logging.getLogger("finfeed.label")

ASSUMED_INPUT_OUTPUT_RATIO = 10.0  # the method's pricing assumption for labelling prompts
_CHARS_PER_TOKEN = 4.0


class LabellingError(RuntimeError):
    """The labelling run cannot proceed (bad configuration, unusable endpoint)."""


# --------------------------------------------------------------------------- prompts

_JSON_ANSWER = (
    "Answer with a single JSON object and nothing else:\n"
    '{{"rationale": "<one sentence explaining the decision>", "label": "<{choices}>"}}'
)

SENTIMENT_PROMPT = """You label the financial sentiment of a text snippet for a financial data provider.

Labels (the material impact on the company, asset or market in focus: share price, revenue, costs, margins, guidance, regulation, reputation):
- negative: the text presents a clearly adverse material impact: results or guidance below expectations, downgrades or target cuts, lawsuits, fines, probes, recalls, outages, lost contracts, rating cuts, distress layoffs, a falling share price.
- positive: the text presents a clearly favourable material impact: results above expectations, raised guidance, upgrades, contract wins, approvals, buybacks, dividend raises, record demand, a rising share price, a settlement that removes a risk.
- neutral: no material impact in either direction: scheduling notices, factual descriptions, boilerplate, personnel moves without framing, numbers without direction, previews that state estimates without a view, non-financial text.

Decision tree:
1. Is the impact on the focus company clearly negative? -> negative, unless a clearly positive impact dominates.
2. Is it clearly positive? -> positive, unless a clearly negative impact dominates.
3. Both present: the dominant one wins (the one the text leads with or dwells on; a market reaction or guidance change usually dominates).
4. Otherwise -> neutral. When in doubt -> neutral.

Notes: earnings results that beat or miss and analyst notes that upgrade, downgrade, raise or cut are NOT neutral. A reiterated rating is neutral unless the tone is clearly bullish or bearish. Cost cuts welcomed by the market are positive. Sarcasm is labelled by its meaning.

"""

FORWARD_LOOKING_PROMPT = """You label whether a financial text snippet is forward looking.

Labels:
- yes: the text speaks about the future: plans, intentions, guidance, outlook, expectations, targets, scheduled future events, risks that may materialise ("could adversely affect"), forecasts. A single forward clause inside a backward-looking text is enough. Dropping, shelving or ruling out a plan is about future intentions.
- no: the text only reports the past or present: results, completed deals, current state.

Decision tree:
1. Does any clause refer to something that has not happened yet at the time of writing (a plan, scheduled event, target, guidance, expectation, possible risk, forecast)? -> yes.
2. Is the only future reference a past forecast compared with an outcome ("beat the $1.02 consensus") or a fixed label of a past event? -> no.
3. A present-tense state with no future element ("trades at 18x forward earnings") -> no.
4. Headline grammar: "Apple buys startup" reports the past -> no; "Apple to buy startup" announces the future -> yes.
5. When in doubt -> no.

"""

PREDICTION_PROMPT = """You label whether a financial text snippet contains a prediction.

Labels:
- yes: the text states a forecast, estimate or projection of an outcome still unknown at the time of writing: price targets, EPS or revenue estimates, guidance figures or directional guidance ("expects revenue to grow"), "shares will/should/could reach", economic forecasts, probabilities of future events, consensus expectations for an upcoming report, a current investment rating (initiate, upgrade, downgrade, reiterate).
- no: no forecast outcome: past results, past forecasts compared with reported results, plans or decisions without a forecast outcome ("plans to open 40 stores", "will hold its AGM on May 3", a deal "expected to close in Q3", a declared dividend), generic risk boilerplate with no size or likelihood.

Decision tree:
1. Is the text only about the past or present? -> no.
2. Does it state an expected outcome (a number, direction, level or probability of a result the speaker does not control by decision alone)? -> yes.
3. Is the future element only an action the company decides, or a timetable? -> no.
4. A risk that "may" or "could" happen with no expected size or likelihood -> no; with a size or probability -> yes.
5. When in doubt -> no.

"""

_BUILTIN_PROMPTS = {
    "sentiment": SENTIMENT_PROMPT,
    "forward_looking": FORWARD_LOOKING_PROMPT,
    "prediction": PREDICTION_PROMPT,
}


def labelling_prompt(aspect: Aspect, override: str | None = None) -> str:
    """The system prompt that asks an LLM for ``aspect``'s label with a rationale.

    Built-in aspects have hand-written definitions; a declared aspect gets a generic prompt
    from its description and labels. ``override`` (a prompt file's text) replaces the body.
    """
    choices = "|".join(aspect.labels)
    body = override if override is not None else _BUILTIN_PROMPTS.get(aspect.name)
    if body is None:
        body = (
            f"You label text snippets for the aspect '{aspect.name}'. "
            f"{aspect.description}\nLabels: {', '.join(aspect.labels)}. "
            "Pick the label the text clearly supports; when in doubt pick the most "
            "conservative label.\n\n"
        )
    return body + _JSON_ANSWER.format(choices=choices)


def user_message(text: str) -> str:
    return f"Snippet:\n{text}"


# --------------------------------------------------------------------------- parsing

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    label: str | None  # canonical label, None = abstain
    rationale: str
    error: str = ""


def _json_objects(content: str) -> list[dict[str, Any]]:
    """Every JSON object in ``content``, fenced blocks first, then objects found by scanning."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    candidates = [m.group(1) for m in _FENCE.finditer(content)] + [content]
    for chunk in candidates:
        start = chunk.find("{")
        while start != -1:
            try:
                obj, end = decoder.raw_decode(chunk, start)
            except json.JSONDecodeError:
                start = chunk.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                found.append(obj)
            start = chunk.find("{", end)
    return found


def parse_answer(content: str, aspect: Aspect) -> ParsedAnswer:
    """A model's answer as (label, rationale); an unusable answer abstains with a reason."""
    objects = [o for o in _json_objects(content) if "label" in o]
    if not objects:
        return ParsedAnswer(None, "", f"no JSON object with a label in {content[:120]!r}")
    obj = objects[0]
    rationale = str(obj.get("rationale", "")).strip()
    label = canonical_label(aspect, obj.get("label"))
    if label is None:
        return ParsedAnswer(None, rationale, f"invalid label {obj.get('label')!r}")
    return ParsedAnswer(label, rationale)


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


@dataclass
class CostReport:
    """Token usage from the responses' ``usage`` fields and its price."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    estimated_requests: int = 0
    price_in_per_m: float = 0.0  # currency per million input tokens
    price_out_per_m: float = 0.0

    def add(self, vote: Vote) -> None:
        if vote.input_tokens or vote.output_tokens:
            self.requests += 1
            self.input_tokens += vote.input_tokens
            self.output_tokens += vote.output_tokens
            self.estimated_requests += int(vote.usage_estimated)

    @property
    def cost(self) -> float:
        return (
            self.input_tokens * self.price_in_per_m + self.output_tokens * self.price_out_per_m
        ) / 1e6

    def to_dict(self, n_snippets: int) -> dict[str, Any]:
        ratio = self.input_tokens / self.output_tokens if self.output_tokens else None
        per_snippet = self.cost / n_snippets if n_snippets else 0.0
        blended = (ASSUMED_INPUT_OUTPUT_RATIO * self.price_in_per_m + self.price_out_per_m) / (
            ASSUMED_INPUT_OUTPUT_RATIO + 1
        )
        return {
            "requests": self.requests,
            "requests_with_estimated_usage": self.estimated_requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "measured_input_output_ratio": round(ratio, 2) if ratio else None,
            "assumed_input_output_ratio": ASSUMED_INPUT_OUTPUT_RATIO,
            "blended_price_per_m_tokens_at_10_to_1": round(blended, 6),
            "cost": round(self.cost, 6),
            "cost_per_snippet": round(per_snippet, 8),
            "cost_per_100k_snippets": round(per_snippet * 100_000, 2),
        }


@dataclass
class LabellingReport:
    """Agreement statistics, abstentions, cost and (optionally) the human comparison."""

    aspect: str
    models: tuple[str, ...]
    n: int = 0
    abstained: int = 0
    ties: int = 0
    unanimous: int = 0
    agreement_sum: float = 0.0
    label_counts: Counter[str] = field(default_factory=Counter)
    model_abstentions: Counter[str] = field(default_factory=Counter)
    model_errors: Counter[str] = field(default_factory=Counter)
    model_retries: Counter[str] = field(default_factory=Counter)
    pairwise_with_majority: Counter[str] = field(default_factory=Counter)
    cost: CostReport = field(default_factory=CostReport)
    human: dict[str, Any] | None = None
    seconds: float = 0.0

    def add(self, item: LabelledSnippet) -> None:
        self.n += 1
        m = item.majority
        if m.label is None:
            self.abstained += 1
        else:
            self.label_counts[m.label] += 1
        self.ties += int(m.tie)
        self.agreement_sum += m.agreement
        self.unanimous += int(m.agreement == 1.0)
        for v in item.votes:
            self.cost.add(v)
            if v.label is None:
                self.model_abstentions[v.model] += 1
            if v.error:
                self.model_errors[v.model] += 1
            self.model_retries[v.model] += v.attempts - 1
            if m.label is not None and v.label == m.label:
                self.pairwise_with_majority[v.model] += 1

    def to_dict(self) -> dict[str, Any]:
        labelled = self.n - self.abstained
        return {
            "aspect": self.aspect,
            "models": list(self.models),
            "snippets": self.n,
            "labelled": labelled,
            "abstained": self.abstained,
            "ties": self.ties,
            "mean_agreement": round(self.agreement_sum / self.n, 4) if self.n else 0.0,
            "unanimous_share": round(self.unanimous / self.n, 4) if self.n else 0.0,
            "class_balance": dict(sorted(self.label_counts.items())),
            "per_model": {
                m: {
                    "abstentions": self.model_abstentions[m],
                    "errors": self.model_errors[m],
                    "retries": self.model_retries[m],
                    "agrees_with_majority": (
                        round(self.pairwise_with_majority[m] / labelled, 4) if labelled else 0.0
                    ),
                }
                for m in self.models
            },
            "cost": self.cost.to_dict(self.n),
            "human": self.human,
            "seconds": round(self.seconds, 2),
        }


def compare_with_human(
    items: Sequence[LabelledSnippet], aspect: Aspect, human_field: str, max_listed: int = 200
) -> dict[str, Any]:
    """Majority (and each model) against human labels; disagreements list every rationale."""
    from training.metrics import evaluate

    pairs: list[tuple[str, str]] = []
    per_model: dict[str, list[tuple[str, str | None]]] = {}
    disagreements: list[dict[str, Any]] = []
    for item in items:
        human = canonical_label(aspect, item.row.get(human_field))
        if human is None:
            continue
        for v in item.votes:
            per_model.setdefault(v.model, []).append((human, v.label))
        pred = item.majority.label
        if pred is None:
            continue
        pairs.append((human, pred))
        if pred != human and len(disagreements) < max_listed:
            disagreements.append(
                {
                    "id": item.row.get("id"),
                    "text": item.text,
                    "human": human,
                    "majority": pred,
                    "rationales": {v.model: f"{v.label}: {v.rationale}" for v in item.votes},
                }
            )
    compared = sum(len(v) for v in per_model.values()) // max(1, len(per_model))
    result: dict[str, Any] = {"with_human_label": compared, "compared": len(pairs)}
    if pairs:
        report = evaluate([h for h, _ in pairs], [p for _, p in pairs], aspect.labels)
        result.update(
            accuracy=round(report.accuracy, 4),
            macro_f1=round(report.macro_f1, 4),
            confusion=report.to_dict()["confusion"],
        )
    result["per_model_accuracy"] = {
        m: round(sum(h == p for h, p in rows) / len(rows), 4) for m, rows in per_model.items()
    }
    result["disagreements"] = disagreements
    return result


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


def format_summary(summary: Mapping[str, Any]) -> str:
    lines = [
        f"aspect {summary['aspect']}: {summary['snippets']} snippets, "
        f"{summary['labelled']} labelled, {summary['abstained']} abstained "
        f"({summary['ties']} ties), mean agreement {summary['mean_agreement']:.3f}, "
        f"unanimous {summary['unanimous_share']:.1%}",
        f"class balance: {summary['class_balance']}",
    ]
    for model, stats in summary["per_model"].items():
        lines.append(f"  {model}: {stats}")
    cost = summary["cost"]
    lines.append(
        f"tokens in/out {cost['input_tokens']}/{cost['output_tokens']} "
        f"(measured ratio {cost['measured_input_output_ratio']}, assumed 10:1), "
        f"cost {cost['cost']} ({cost['cost_per_100k_snippets']} per 100k snippets)"
    )
    human = summary.get("human")
    if human:
        lines.append(
            f"vs human labels: {human['compared']} compared, accuracy {human.get('accuracy')}, "
            f"macro-F1 {human.get('macro_f1')}, {len(human['disagreements'])} disagreements "
            f"(rationales in the report)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    from finfeed.cli import main

    sys.exit(main(["label", *sys.argv[1:]]))
