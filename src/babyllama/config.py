"""Training configuration: typed dataclasses, read from a TOML recipe plus `section.key=value` overrides.

    cfg = load_config("recipes/quickstart.toml", ["optim.lr=1e-3", "optim.max_steps=200"])

Every setting has a type, a default and a one-line meaning (see `config_help()` or
`babyllama pretrain --help`). Unknown keys, wrong types and out-of-range values raise a
BabyLlamaError naming the file, the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

from babyllama.model import LlamaConfig
from babyllama.utils.io import BabyLlamaError, atomic_write_text

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def _f(default: Any, help: str, choices: tuple = (), check: str = "") -> Any:
    """A dataclass field carrying its help line, allowed choices and a range check."""
    return field(default=default, metadata={"help": help, "choices": choices, "check": check})


@dataclass
class ModelSection:
    """The Llama architecture (same fields as babyllama.model.LlamaConfig)."""
    dim: int = _f(288, "width of the residual stream (embedding size)", check="pos")
    n_layers: int = _f(6, "number of transformer blocks", check="pos")
    n_heads: int = _f(6, "attention heads (dim must be divisible by it)", check="pos")
    n_kv_heads: int | None = _f(None, "key/value heads for grouped-query attention; none = n_heads", check="pos")
    vocab_size: int = _f(0, "vocabulary size; 0 = take it from the data's tokenizer", check="nonneg")
    hidden_dim: int | None = _f(None, "SwiGLU hidden size; none = llama2.c rule (8/3 dim rounded up)", check="pos")
    multiple_of: int = _f(32, "round the automatic hidden_dim up to a multiple of this", check="pos")
    norm_eps: float = _f(1e-5, "RMSNorm epsilon", check="pos")
    max_seq_len: int = _f(0, "longest context the model supports; 0 = data.seq_len", check="nonneg")
    dropout: float = _f(0.0, "dropout probability in training (0 = off)", check="prob")
    tie_embeddings: bool = _f(True, "share the token embedding and output matrices")
    rope_theta: float = _f(10000.0, "rotary embedding base", check="pos")

    def to_llama(self, vocab_size: int | None = None, seq_len: int | None = None) -> LlamaConfig:
        """A LlamaConfig, filling vocab_size = 0 and max_seq_len = 0 from the data."""
        d = dataclasses.asdict(self)
        if d["vocab_size"] == 0:
            d["vocab_size"] = vocab_size or 1
        if d["max_seq_len"] == 0:
            d["max_seq_len"] = seq_len or 1
        return LlamaConfig(**d)


@dataclass
class DataSection:
    """Where the token shards are and how they are cut into batches."""
    data_dir: str = _f("", "prepared data folder (from `babyllama prepare`) with manifest.json")
    seq_len: int = _f(256, "tokens per training sequence (context length)", check="pos")
    batch_size: int = _f(32, "sequences per micro-batch, summed over all processes (global)", check="pos")
    shuffle: bool = _f(True, "visit training windows in a seeded random order each epoch")
    train_split: str = _f("train", "split name used for training")
    val_split: str = _f("val", "split name used for validation loss and bits per byte")
    mixture: str = _f("", "train on several prepared folders by weight, 'DIR=W, DIR=W' (sampled per sequence); "
                      "'' = data_dir alone")
    val_sets: str = _f("", "extra named validation sets 'NAME=DIR, NAME=DIR' (their val_split), each logged as "
                       "val/NAME/loss and val/NAME/bpb")


@dataclass
class OptimSection:
    """Optimizer and learning-rate schedule."""
    name: str = _f("adamw", "adamw = torch.optim.AdamW (fused); babyllama_adamw = ours; "
                   "minllama_adamw = ours, minllama flavour",
                   choices=("adamw", "babyllama_adamw", "minllama_adamw"))
    lr: float = _f(5e-4, "peak learning rate", check="pos")
    betas: tuple[float, float] = _f((0.9, 0.95), "Adam beta1, beta2", check="prob")
    eps: float = _f(1e-8, "Adam epsilon", check="pos")
    weight_decay: float = _f(0.1, "decoupled weight decay, applied to 2-D weights only", check="nonneg")
    grad_clip: float = _f(1.0, "clip the global gradient norm to this (0 = no clipping)", check="nonneg")
    schedule: str = _f("cosine", "learning-rate decay after warmup", choices=("cosine", "linear", "constant"))
    warmup_steps: int = _f(100, "steps of linear warmup from 0 to lr", check="nonneg")
    max_steps: int = _f(2000, "optimizer steps in the whole run", check="pos")
    min_lr: float | None = _f(None, "learning rate at the end of decay; none = lr * 0.1", check="nonneg")
    old_lr_scale: float = _f(1.0, "learning-rate factor for the init_from model's parameters (all but the rows "
                             "`babyllama extend` added); 1 = off", check="nonneg")


@dataclass
class TrainSection:
    """The run: where it writes, how often it evaluates, logs, samples and saves."""
    run_dir: str = _f("runs/pretrain", "folder for config, metrics.jsonl, checkpoints, model/, plots")
    grad_accum: int = _f(1, "micro-batches per optimizer step (gradient accumulation)", check="pos")
    max_minutes: float = _f(0.0, "time budget: optim.max_steps is fixed from the first warmup steps' timing so that "
                            "training, evaluations and the final save fit in this many minutes (0 = off)",
                            check="nonneg")
    eval_every: int = _f(200, "evaluate val loss every N steps (0 = only at the end)", check="nonneg")
    eval_batches: int = _f(20, "validation batches per evaluation (0 = the whole split)", check="nonneg")
    log_every: int = _f(10, "write a train line to metrics.jsonl every N steps", check="pos")
    save_every: int = _f(500, "save a resumable checkpoint every N steps (0 = only at the end)",
                         check="nonneg")
    keep_checkpoints: int = _f(2, "keep only the newest K checkpoints", check="pos")
    seed: int = _f(1337, "seed for model init, data order and dropout", check="nonneg")
    device: str = _f("auto", "auto = cuda, else mps, else cpu; or cpu, cuda, cuda:N, mps", check="device")
    precision: str = _f("auto", "auto = bf16 on CUDA if supported, else fp32; fp16 needs CUDA",
                        choices=("auto", "fp32", "bf16", "fp16"))
    compile: bool = _f(False, "torch.compile the model (skipped with a warning if it fails on CPU)")
    parallel: str = _f("ddp", "several processes (torchrun): ddp = whole model on each; fsdp = sharded (FSDP2), "
                       "checkpoints resumable on any number of processes", choices=("ddp", "fsdp"))
    sample_every: int = _f(0, "print samples every N steps (0 = only at the end)", check="nonneg")
    sample_prompt: str = _f("Once upon a time", "prompt for the samples")
    sample_tokens: int = _f(100, "new tokens per sample", check="pos")
    num_samples: int = _f(3, "samples printed and written to samples.txt", check="nonneg")
    sample_temperature: float = _f(0.8, "sampling temperature (0 = greedy)", check="nonneg")
    sample_top_k: int = _f(40, "sample among the k most likely tokens (0 = all)", check="nonneg")
    init_from: str | None = _f(None, "model folder to start from (continual pretraining; its architecture "
                                     "replaces [model] except dropout); none = random init")
    new_rows_only_steps: int = _f(0, "first N steps train only the embedding/output rows `babyllama extend` added "
                                     "to the init_from model (0 = off)", check="nonneg")
    tensorboard: bool = _f(False, "also write TensorBoard event files to run_dir/tensorboard (needs the "
                                  "tensorboard package: pip install 'babyllama[logging]')")
    wandb: bool = _f(False, "also log to Weights & Biases (needs wandb installed and logged in)")
    wandb_project: str = _f("babyllama", "Weights & Biases project name when train.wandb = true")


@dataclass
class AlignSection:
    """Chat finetuning: `babyllama sft` and `babyllama dpo` (data files, DPO loss)."""
    train_files: str = _f("", "conversations (sft) or preference pairs (dpo): JSON/JSONL files, comma-separated")
    val_files: str = _f("", "held-out files of the same kind, comma-separated ('' = no validation)")
    max_train_examples: int = _f(0, "use at most this many training examples per file (0 = all)", check="nonneg")
    max_val_examples: int = _f(0, "use at most this many held-out examples per file (0 = all)", check="nonneg")
    beta: float = _f(0.1, "DPO: strength of the pull toward the reference model", check="pos")
    label_smoothing: float = _f(0.0, "DPO: assumed share of flipped preference labels (conservative DPO)",
                                check="prob")
    loss: str = _f("sigmoid", "DPO loss: sigmoid (DPO) or ipo", choices=("sigmoid", "ipo"))
    nll_weight: float = _f(0.0, "DPO: weight of an added cross-entropy term on the chosen answers (RPO; 0 = off)",
                           check="nonneg")


@dataclass
class TasksSection:
    """Multitask finetuning: `babyllama multitask` (the tasks, their data, the mixture)."""
    names: str = _f("", "tasks to mix, comma-separated: squad, cnn_dm, sst, cfimdb (data.tasks)")
    paths: str = _f("", "a task's data when not the shared copy: NAME=PATH, comma-separated")
    weights: str = _f("", "explicit mixture weights NAME=W, comma-separated ('' = by size and temperature)")
    temperature: float = _f(1.0, "without weights, task i is drawn with p ~ n_i^(1/T): 1 = by size, large = even",
                            check="pos")
    max_train_examples: int = _f(0, "use at most this many training examples per task (0 = all)", check="nonneg")
    max_val_examples: int = _f(0, "use at most this many dev examples per task (0 = all)", check="nonneg")
    split_seed: int = _f(0, "seed of the train/dev/test split of SQuAD articles and CNN/DM rows")


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)
    align: AlignSection = field(default_factory=AlignSection)
    tasks: TasksSection = field(default_factory=TasksSection)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    @property
    def final_lr(self) -> float:
        return self.optim.lr * 0.1 if self.optim.min_lr is None else self.optim.min_lr


SECTIONS: dict[str, type] = {"model": ModelSection, "data": DataSection, "optim": OptimSection,
                             "train": TrainSection, "align": AlignSection, "tasks": TasksSection}


# ---------------------------------------------------------------- parsing values

def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return "list of " + ", ".join(_type_name(a) for a in typing.get_args(tp))
    return "none" if tp is type(None) else tp.__name__


def _convert(value: Any, tp: Any, text: bool) -> Any:
    """Convert a TOML value (or, with text=True, an override string) to type tp; ValueError if it does not fit."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
            return None
        return _convert(value, next(a for a in args if a is not type(None)), text)
    if origin is tuple:
        if text and isinstance(value, str):
            value = [v for v in value.strip().strip("[]()").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ValueError
        return tuple(_convert(v, a, text) for v, a in zip(value, args))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if text and isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise ValueError
    if tp is int:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, str) and text:
            v = value.strip().replace("_", "")
            value = int(v) if re.fullmatch(r"[+-]?\d+", v) else float(v)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise ValueError
        return value
    if tp is float:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, str) and text:
            return float(value.strip())
        if not isinstance(value, (int, float)):
            raise ValueError
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError
        return value
    raise TypeError(f"unsupported setting type {tp}")


def _check(f: dataclasses.Field, value: Any) -> str | None:
    """Return what is wrong with value for field f, or None."""
    choices, check = f.metadata.get("choices", ()), f.metadata.get("check", "")
    if value is None:
        return None
    if choices and value not in choices:
        return f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"
    if check == "device" and not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(value)):
        return f"must be auto, cpu, cuda, cuda:N or mps, got {value!r}"
    for v in value if isinstance(value, tuple) else (value,):
        if check == "pos" and not v > 0:
            return f"must be > 0, got {value!r}"
        if check == "nonneg" and not v >= 0:
            return f"must be >= 0, got {value!r}"
        if check == "prob" and not 0 <= v < 1:
            return f"must be in [0, 1), got {value!r}"
    return None


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _line_of(text: str, section: str | None, key: str | None) -> int | None:
    """1-based line of `key = ...` inside [section] (section None: before any header), or of the
    [section] header when key is None, in TOML text."""
    current: str | None = None
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        m = re.match(r"\[\s*([^\]]+?)\s*\]", s)
        if m:
            current = m.group(1).strip().strip('"')
            if key is None and current == section:
                return i
        elif key is not None and current == section and re.match(rf"['\"]?{re.escape(key)}['\"]?\s*=", s):
            return i
    return None


class _Settings:
    """Apply raw values to a TrainConfig with clear errors."""

    def __init__(self) -> None:
        self.cfg = TrainConfig()
        self.hints = {name: typing.get_type_hints(cls) for name, cls in SECTIONS.items()}

    def field_of(self, section: str, key: str, where: str) -> dataclasses.Field:
        if section not in SECTIONS:
            raise BabyLlamaError(f"{where}: unknown section [{section}]{_suggest(section, SECTIONS)}; "
                                 f"allowed sections: {', '.join(SECTIONS)}")
        by_name = {f.name: f for f in fields(SECTIONS[section])}
        if key not in by_name:
            elsewhere = [s for s, cls in SECTIONS.items() if key in {f.name for f in fields(cls)}]
            hint = f" (it belongs in [{elsewhere[0]}]: {elsewhere[0]}.{key})" if elsewhere else _suggest(key, by_name)
            raise BabyLlamaError(f"{where}: unknown setting '{section}.{key}'{hint}; allowed keys in "
                                 f"[{section}]: {', '.join(by_name)}")
        return by_name[key]

    def set(self, section: str, key: str, raw: Any, where: str, text: bool) -> None:
        f = self.field_of(section, key, where)
        tp = self.hints[section][key]
        try:
            value = _convert(raw, tp, text)
        except (ValueError, TypeError):
            choices = f.metadata.get("choices")
            allowed = f"one of {', '.join(repr(c) for c in choices)}" if choices else _type_name(tp)
            raise BabyLlamaError(f"{where}: {section}.{key} = {raw!r} is not valid; expected {allowed}") from None
        problem = _check(f, value)
        if problem:
            raise BabyLlamaError(f"{where}: {section}.{key} {problem}")
        setattr(getattr(self.cfg, section), key, value)


def _split_override(item: str) -> tuple[str, str, str]:
    if "=" not in item:
        raise BabyLlamaError(f"override {item!r}: expected section.key=value, e.g. optim.lr=3e-4")
    name, value = item.split("=", 1)
    name = name.strip()
    if "." in name:
        section, key = name.split(".", 1)
        return section, key, value
    owners = [s for s, cls in SECTIONS.items() if name in {f.name for f in fields(cls)}]
    if len(owners) == 1:
        return owners[0], name, value
    all_keys = [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in fields(cls)]
    raise BabyLlamaError(f"override {item!r}: unknown setting '{name}'{_suggest(name, all_keys)}; "
                         f"write it as section.key=value (see babyllama pretrain --help)")


def config_from_dict(d: dict[str, Any], where: str = "config", text: str = "") -> TrainConfig:
    """Build a TrainConfig from nested {section: {key: value}} (e.g. parsed TOML)."""
    s = _Settings()
    for section, values in d.items():
        if not isinstance(values, dict):
            line = f":{n}" if (n := _line_of(text, None, section)) else ""
            raise BabyLlamaError(f"{where}{line}: '{section}' must be a [section] table; allowed sections: "
                                 f"{', '.join(SECTIONS)}{_suggest(section, SECTIONS)}")
        for key, raw in values.items():
            n = _line_of(text, section, key) if text else None
            s.set(section, key, raw, f"{where}:{n}" if n else where, text=False)
    return s.cfg


def load_config(toml_path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a TOML recipe (or start from defaults) and apply `section.key=value` overrides."""
    cfg = TrainConfig()
    if toml_path is not None:
        path = Path(toml_path)
        if not path.is_file():
            raise BabyLlamaError(f"{path}: config file not found")
        text = path.read_text(encoding="utf-8")
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise BabyLlamaError(f"{path}: invalid TOML: {e}") from None
        cfg = config_from_dict(raw, str(path), text)
    s = _Settings()
    s.cfg = cfg
    for item in overrides:
        section, key, value = _split_override(item)
        s.set(section, key.strip(), value, f"override {item!r}", text=True)
    validate(cfg, where=str(toml_path) if toml_path else "config")
    return cfg


def validate(cfg: TrainConfig, where: str = "config") -> None:
    """Checks that involve several settings."""
    o = cfg.optim
    if o.min_lr is not None and o.min_lr > o.lr:
        raise BabyLlamaError(f"{where}: optim.min_lr ({o.min_lr}) must not exceed optim.lr ({o.lr})")
    if o.warmup_steps > o.max_steps:
        raise BabyLlamaError(f"{where}: optim.warmup_steps ({o.warmup_steps}) exceeds optim.max_steps "
                             f"({o.max_steps})")
    m = cfg.model
    if m.max_seq_len and m.max_seq_len < cfg.data.seq_len:
        raise BabyLlamaError(f"{where}: data.seq_len ({cfg.data.seq_len}) exceeds model.max_seq_len "
                             f"({m.max_seq_len}); set model.max_seq_len = 0 to follow data.seq_len")
    try:
        m.to_llama(seq_len=cfg.data.seq_len)
    except ValueError as e:
        raise BabyLlamaError(f"{where}: [model] {e}") from None


# ---------------------------------------------------------------- writing, hashing, help

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to TOML")


def config_to_toml(cfg: TrainConfig) -> str:
    """TOML text that load_config reads back to an equal TrainConfig (none values are commented out)."""
    lines = ["# babyllama training config (written by the run; every key is explained by `babyllama pretrain --help`)"]
    for section in SECTIONS:
        lines.append(f"\n[{section}]")
        for f in fields(SECTIONS[section]):
            v = getattr(getattr(cfg, section), f.name)
            lines.append(f"# {f.name} = none" if v is None else f"{f.name} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> None:
    atomic_write_text(path, config_to_toml(cfg))


def config_hash(cfg: TrainConfig) -> str:
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def config_help() -> str:
    """Every setting with its default and meaning, grouped by section."""
    out = ["settings (TOML recipe sections, or overrides section.key=value; "
           "lists as 0.9,0.95; none for unset):"]
    for section, cls in SECTIONS.items():
        out.append(f"\n  [{section}]  {cls.__doc__.strip()}")
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            default = "none" if f.default is None else _toml_value(f.default)
            left = f"    {section}.{f.name} = {default}"
            choices = f.metadata.get("choices")
            meaning = f.metadata["help"] + ("" if choices else f" [{_type_name(hints[f.name])}]")
            out.append(f"{left:<44} {meaning}")
    return "\n".join(out) + "\n"
