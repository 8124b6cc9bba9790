"""Training: the loop core (`Trainer`, `fit`), a run with its folder (`train`), callbacks, pluggable
objectives, AdamW, LR schedules and data parallelism."""
from babyllama.train.callbacks import StopOnSignal
from babyllama.train.loop import TrainResult, resume_config, train
from babyllama.train.objectives import LanguageModeling, Objective
from babyllama.train.trainer import Callback, Trainer, fit

__all__ = ["train", "TrainResult", "resume_config", "Trainer", "fit", "Callback", "StopOnSignal", "Objective",
           "LanguageModeling"]
