"""Evaluation: perplexity (sliding window, bits per byte) and text statistics."""
