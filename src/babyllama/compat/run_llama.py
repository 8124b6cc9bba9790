"""`python -m babyllama.compat.run_llama`: the CMU minllama assignment's run_llama.py, on babyllama.

Same flags, defaults and output files as the assignment, so its commands run unchanged:

    python -m babyllama.compat.run_llama --option prompt --train data/sst-train.txt --dev data/sst-dev.txt \\
        --test data/sst-test.txt --label-names data/sst-label-mapping.json \\
        --dev_out sst-dev-prompting-output.txt --test_out sst-test-prompting-output.txt

--pretrained-model-path takes anything babyllama loads (llama2.c stories42M.pt / .bin, a babyllama
model folder, HF, GGUF). The tokenizer comes with the model, else ./tokenizer.model as in the
assignment, else --tokenizer (our one optional addition). Known flaws of the assignment are fixed:
batches are left-padded with an attention mask, the classifier reads the last real token, and
prompting scores the label after the prompt rather than at the first position.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import torch

from babyllama.utils.device import seed_everything
from babyllama.utils.io import BabyLlamaError, atomic_path

PREFIX = ("I have wanted to see this thriller for a while, and it didn't disappoint. "
          "Keanu Reeves, playing the hero John Wick, is")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m babyllama.compat.run_llama",
                                description="minllama's run_llama.py on any model babyllama loads")
    p.add_argument("--train", type=str, default="data/cfimdb-train.txt")
    p.add_argument("--dev", type=str, default="data/cfimdb-dev.txt")
    p.add_argument("--test", type=str, default="data/cfimdb-test.txt")
    p.add_argument("--label-names", type=str, default="data/cfimdb-label-mapping.json")
    p.add_argument("--pretrained-model-path", type=str, default="stories42M.pt")
    p.add_argument("--max_sentence_len", type=int, default=None)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--option", type=str, choices=("generate", "prompt", "finetune"), default="generate",
                   help="prompt: the Llama parameters are frozen; finetune: Llama parameters are updated")
    p.add_argument("--use_gpu", action="store_true")
    p.add_argument("--generated_sentence_low_temp_out", type=str, default="generated-sentence-temp-0.txt")
    p.add_argument("--generated_sentence_high_temp_out", type=str, default="generated-sentence-temp-1.txt")
    p.add_argument("--dev_out", type=str, default="cfimdb-dev-prompting-output.txt")
    p.add_argument("--test_out", type=str, default="cfimdb-test-prompting-output.txt")
    p.add_argument("--batch_size", help="sst: 64, cfimdb: 8 can fit a 12GB GPU", type=int, default=8)
    p.add_argument("--hidden_dropout_prob", type=float, default=0.3)
    p.add_argument("--lr", type=float, default=1e-5,
                   help="learning rate, default lr for 'pretrain': 1e-3, 'finetune': 1e-5")
    p.add_argument("--tokenizer", type=str, default=None,
                   help="(babyllama) tokenizer file when the model has none and ./tokenizer.model is absent")
    return p


def _device(args: argparse.Namespace) -> torch.device:
    if args.use_gpu:
        if torch.cuda.is_available():
            return torch.device("cuda")
        print("--use_gpu given but CUDA is not available; running on CPU", file=sys.stderr)
    return torch.device("cpu")


def _load(args: argparse.Namespace):
    from babyllama.loading import load

    return load(args.pretrained_model_path, args.tokenizer, device=_device(args),
                         default_tokenizer="tokenizer.model")


def _write_predictions(split: str, path: str, acc: float, preds: Sequence[int], sents: Sequence[str]) -> None:
    from babyllama.classify.data import write_predictions

    print(f"{split} acc :: {acc :.3f}")
    write_predictions(path, preds, sents)


def _read(path: str, num_labels: int | None = None):
    from babyllama.classify.data import check_labels, read_label_file

    examples = read_label_file(path)
    print(f"load {len(examples)} data from {path}")
    if num_labels is not None:
        check_labels(examples, num_labels, path)
    return examples


def generate(args: argparse.Namespace) -> None:
    from babyllama.decode import generate as decode

    model, tokenizer = _load(args)
    print(f"load model from {args.pretrained_model_path}")
    for temperature, out in ((0.0, args.generated_sentence_low_temp_out), (1.0, args.generated_sentence_high_temp_out)):
        r = decode(model, tokenizer, PREFIX, max_new_tokens=75, temperature=temperature, seed=args.seed,
                   ignore_eos=True)[0]
        sentence = tokenizer.decode(r.prompt_tokens + r.tokens)
        print(f"Temperature is {temperature}")
        print(sentence)
        print("---------------")
        with atomic_path(out) as tmp:
            tmp.write_text(sentence, encoding="utf-8")
        print(f"Wrote generated sentence to {out}.")


def _label_count(args: argparse.Namespace, names: list[str]) -> int:
    train = _read(args.train)
    n = len({e.label for e in train})
    if n != len(names):
        raise BabyLlamaError(f"{args.train}: {n} distinct labels but {args.label_names} names {len(names)}; "
                             f"the label-name file must name every label")
    return n


def _check_args(args: argparse.Namespace, kind: str) -> None:
    """The assignment's output names ("<dataset>-dev-<kind>-output.txt") and a sentence cut of >= 1 token."""
    from babyllama.classify.experiment import check_max_len

    for flag, end in (("dev_out", f"dev-{kind}-output.txt"), ("test_out", f"test-{kind}-output.txt")):
        if not getattr(args, flag).endswith(end):
            raise BabyLlamaError(f"--{flag} {getattr(args, flag)!r}: for {kind} results it must end in {end!r} "
                                 f"(\"<dataset>-{end}\"), as the assignment requires")
    check_max_len(args.max_sentence_len, "--max_sentence_len")


def prompt(args: argparse.Namespace) -> None:
    from babyllama.classify.experiment import prompt_predictions, read_label_names
    from babyllama.classify.prompting import DEFAULT_TEMPLATE, render

    _check_args(args, "prompting")
    names = read_label_names(args.label_names, "--label-names")
    num_labels = _label_count(args, names)
    model, tokenizer = _load(args)
    for split, path, out in (("dev", args.dev, args.dev_out), ("test", args.test, args.test_out)):
        examples = _read(path, num_labels)
        p = prompt_predictions(model, tokenizer, examples, names, batch_size=args.batch_size,
                               max_len=args.max_sentence_len)
        # minllama writes the prompted sentence, "<sentence> Is this movie bad or good? This movie is "
        _write_predictions(split, out, p.accuracy, p.preds,
                           [render(DEFAULT_TEMPLATE, e.text, names) + " " for e in examples])


def finetune(args: argparse.Namespace) -> None:
    from babyllama.classify.experiment import classifier_predictions
    from babyllama.classify.finetune import FinetuneConfig, finetune as run_finetune
    from babyllama.classify.head import Classifier

    _check_args(args, "finetuning")
    train = _read(args.train)
    num_labels = max(len({e.label for e in train}), max(e.label for e in train) + 1)
    dev = _read(args.dev, num_labels)
    model, tokenizer = _load(args)
    cfg = FinetuneConfig(mode="full", epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                         eval_batch_size=max(args.batch_size, 32), dropout=args.hidden_dropout_prob,
                         max_text_tokens=args.max_sentence_len)
    result = run_finetune(model, tokenizer, {"train": train, "dev": dev}, num_labels, cfg, seed=args.seed,
                          log=print, keep_model=True)
    clf = result.classifier
    state = {"model": {k: v.detach().cpu() for k, v in clf.state_dict().items()}, "num_labels": num_labels,
             "model_config": clf.backbone.config.to_dict(), "dropout": args.hidden_dropout_prob,
             "best_epoch": result.best_epoch, "dev_acc": result.dev_acc}
    with atomic_path(args.filepath) as tmp:
        torch.save(state, tmp)
    print(f"save the model to {args.filepath}")

    # step 4, as the assignment: reload the saved classifier and evaluate dev and test
    saved = torch.load(args.filepath, map_location="cpu", weights_only=True)
    clf = Classifier(clf.backbone, saved["num_labels"], saved["dropout"], train_backbone=True)
    clf.load_state_dict(saved["model"])
    clf.to(_device(args)).eval()
    print(f"load model from {args.filepath}")
    for split, path, out in (("dev", args.dev, args.dev_out), ("test", args.test, args.test_out)):
        examples = dev if split == "dev" else _read(path, num_labels)
        p = classifier_predictions(clf, tokenizer, examples, max_len=args.max_sentence_len,
                                   batch_size=cfg.eval_batch_size)
        _write_predictions(split, out, p.accuracy, p.preds, [e.text for e in examples])


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    print(f"args: {vars(args)}")
    args.filepath = f"{args.option}-{args.epochs}-{args.lr}.pt"
    seed_everything(args.seed)
    try:
        {"generate": generate, "prompt": prompt, "finetune": finetune}[args.option](args)
    except BabyLlamaError as e:
        print(f"run_llama: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
