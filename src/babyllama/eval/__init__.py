"""Evaluation: perplexity (sliding window, bits per byte), text statistics, the decoding study, and the
task scores of `babyllama evaluate` (SQuAD, CNN/DailyMail, SST, CFIMDB, MMLU, WikiText; registry in tasks.py)."""
