"""Optional dependencies (transformers, tokenizers, gguf), imported only where a feature needs them."""
from __future__ import annotations

import importlib
from typing import Any

from babyllama.utils.io import BabyLlamaError

_EXTRAS = {"transformers": "hf", "tokenizers": "hf", "gguf": "gguf", "starlette": "serve", "uvicorn": "serve",
           "pydantic": "serve", "zstandard": "data", "tensorboard": "logging", "wandb": "logging",
           "rouge_score": "eval", "sacrebleu": "eval"}


def require(module: str, why: str) -> Any:
    """Import an optional dependency, or raise a BabyLlamaError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = _EXTRAS.get(module, "hf")
        raise BabyLlamaError(f"the optional package {module!r} is needed {why}; install it with "
                             f"`pip install 'babyllama[{extra}]'` (or `pip install {module}`)") from None
