"""Training: one loop (`train`), pluggable objectives, AdamW, LR schedules, checkpoints, data parallelism."""
from babyllama.train.loop import TrainResult, train
from babyllama.train.objectives import LanguageModeling, Objective

__all__ = ["train", "TrainResult", "Objective", "LanguageModeling"]
