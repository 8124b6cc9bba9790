"""Sentiment (or any label) classification on a base Llama: zero-shot prompting and a finetuned head.

Modules: data (readers), prompting (label log-probabilities), head (classifier), finetune (training
with dev selection), stats (seeds, bootstrap CI, baselines), cli (`babyllama classify prompt|finetune`).
"""
