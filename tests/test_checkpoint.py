"""babyllama's model folder: save/load round trips and clear refusals."""
import json

import pytest
import torch

from babyllama.checkpoint.model_dir import load_model_dir as load_model, save_model
from babyllama.loading import load
from babyllama.model import Llama, LlamaConfig
from babyllama.tokenizers import train_tokenizer
from babyllama.utils.io import BabyLlamaError


def tiny(**kw):
    return LlamaConfig(**{**dict(dim=16, n_layers=2, n_heads=2, vocab_size=300, max_seq_len=32), **kw})


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    docs = [f"the cat number {i} sat on the mat and looked at bird {i * 7}." for i in range(300)]
    return train_tokenizer(docs, 300, tmp_path_factory.mktemp("tok") / "t.model")


@pytest.mark.parametrize("tie", [True, False])
def test_round_trip_keeps_logits(tmp_path, tok, tie):
    model = Llama(tiny(tie_embeddings=tie)).eval()
    save_model(model, tmp_path / "m", tok)
    loaded, tok2 = load_model(tmp_path / "m")
    x = torch.randint(0, 300, (2, 9))
    assert torch.equal(loaded(x).logits, model(x).logits)
    assert tok2.hash == tok.hash
    assert (loaded.output.weight is loaded.tok_embeddings.weight) == tie


def test_save_replaces_existing_folder_whole(tmp_path, tok):
    save_model(Llama(tiny()), tmp_path / "m", tok)
    (tmp_path / "m" / "stale.txt").write_text("old")
    save_model(Llama(tiny(dim=32)), tmp_path / "m")
    assert not (tmp_path / "m" / "stale.txt").exists()
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model"]["dim"] == 32
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temp folders left behind


def test_vocab_mismatch_is_refused(tmp_path, tok):
    """The folder reader leaves the check to the one loader, babyllama.loading.load."""
    save_model(Llama(tiny(vocab_size=301)), tmp_path / "m", tok)
    _, as_saved = load_model(tmp_path / "m")
    assert as_saved.vocab_size == 300
    with pytest.raises(BabyLlamaError, match="m: tokenizer has 300 tokens but the model's vocab_size is 301"):
        load(tmp_path / "m")


def test_wrong_type_in_config_names_field_and_file(tmp_path):
    save_model(Llama(tiny()), tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    good = json.loads(path.read_text())
    for field, value, kind in [("dim", "big", "int"), ("n_layers", 2.5, "int"), ("tie_embeddings", 1, "bool"),
                               ("norm_eps", "1e-5", "float")]:
        path.write_text(json.dumps({**good, "model": {**good["model"], field: value}}))
        with pytest.raises(BabyLlamaError) as err:
            load_model(tmp_path / "m")
        msg = str(err.value)
        assert str(path) in msg and f"'{field}'" in msg and f"must be {kind}" in msg and "\n" not in msg
    path.write_text(json.dumps({**good, "model": [1, 2]}))
    with pytest.raises(BabyLlamaError, match="not a babyllama model config"):
        load_model(tmp_path / "m")


def test_bad_folders_name_the_problem(tmp_path, tok):
    with pytest.raises(BabyLlamaError, match="no such model folder"):
        load_model(tmp_path / "missing")
    save_model(Llama(tiny()), tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["model"]["dim"] = 32
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BabyLlamaError, match="shape"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(BabyLlamaError, match="config.json:1:2: invalid JSON"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(BabyLlamaError, match="cannot read safetensors"):
        load_model(tmp_path / "m")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised by importing torch.compile
def test_save_unwraps_ddp_and_compile_wrappers(tmp_path):
    class DDPLike(torch.nn.Module):  # DistributedDataParallel keeps the model as .module
        def __init__(self, inner):
            super().__init__()
            self.module = inner

    model = Llama(tiny()).eval()
    save_model(DDPLike(torch.compile(model)), tmp_path / "m")  # never called, so nothing is compiled
    loaded, _ = load_model(tmp_path / "m")
    x = torch.randint(0, 300, (1, 5))
    assert torch.equal(loaded(x).logits, model(x).logits)
