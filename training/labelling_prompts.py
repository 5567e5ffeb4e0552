"""The labelling prompt per aspect and the parsing of an LLM's answer to it.

The prompt follows the published recipe (``../shared/METHOD.md``, "Data and labelling"):
precise definitions of each label in terms of *material impact* on the company, a decision
tree (clearly negative? clearly positive? else neutral; the dominant sentiment wins when
mixed; neutral when in doubt), and a JSON answer with a one-sentence rationale and the label.
The forward-looking and prediction prompts condense ``training/data/LABELLING.md``, the guide
the project's hand-labelled set follows. ``--prompt-file`` replaces a body while iterating on
it against human labels; the JSON answer format is always appended.

Parsing accepts what fast LLMs actually return: code fences, text around the JSON, label case
and punctuation, model label strings (``forward-looking``); anything else abstains, with the
reason recorded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pipeline.aspects import Aspect
from training.labelled import canonical_label

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
