"""babyllama: small Llama-2 models from scratch — model, tokenizers, data, training, decoding.

    from babyllama import generate, load, sample_text
    model, tok = load("runs/quickstart/model")     # or an HF folder, GGUF, llama2.c .bin
    print(generate(model, tok, "Once upon a time", max_new_tokens=50)[0].text)

    from babyllama import load_config
    from babyllama.train import train
    train(load_config("recipes/quickstart.toml", ["optim.max_steps=100"]))

Names are imported on first use, so `import babyllama` is quick. `train` shares its name with the
module that holds it; import it from there.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Llama": "babyllama.model", "LlamaConfig": "babyllama.model", "KVCache": "babyllama.model",
    "Tokenizer": "babyllama.tokenizers", "train_tokenizer": "babyllama.tokenizers",
    "generate_stories": "babyllama.data.stories", "prepare": "babyllama.data.prepare",
    "TokenLoader": "babyllama.data.loader",
    "load_config": "babyllama.config", "TrainConfig": "babyllama.config",
    "save_model": "babyllama.checkpoint.model_dir",
    "load": "babyllama.loading", "inspect": "babyllama.loading",
    "GenerationConfig": "babyllama.decode", "GenerationResult": "babyllama.decode",
    "generate": "babyllama.decode", "sample_text": "babyllama.decode",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'babyllama' has no attribute {name!r}")
