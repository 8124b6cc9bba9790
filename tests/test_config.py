"""Config: TOML + overrides, typed parsing, clear errors, round trip, help text, recipes."""
import dataclasses
import re
from pathlib import Path

import pytest

from babyllama.config import (SECTIONS, ModelSection, TrainConfig, config_help, config_to_toml, load_config,
                              save_config)
from babyllama.model import LlamaConfig
from babyllama.utils.io import BabyLlamaError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "r.toml"
    p.write_text(text)
    return p


def test_defaults_and_file_values(tmp_path):
    assert load_config() == TrainConfig()
    p = write(tmp_path, '[model]\ndim = 64\nn_heads = 4\nn_kv_heads = 2\n[optim]\nlr = 1e-3\nbetas = [0.9, 0.99]\n'
                        'max_steps = 10\nwarmup_steps = 2\n[train]\ncompile = true\nrun_dir = "x/y"\n')
    cfg = load_config(p)
    assert cfg.model.dim == 64 and cfg.model.n_kv_heads == 2
    assert cfg.optim.lr == 1e-3 and cfg.optim.betas == (0.9, 0.99) and isinstance(cfg.optim.betas, tuple)
    assert cfg.train.compile is True and cfg.train.run_dir == "x/y"
    assert cfg.data == TrainConfig().data  # untouched section keeps defaults


def test_int_in_file_is_accepted_for_float(tmp_path):
    cfg = load_config(write(tmp_path, "[optim]\nweight_decay = 0\n"))
    assert cfg.optim.weight_decay == 0.0 and isinstance(cfg.optim.weight_decay, float)


def test_overrides_are_parsed_by_type():
    cfg = load_config(None, ["optim.lr=3e-4", "data.shuffle=false", "optim.betas=0.8,0.9", "model.n_kv_heads=3",
                             "model.n_heads=6", "train.init_from=none", "train.sample_prompt=Hello = world",
                             "warmup_steps=7", "model.hidden_dim=1_024"])
    assert cfg.optim.lr == 3e-4 and cfg.data.shuffle is False and cfg.optim.betas == (0.8, 0.9)
    assert cfg.model.n_kv_heads == 3 and cfg.train.init_from is None
    assert cfg.train.sample_prompt == "Hello = world"  # split at the first '='
    assert cfg.optim.warmup_steps == 7  # a key that exists in one section only needs no prefix
    assert cfg.model.hidden_dim == 1024
    assert load_config(None, ["model.n_kv_heads=2", "model.n_kv_heads=none"]).model.n_kv_heads is None


def test_unknown_key_names_file_line_and_suggestion(tmp_path):
    p = write(tmp_path, "[optim]\nlr = 1e-3\nwieght_decay = 0.1\n")
    with pytest.raises(BabyLlamaError) as e:
        load_config(p)
    msg = str(e.value)
    assert f"{p}:3" in msg and "optim.wieght_decay" in msg and "did you mean 'weight_decay'" in msg
    assert "allowed keys" in msg and "max_steps" in msg


def test_key_in_wrong_section_is_pointed_out(tmp_path):
    with pytest.raises(BabyLlamaError, match=r"belongs in \[optim\]: optim.lr"):
        load_config(write(tmp_path, "[train]\nlr = 1e-3\n"))


def test_unknown_section(tmp_path):
    with pytest.raises(BabyLlamaError, match=r"unknown section \[optimizer\].*did you mean 'optim'"):
        load_config(write(tmp_path, "[optimizer]\nlr = 1e-3\n"))
    with pytest.raises(BabyLlamaError, match=r"must be a \[section\] table"):
        load_config(write(tmp_path, "lr = 1e-3\n"))


def test_type_and_range_errors_name_key_and_allowed_values(tmp_path):
    with pytest.raises(BabyLlamaError, match=r"model.dim = 'big' is not valid; expected int"):
        load_config(write(tmp_path, '[model]\ndim = "big"\n'))
    with pytest.raises(BabyLlamaError, match=r"optim.schedule .*one of 'cosine', 'linear', 'constant'"):
        load_config(None, ["optim.schedule=cosin"])
    with pytest.raises(BabyLlamaError, match=r"data.batch_size must be > 0"):
        load_config(None, ["data.batch_size=0"])
    with pytest.raises(BabyLlamaError, match=r"model.dropout must be in \[0, 1\)"):
        load_config(None, ["model.dropout=1.5"])
    with pytest.raises(BabyLlamaError, match=r"train.compile = 'maybe' is not valid; expected bool"):
        load_config(None, ["train.compile=maybe"])
    with pytest.raises(BabyLlamaError, match=r"optim.betas .*expected list of float, float"):
        load_config(None, ["optim.betas=0.9"])
    with pytest.raises(BabyLlamaError, match=r"data.seq_len = .2.5. is not valid; expected int"):
        load_config(None, ["data.seq_len=2.5"])
    with pytest.raises(BabyLlamaError, match="expected section.key=value"):
        load_config(None, ["optim.lr"])
    with pytest.raises(BabyLlamaError, match="invalid TOML"):
        load_config(write(tmp_path, "[model\n"))
    with pytest.raises(BabyLlamaError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_cross_field_checks():
    with pytest.raises(BabyLlamaError, match="divisible by n_heads"):
        load_config(None, ["model.dim=100", "model.n_heads=3"])
    with pytest.raises(BabyLlamaError, match="min_lr"):
        load_config(None, ["optim.lr=1e-4", "optim.min_lr=1e-3"])
    with pytest.raises(BabyLlamaError, match="warmup_steps"):
        load_config(None, ["optim.max_steps=10", "optim.warmup_steps=20"])


def test_round_trip_through_toml(tmp_path):
    cfg = load_config(None, ["model.n_kv_heads=2", "optim.min_lr=1e-5", "train.sample_prompt=She said \"hi\"\n",
                             "optim.betas=0.85,0.97", "train.init_from=some/dir", "data.data_dir=d"])
    path = tmp_path / "saved.toml"
    save_config(cfg, path)
    assert load_config(path) == cfg
    assert load_config(tmp_path / "saved.toml", ["train.init_from=none"]).train.init_from is None
    assert "# hidden_dim = none" in config_to_toml(cfg)


def test_model_section_mirrors_llama_config():
    assert {f.name for f in dataclasses.fields(ModelSection)} == {f.name for f in dataclasses.fields(LlamaConfig)}
    lc = ModelSection(dim=64, n_heads=4).to_llama(vocab_size=100, seq_len=32)
    assert lc.vocab_size == 100 and lc.max_seq_len == 32 and lc.dim == 64


def test_help_lists_every_setting_with_default():
    text = config_help()
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            line = next((ln for ln in text.splitlines() if ln.strip().startswith(f"{section}.{f.name} =")), None)
            assert line is not None, f"{section}.{f.name} missing from help"
            assert len(line.split(maxsplit=3)) == 4  # name = default meaning


def test_pretrain_help_shows_settings(capsys):
    from babyllama.cli import main

    with pytest.raises(SystemExit) as e:
        main(["pretrain", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--resume RUN_DIR" in out and "optim.weight_decay = 0.1" in out and "train.init_from = none" in out


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes").glob("*.toml")), ids=lambda p: p.name)
def test_recipes_load(recipe):
    cfg = load_config(recipe)
    assert cfg.data.data_dir or cfg.align.train_files or cfg.tasks.names  # shards, sft/dpo files, or tasks
    # every key in a recipe carries a comment saying what it means
    for line in recipe.read_text().splitlines():
        if re.match(r"^\s*\w+\s*=", line):
            assert "#" in line, f"{recipe.name}: uncommented setting: {line}"
