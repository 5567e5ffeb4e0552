"""SFT examples: the serving prompt plus the label and end tokens, masked and left padded.

An example is ``prompt ids + [label token, <|im_end|>]`` with labels ``-100`` on every prompt
token, so the loss falls on exactly two positions. The prompt comes from ``models.prompting``
(the code the transformers backend, the SGLang client and the fake SGLang server share), so a
fine-tune sees token for token what serving will feed it, in either layout:
``system-first`` (instruction as the system message, text as the user message) or
``text-first`` (``text_first_ids``: the text's tokens, then the aspect's suffix).

Batches are LEFT padded (``collate``): every sequence ends in the last column, the label is
always predicted from column -3 and positions count real tokens only, as the backend does.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.prompting import (
    LabelTokens,
    PromptLayout,
    encode,
    resolve_label_tokens,
    system_first_prompt,
    text_first_ids,
    text_first_template,
    truncate_text,
)
from pipeline.aspects import Aspect
from training.errors import SFTError

IGNORE = -100
END_TOKEN = "<|im_end|>"


# --------------------------------------------------------------------------- examples


@dataclass(frozen=True, slots=True)
class Example:
    """One (text, aspect, label) as token ids with its loss mask."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]  # IGNORE except the label token and the end token (the last two)
    aspect: int  # index into the encoder's aspects
    label: int  # index into that aspect's labels


class PromptEncoder:
    """Turns (text, aspect, label) into training examples laid out exactly as served."""

    def __init__(
        self, tokenizer: Any, aspects: Sequence[Aspect], layout: PromptLayout, max_length: int
    ) -> None:
        self.tokenizer = tokenizer
        self.aspects = tuple(aspects)
        self.layout = layout
        self.max_length = max_length
        end = tokenizer.convert_tokens_to_ids(END_TOKEN)
        if not isinstance(end, int) or end == tokenizer.unk_token_id:
            raise SFTError(f"tokenizer has no {END_TOKEN} token (not a Qwen chat tokenizer)")
        self.end_id = end
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else tokenizer.eos_token_id or 0)
        self.label_tokens: list[LabelTokens] = []
        self._templates: list[Any] = []
        self._overhead: list[int] = []
        for aspect in self.aspects:
            if layout == "text-first":
                template = text_first_template(tokenizer, aspect)
                probe = template.prefix_text("Example snippet.") + template.suffix
                self.label_tokens.append(resolve_label_tokens(tokenizer, aspect, prompt=probe))
                self._templates.append(template)
                self._overhead.append(len(encode(tokenizer, template.suffix)))
            else:
                self.label_tokens.append(resolve_label_tokens(tokenizer, aspect))
                self._templates.append(None)
                self._overhead.append(
                    len(encode(tokenizer, system_first_prompt(tokenizer, aspect, "")))
                )
            if self._overhead[-1] + 2 >= max_length:
                raise SFTError(f"aspect {aspect.name}: prompt template exceeds max_length")

    def aspect_index(self, name: str) -> int:
        for i, a in enumerate(self.aspects):
            if a.name == name:
                return i
        raise SFTError(f"aspect {name!r} is not trained here ({[a.name for a in self.aspects]})")

    def prompt_ids(self, text: str, a: int) -> list[int]:
        """The serving prompt's token ids (models.prompting), cut to leave room for 2 tokens."""
        aspect, budget = self.aspects[a], self.max_length - 2
        if self.layout == "text-first":
            prefix, suffix = text_first_ids(self.tokenizer, self._templates[a], text)
            return prefix[: budget - len(suffix)] + suffix
        room = budget - self._overhead[a]
        if len(text) > room:
            text = truncate_text(self.tokenizer, text, room)
        ids = encode(self.tokenizer, system_first_prompt(self.tokenizer, aspect, text))
        return ids[-budget:]

    def example(self, text: str, aspect_name: str, label: str) -> Example:
        a = self.aspect_index(aspect_name)
        lt = self.label_tokens[a]
        if label not in lt.labels:
            raise SFTError(f"{label!r} is not a {aspect_name} label {lt.labels}")
        prompt = self.prompt_ids(text, a)
        answer = [lt.id_of(label), self.end_id]
        return Example(
            input_ids=tuple(prompt + answer),
            labels=tuple([IGNORE] * len(prompt) + answer),
            aspect=a,
            label=lt.labels.index(label),
        )


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, Any]:
    """Left-padded tensors: input_ids, attention_mask, position_ids (real tokens), labels."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    n = len(examples)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    labels = torch.full((n, width), IGNORE, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for r, e in enumerate(examples):
        k = len(e.input_ids)
        ids[r, width - k :] = torch.tensor(e.input_ids)
        labels[r, width - k :] = torch.tensor(e.labels)
        mask[r, width - k :] = 1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "position_ids": (mask.cumsum(dim=1) - 1).clamp(min=0),
        "labels": labels,
        "aspect": torch.tensor([e.aspect for e in examples]),
        "label": torch.tensor([e.label for e in examples]),
    }


def batches(
    examples: Sequence[Example], batch_size: int, rng: random.Random | None
) -> Iterator[list[Example]]:
    """Shuffled (rng) or in-order batches; shuffled ones are length-sorted within pools of
    50 batches so padding stays small, then the batch order is shuffled."""
    order = list(range(len(examples)))
    if rng is None:
        for s in range(0, len(order), batch_size):
            yield [examples[i] for i in order[s : s + batch_size]]
        return
    rng.shuffle(order)
    pool = batch_size * 50
    chunks: list[list[int]] = []
    for s in range(0, len(order), pool):
        part = sorted(order[s : s + pool], key=lambda i: len(examples[i].input_ids))
        chunks.extend(part[k : k + batch_size] for k in range(0, len(part), batch_size))
    rng.shuffle(chunks)
    for chunk in chunks:
        yield [examples[i] for i in chunk]


def build_examples(
    encoder: PromptEncoder, rows: Sequence[tuple[str, Mapping[str, str]]]
) -> list[Example]:
    """One example per (row, trained aspect the row has a label for)."""
    out = []
    for text, labels in rows:
        for aspect in encoder.aspects:
            if aspect.name in labels:
                out.append(encoder.example(text, aspect.name, labels[aspect.name]))
    return out
