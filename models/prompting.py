"""Prompts for label-token classifiers: chat layouts and the label tokens that answer them.

A generative aspect classifier reads a chat prompt and answers with ONE label token (the
first token of ``aspect.model_labels[label]``) followed by the end token. Its confidence is
the softmax over the label tokens' logits at the last prompt position. This module builds
those prompts from a Hugging Face tokenizer's chat template and resolves each aspect's label
first-token ids; the transformers backend, the SGLang client and the fake SGLang server in
the tests all share it, so the three agree token for token.

Two prompt layouts exist (``PromptLayout``):

``system-first`` (default; NOSIBLE's published format)
    ``[{"role": "system", "content": aspect.system_prompt}, {"role": "user", "content": text}]``
    rendered with ``add_generation_prompt=True, enable_thinking=False`` and tokenised as one
    string. The instruction precedes the text, so nothing about the text can be shared
    between aspects: every (text, aspect) pair is its own sequence.

``text-first`` (for multi-aspect fine-tunes)
    The user turn holds the text first and the aspect's instruction after it. The prompt is
    the token concatenation ``prefix_ids(text) + suffix_ids(aspect)``: the prefix is the
    template's opening up to and including the text, the suffix is ``"\\n\\n" + instruction``
    and the rest of the template (end of turn, assistant header, empty think block). Both
    halves are tokenised separately, so the text's key/value cache is computed once and each
    aspect only adds its few suffix tokens. A model fine-tuned for this layout must be
    trained on exactly this concatenation (``text_first_ids``).

Models declare their layout in a ``finfeed.json`` beside the weights
(``{"prompt_layout": "text-first"}``); see ``models.transformers_backend``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from models.errors import ModelLoadError
from pipeline.aspects import Aspect

PromptLayout = Literal["system-first", "text-first"]
PROMPT_LAYOUTS: tuple[PromptLayout, ...] = ("system-first", "text-first")

_TEXT_MARK = "\u2063FINFEED-TEXT\u2063"  # invisible separator: never produced by the template


@dataclass(frozen=True, slots=True)
class LabelTokens:
    """An aspect's label first-token ids, aligned with ``aspect.labels``."""

    aspect: str
    labels: tuple[str, ...]
    token_ids: tuple[int, ...]
    token_texts: tuple[str, ...]

    def id_of(self, label: str) -> int:
        return self.token_ids[self.labels.index(label)]


def chat_messages(aspect: Aspect, text: str) -> list[dict[str, str]]:
    """The two messages of the system-first layout."""
    return [
        {"role": "system", "content": aspect.system_prompt},
        {"role": "user", "content": text},
    ]


def render_chat(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> str:
    """Apply the tokenizer's chat template with a generation prompt and thinking disabled."""
    try:
        rendered = tokenizer.apply_chat_template(
            list(messages),
            tokenize=False,
            add_generation_prompt=True,
            enable_thinking=False,
        )
    except Exception as exc:  # jinja errors, missing template
        raise ModelLoadError(f"cannot apply the tokenizer's chat template: {exc}") from exc
    if not isinstance(rendered, str):
        raise ModelLoadError(f"chat template rendered {type(rendered).__name__}, expected str")
    return rendered


def system_first_prompt(tokenizer: Any, aspect: Aspect, text: str) -> str:
    """The full prompt string of the system-first layout (tokenise it as one string)."""
    return render_chat(tokenizer, chat_messages(aspect, text))


@dataclass(frozen=True, slots=True)
class TextFirstTemplate:
    """The constant parts of the text-first layout for one model and aspect."""

    head: str  # template opening before the text
    suffix: str  # "\n\n" + instruction + end of turn + assistant header (+ empty think)

    def prefix_text(self, text: str) -> str:
        return self.head + text


def text_first_template(tokenizer: Any, aspect: Aspect) -> TextFirstTemplate:
    """Split the template's rendering of ``text + "\\n\\n" + instruction`` around the text."""
    content = _TEXT_MARK + "\n\n" + aspect.system_prompt
    rendered = render_chat(tokenizer, [{"role": "user", "content": content}])
    if rendered.count(_TEXT_MARK) != 1:
        raise ModelLoadError("chat template does not render the user content verbatim")
    head, tail = rendered.split(_TEXT_MARK)
    return TextFirstTemplate(head=head, suffix=tail)


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` with no special tokens added (templates carry their own)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [int(i) for i in ids]


def truncate_text(tokenizer: Any, text: str, max_tokens: int) -> str:
    """``text`` cut to at most ``max_tokens`` tokens (on a token boundary)."""
    if max_tokens <= 0:
        return ""
    ids = encode(tokenizer, text)
    if len(ids) <= max_tokens:
        return text
    return str(tokenizer.decode(ids[:max_tokens], skip_special_tokens=False))


def text_first_ids(
    tokenizer: Any, template: TextFirstTemplate, text: str
) -> tuple[list[int], list[int]]:
    """(prefix ids, suffix ids) of the text-first layout; the prompt is their concatenation."""
    return encode(tokenizer, template.prefix_text(text)), encode(tokenizer, template.suffix)


def _first_token_after(tokenizer: Any, prompt_ids: Sequence[int], full: str) -> int | None:
    """The token that follows ``prompt_ids`` when ``full`` (prompt + answer) is tokenised."""
    ids = encode(tokenizer, full)
    n = len(prompt_ids)
    if len(ids) <= n or list(ids[:n]) != list(prompt_ids):
        return None
    return ids[n]


def resolve_label_tokens(
    tokenizer: Any, aspect: Aspect, *, prompt: str | None = None
) -> LabelTokens:
    """Each label's first token as the assistant turn produces it; distinct or raise.

    The answer follows the generation prompt directly (Qwen3: after ``"</think>\\n\\n"``), so
    the label is tokenised as the continuation of a rendered prompt: ``prompt + label``. When
    the BPE merges across that boundary, the label alone (no leading space) and then with a
    leading space are tried. A collision (two labels starting with the same token) would make
    one forward pass unable to tell them apart: it raises ``ModelLoadError`` naming them.
    """
    if prompt is None:
        prompt = system_first_prompt(tokenizer, aspect, "Example snippet.")
    prompt_ids = encode(tokenizer, prompt)
    ids: list[int] = []
    for label in aspect.labels:
        surface = aspect.model_labels[label]
        if not surface:
            raise ModelLoadError(
                f"aspect {aspect.name!r}: label {label!r} has an empty model label"
            )
        tok = _first_token_after(tokenizer, prompt_ids, prompt + surface)
        if tok is None:
            for variant in (surface, " " + surface):
                alone = encode(tokenizer, variant)
                if alone:
                    tok = alone[0]
                    break
        if tok is None:
            raise ModelLoadError(f"aspect {aspect.name!r}: label {surface!r} encodes to no token")
        ids.append(tok)
    texts = tuple(str(tokenizer.decode([i], skip_special_tokens=False)) for i in ids)
    seen: dict[int, list[str]] = {}
    for label, tok in zip(aspect.labels, ids, strict=True):
        seen.setdefault(tok, []).append(label)
    collisions = {tok: labs for tok, labs in seen.items() if len(labs) > 1}
    if collisions:
        detail = "; ".join(
            f"{', '.join(repr(aspect.model_labels[lab]) for lab in labs)} all start with token "
            f"{tok} ({tokenizer.decode([tok])!r})"
            for tok, labs in collisions.items()
        )
        raise ModelLoadError(
            f"aspect {aspect.name!r}: label first tokens must be distinct so one forward pass "
            f"decides; {detail}. Rename the model labels so each starts with its own token."
        )
    return LabelTokens(
        aspect=aspect.name, labels=tuple(aspect.labels), token_ids=tuple(ids), token_texts=texts
    )


def parse_layout(value: object, *, where: str) -> PromptLayout:
    """Validate a layout name from a config file or an argument."""
    if value == "system-first":
        return "system-first"
    if value == "text-first":
        return "text-first"
    raise ModelLoadError(f"{where}: prompt layout must be one of {PROMPT_LAYOUTS}, got {value!r}")
