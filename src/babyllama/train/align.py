"""Chat finetuning runs: `sft` (instruction tuning) and `dpo` (preference optimisation) in the one loop.

    cfg = load_config("recipes/story_sft.toml")
    result = sft(cfg)            # train.init_from: a pretrained model folder; [align] names the data
    result = dpo(cfg2)           # train.init_from: the SFT model (it is also the frozen reference)

Both start from cfg.train.init_from, give its tokenizer the chat special tokens (the model grows new
embedding rows, the mean of the old ones, when it lacks them), render the [align] files with the
chat template (`data.chat`) into batches of whole examples, and hand the objective and batches to
`train.loop.train`: run folder, resume, DDP, autocast, plots and samples are the pretraining ones.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from babyllama.checkpoint.model_dir import load_model_dir
from babyllama.config import TrainConfig
from babyllama.data.chat import ExampleBatches, Rendered, add_chat_tokens, read_conversations, read_pairs, render, \
    sft_tensors, warn_cuts
from babyllama.model import Llama, resize_vocab
from babyllama.tokenizers import load_tokenizer
from babyllama.train.loop import TrainResult, train
from babyllama.train.objectives import LanguageModeling
from babyllama.train.preference import DPO, pair_tensors, reference_logps
from babyllama.utils.device import pick_device
from babyllama.utils.io import BabyLlamaError


def chat_model(cfg: TrainConfig) -> tuple[Llama, Any]:
    """The init_from model and its tokenizer, both with the chat special tokens."""
    src = cfg.train.init_from
    if not src:
        raise BabyLlamaError("train.init_from is not set; point it at the model folder to finetune "
                             "(e.g. train.init_from=runs/quickstart/model)")
    src = Path(src)
    model, _ = load_model_dir(src, with_tokenizer=False, dropout=cfg.model.dropout)
    model.train()
    tokenizer = add_chat_tokens(load_tokenizer(src), where=str(src))
    if tokenizer.vocab_size > model.config.vocab_size:
        resize_vocab(model, tokenizer.vocab_size)  # new rows: the mean of the old ones
    if cfg.data.seq_len > model.config.max_seq_len:
        raise BabyLlamaError(f"data.seq_len ({cfg.data.seq_len}) exceeds {src}'s max_seq_len "
                             f"({model.config.max_seq_len}); lower data.seq_len")
    return model, tokenizer


def _files(spec: str, key: str) -> list[str]:
    files = [f.strip() for f in spec.split(",") if f.strip()]
    if key == "align.train_files" and not files:
        raise BabyLlamaError("align.train_files is not set; name the JSON/JSONL training files")
    return files


def _eval_batches(examples: list[Any], local_batch: int, collate: Callable[[list[Any]], Any]):
    if not examples:
        return None

    def eval_data(rank: int, world: int) -> Iterable[Any]:
        mine = examples[rank::world]
        for i in range(0, len(mine), local_batch):
            yield collate(mine[i:i + local_batch])
    return eval_data


def _rank() -> tuple[int, int]:
    """This process's rank and the number of processes (torchrun's environment; 0 and 1 without it)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def sft(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False, quiet: bool = False) -> TrainResult:
    """Instruction tuning: masked cross-entropy on the assistant's tokens of align.train_files; the
    validation loss is the same over align.val_files."""
    model, tokenizer = chat_model(cfg)
    a, max_len = cfg.align, cfg.data.seq_len + 1

    def rendered(spec: str, key: str, limit: int) -> list[Rendered]:
        out = []
        for f in _files(spec, key):
            rows = [render(m, tokenizer, max_len=max_len, warn=False) for m in read_conversations(f, limit or None)]
            warn_cuts(rows, f, max_len - 1)
            out += rows
        return out

    train_rows, val_rows = rendered(a.train_files, "align.train_files", a.max_train_examples), \
        rendered(a.val_files, "align.val_files", a.max_val_examples)
    rank, world = _rank()

    def collate(rows: list[Rendered]) -> Any:
        return sft_tensors(rows, tokenizer.pad_id)

    batches = ExampleBatches(train_rows, cfg.data.batch_size, collate, seed=cfg.train.seed,
                             shuffle=cfg.data.shuffle, rank=rank, world_size=world)
    return train(cfg, model, LanguageModeling(), train_data=batches, tokenizer=tokenizer, resume=resume,
                 overwrite=overwrite, quiet=quiet,
                 eval_data=_eval_batches(val_rows, cfg.data.batch_size // world, collate))


def dpo(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False, quiet: bool = False) -> TrainResult:
    """Preference optimisation on the pairs of align.train_files against the init_from model as the
    frozen reference (its log-probabilities computed once, here)."""
    model, tokenizer = chat_model(cfg)
    a, max_len = cfg.align, cfg.data.seq_len + 1
    device = pick_device(cfg.train.device, "train.device")
    pad = tokenizer.pad_id

    def examples(spec: str, key: str, limit: int) -> list[tuple[Rendered, Rendered, float, float]]:
        chosen, rejected = [], []
        for f in _files(spec, key):
            pairs = read_pairs(f, limit or None)
            for answers, key_ in ((chosen, "chosen"), (rejected, "rejected")):
                rows = [render([*p.prompt, {"role": "assistant", "content": getattr(p, key_)}], tokenizer,
                               max_len=max_len, warn=False) for p in pairs]
                warn_cuts(rows, f"{f} ({key_})", max_len - 1)
                answers += rows
        if not chosen:
            return []
        ref_c, ref_r = reference_logps(model.to(device), chosen, rejected, pad, device=device)
        return list(zip(chosen, rejected, ref_c.tolist(), ref_r.tolist()))

    train_rows, val_rows = examples(a.train_files, "align.train_files", a.max_train_examples), \
        examples(a.val_files, "align.val_files", a.max_val_examples)
    rank, world = _rank()

    def collate(rows: list[tuple[Rendered, Rendered, float, float]]) -> Any:
        ref = torch.tensor([r[2] for r in rows] + [r[3] for r in rows], dtype=torch.float32)
        return pair_tensors([r[0] for r in rows], [r[1] for r in rows], pad, ref)

    objective = DPO(a.beta, a.label_smoothing, a.loss, a.nll_weight)
    batches = ExampleBatches(train_rows, cfg.data.batch_size, collate, seed=cfg.train.seed,
                             shuffle=cfg.data.shuffle, rank=rank, world_size=world)
    # the held-out pairs' DPO metrics (reward accuracy, margin, log-probabilities) come with each
    # validation pass as val_<name> (Trainer.evaluate)
    eval_data = _eval_batches(val_rows, cfg.data.batch_size // world, collate)
    return train(cfg, model, objective, train_data=batches, eval_data=eval_data, tokenizer=tokenizer,
                 resume=resume, overwrite=overwrite, quiet=quiet)
