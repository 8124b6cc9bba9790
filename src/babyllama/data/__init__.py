"""Data pipeline: read documents (sources), tokenize into shards (prepare), stream batches (loader).

Names are imported lazily so `import babyllama.data` does not pull in torch or pyarrow.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Source": "sources",
    "iter_documents": "sources",
    "normalize_text": "sources",
    "Filters": "filters",
    "prepare": "prepare",
    "load_manifest": "prepare",
    "token_dtype": "prepare",
    "TokenLoader": "loader",
    "TokenStream": "loader",
    "iter_eval_batches": "loader",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"babyllama.data.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'babyllama.data' has no attribute {name!r}")
