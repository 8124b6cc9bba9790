"""Text generation on the model's KV cache, every common decoding strategy written out by hand.

    from babyllama.decode import GenerationConfig, generate
    from babyllama.loading import load
    model, tok = load("runs/quickstart/model")
    cfg = GenerationConfig(max_new_tokens=100, temperature=0.8, top_p=0.9, seed=0)
    for r in generate(model, tok, ["Once upon a time", "Tim and Lily"], cfg):
        print(r.text, r.finish_reason)

Strategies: greedy (temperature 0, the default), sampling with temperature / top-k / top-p / min-p,
repetition penalty (CTRL / HF: positive logits divided, negative multiplied, over prompt + output),
presence and frequency penalties (OpenAI style, over the output only), no-repeat-n-gram, and beam
search with length penalty and early stopping. Prompts of different lengths run as one left-padded
batch; the model takes positions from the attention mask. Each decode step after the prompt goes
through `Llama.decoder()`, the model's one-token forward pass (fused q/k/v and w1/w3, norm weights
folded in); tests check it against `Llama.forward`. Every sampled token, `sample_text` and the
training loop's samples included, comes from `processors.sample_from`.

Modules: settings (GenerationConfig, GenerationResult, SettingError), processors (penalties,
filters, the sampler), steps (prefill, one-token step), text (stop strings, streaming), beam,
engine (`generate`, `sample_text`). The decoding study that compares settings is eval/decode_study.py.
precision: weight-only bf16 / int8 inference (`to_precision`; `load(path, dtype=...)` uses it).
"""
from babyllama.decode.engine import generate, sample_text, sampling_config
from babyllama.decode.settings import GenerationConfig, GenerationResult, SettingError, parse_assignments

__all__ = ["GenerationConfig", "GenerationResult", "SettingError", "generate", "parse_assignments", "sample_text",
           "sampling_config"]
