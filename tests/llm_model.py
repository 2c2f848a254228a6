"""Writes a tiny llama-architecture GGUF with random weights, for tests and the benchmark.

A real model is hundreds of megabytes and slow on CI's two cores; this one is ~0.5 MB and
loads in milliseconds, yet it is run by the real llama.cpp: tokenizer, chat template, sampling,
grammars and embeddings all take the same code paths. What it says is noise, so tests assert on
shapes and on what the sidecar does with the output, never on the words.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

EMBEDDING = 64
LAYERS = 2
HEADS = 4
FEED_FORWARD = 128
CONTEXT = 2048
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + (message['content'] or '') + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
WORDS = ["▁", "▁SELECT", "▁FROM", "▁WHERE", "▁LIMIT", "▁count", "▁orders"]


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style: specials, all 256 bytes (so any text tokenizes), a few words."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{byte:02X}>" for byte in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    tokens += ["<|im_start|>", "<|im_end|>"]
    types += [gguf.TokenType.CONTROL] * 2
    tokens += WORDS
    types += [gguf.TokenType.NORMAL] * len(WORDS)
    scores = [0.0] * (len(tokens) - len(WORDS)) + [-float(i) for i in range(len(WORDS))]
    return tokens, scores, [int(t) for t in types]


def write_tiny_llama(
    path: Path, seed: int = 0, *, context: int = CONTEXT, endless: bool = False
) -> Path:
    """Write the model to `path` (overwriting it) and return the path.

    An `endless` model never ends its answer by itself: its control tokens (the end of turn
    among them) get no weight in the output layer, so a generation runs to max_tokens, which
    is how a test keeps the model busy long enough to hang up on it. Nor does it write bytes
    past ASCII, whose broken UTF-8 llama-cpp-python holds back from a stream to its end."""
    rng = np.random.default_rng(seed)
    tokens, scores, types = vocabulary()

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.5).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-random-llama")
    writer.add_context_length(context)
    writer.add_embedding_length(EMBEDDING)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FEED_FORWARD)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(EMBEDDING // HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(True)
    writer.add_chat_template(CHATML)
    vocab = len(tokens)
    writer.add_tensor("token_embd.weight", weights(vocab, EMBEDDING))
    writer.add_tensor("output_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
    output = weights(vocab, EMBEDDING)
    if endless:
        silent = [i for i, kind in enumerate(types) if kind == gguf.TokenType.CONTROL]
        silent += [tokens.index(f"<0x{byte:02X}>") for byte in range(0x80, 0x100)]
        output[silent] = 0
    writer.add_tensor("output.weight", output)
    for block in range(LAYERS):
        prefix = f"blk.{block}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"{prefix}.{name}.weight", weights(EMBEDDING, EMBEDDING))
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
        writer.add_tensor(f"{prefix}.ffn_gate.weight", weights(FEED_FORWARD, EMBEDDING))
        writer.add_tensor(f"{prefix}.ffn_up.weight", weights(FEED_FORWARD, EMBEDDING))
        writer.add_tensor(f"{prefix}.ffn_down.weight", weights(EMBEDDING, FEED_FORWARD))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
