"""Sentiment (or any label) classification on a base Llama: zero-shot prompting and a finetuned head.

Modules: data (readers), prompting (label log-probabilities), head (classifier), finetune (training
with dev selection), stats (seeds, bootstrap CI, baselines), experiment (splits, per-seed runs,
results records; what `babyllama classify prompt|finetune` and compat/run_llama.py call).
"""
