"""babyllama: small Llama-2 models from scratch — model, tokenizers, data, training, decoding."""
__version__ = "0.1.0"
