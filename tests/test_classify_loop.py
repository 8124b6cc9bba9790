"""Classification finetuning through the shared training loop: the epoch batch source, and
checkpointing / resuming a model that is not a Llama."""
from __future__ import annotations

import torch
from safetensors.torch import load_file

from babyllama.classify.finetune import ClassificationObjective, EpochBatches, FinetuneConfig, HeadOnly, loop_config
from babyllama.classify.head import Classifier
from babyllama.model import Llama, LlamaConfig
from babyllama.train.loop import train
from babyllama.checkpoint.run_dir import latest_checkpoint, load_module_weights as load_weights


def test_epoch_batches_visit_every_example_once_per_epoch_and_reshuffle():
    labels = list(range(10))
    src = EpochBatches(labels, 3, seed=7, features=torch.arange(10.0)[:, None])
    assert src.steps_per_epoch == 4
    epochs = []
    for _ in range(3):
        seen = [int(x) for _ in range(4) for x in src.next_batch()["labels"]]
        assert sorted(seen) == labels
        epochs.append(seen)
    assert epochs[0] != epochs[1] or epochs[1] != epochs[2]
    # a restored cursor continues with exactly the same batches
    src.next_batch()
    state = src.state_dict()
    expected = [src.next_batch()["labels"].tolist() for _ in range(5)]
    again = EpochBatches(labels, 3, seed=7, features=torch.arange(10.0)[:, None])
    again.load_state_dict(state)
    assert [again.next_batch()["labels"].tolist() for _ in range(5)] == expected


def _tiny_classifier() -> Classifier:
    torch.manual_seed(0)
    cfg = LlamaConfig(dim=16, n_layers=1, n_heads=2, n_kv_heads=2, vocab_size=32, max_seq_len=16, multiple_of=8)
    return Classifier(Llama(cfg), 2, dropout=0.0, train_backbone=False)


def _run(run_dir, steps, resume=False, save_every=0):
    head = HeadOnly(_tiny_classifier())
    feats, labels = torch.randn(12, 16, generator=torch.Generator().manual_seed(1)), [i % 2 for i in range(12)]
    cfg = loop_config(FinetuneConfig(mode="head", epochs=2, batch_size=4, lr=1e-2), steps, 3, torch.device("cpu"),
                      str(run_dir))
    cfg.train.save_every = save_every
    res = train(cfg, head, ClassificationObjective(), train_data=EpochBatches(labels, 4, 3, features=feats),
                resume=resume, quiet=True)
    return head, res


def test_loop_checkpoints_and_resumes_a_non_llama_model(tmp_path):
    head, res = _run(tmp_path / "a", 6, save_every=3)
    assert res.step == 6 and res.model_dir is None  # no model folder for a non-Llama
    saved = load_file(str(latest_checkpoint(tmp_path / "a") / "model.safetensors"))
    assert set(saved) == set(head.state_dict())
    assert all(torch.equal(saved[k], v) for k, v in head.state_dict().items())
    fresh = HeadOnly(_tiny_classifier())
    load_weights(fresh, latest_checkpoint(tmp_path / "a") / "model.safetensors")
    assert torch.equal(fresh.head.weight, head.head.weight)
    # 6 steps then resume to 10 == 10 steps straight (constant lr, no dropout)
    resumed, res = _run(tmp_path / "a", 10, resume=True)
    straight, _ = _run(tmp_path / "b", 10)
    assert res.step == 10
    for k, v in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=1e-6)
    assert not torch.equal(resumed.head.weight, head.head.weight)


def test_fit_trains_without_a_run_folder_like_train_with_one(tmp_path, monkeypatch):
    """finetuning drives the loop core through `fit`: no run folder and no temporary one, yet the
    same weights as `train` with its run folder."""
    import tempfile

    from babyllama.train import fit

    monkeypatch.chdir(tmp_path)
    for name in ("mkdtemp", "mkstemp", "TemporaryDirectory", "NamedTemporaryFile"):
        monkeypatch.setattr(tempfile, name, lambda *a, **k: (_ for _ in ()).throw(AssertionError("a temp file")))
    feats, labels = torch.randn(12, 16, generator=torch.Generator().manual_seed(1)), [i % 2 for i in range(12)]
    cfg = loop_config(FinetuneConfig(mode="head", epochs=2, batch_size=4, lr=1e-2), 6, 3, torch.device("cpu"))
    seen = []
    head = HeadOnly(_tiny_classifier())
    start = head.head.weight.detach().clone()
    trainer = fit(cfg, head, ClassificationObjective(), EpochBatches(labels, 4, 3, features=feats),
                  callbacks=[lambda step, record: seen.append((step, "loss" in record))])
    assert trainer.step == 6 and seen == [(1, False), (2, False), (3, True), (4, False), (5, False), (6, True)]
    assert list(tmp_path.iterdir()) == [] and not torch.equal(head.head.weight, start)
    monkeypatch.undo()
    with_folder, _ = _run(tmp_path / "run", 6)
    assert torch.equal(with_folder.head.weight, head.head.weight)
