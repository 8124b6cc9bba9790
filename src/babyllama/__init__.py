"""babyllama: small Llama-2 models from scratch — model, tokenizers, data, training, decoding.

    from babyllama import load, sample_text
    from babyllama.generate import generate
    model, tok = load("runs/quickstart/model")     # or an HF folder, GGUF, llama2.c .bin
    print(generate(model, tok, "Once upon a time", max_new_tokens=50)[0].text)

    from babyllama import load_config
    from babyllama.train import train
    train(load_config("recipes/quickstart.toml", ["optim.max_steps=100"]))

Names are imported on first use, so `import babyllama` is quick. `generate` and `train` share their
names with the modules that hold them; import them from there.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Llama": "babyllama.model", "LlamaConfig": "babyllama.model", "KVCache": "babyllama.model",
    "Tokenizer": "babyllama.tokenizer", "train_tokenizer": "babyllama.tokenizer",
    "generate_stories": "babyllama.data.stories", "prepare": "babyllama.data.prepare",
    "TokenLoader": "babyllama.data.loader",
    "load_config": "babyllama.config", "TrainConfig": "babyllama.config",
    "save_model": "babyllama.checkpoint.model_dir",
    "load": "babyllama.loading", "inspect": "babyllama.interop.detect",
    "GenerationConfig": "babyllama.generate",
    "sample_text": "babyllama.sample",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'babyllama' has no attribute {name!r}")
