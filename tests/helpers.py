"""Small builders shared by several test files (pytest puts tests/ on sys.path)."""
from __future__ import annotations


def byte_level_bpe(texts: list[str], vocab_size: int, specials: list[str]):
    """A GPT-2 style byte-level BPE `tokenizers.Tokenizer` trained on `texts` (like SmolLM2's)."""
    import tokenizers

    tk = tokenizers.Tokenizer(tokenizers.models.BPE())
    tk.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                             initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(texts, trainer)
    return tk


def noisy_model(seed: int = 0, **config):
    """A babyllama `Llama` in eval mode with N(0, 0.3) weights: larger than the init, so every layer
    matters for the logits and a wrong weight mapping shows."""
    import torch

    from babyllama.model import Llama, LlamaConfig

    torch.manual_seed(seed)
    model = Llama(LlamaConfig(**config)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


def tiny_stories_data(root, n_docs: int = 200, seed: int = 0):
    """A prepared data folder (vocab 300, 10% validation) of short made-up stories under `root`."""
    import random

    from babyllama.data.prepare import prepare

    rng = random.Random(seed)
    names, things = ["Tom", "Lily", "Sam", "Mia"], ["ball", "cat", "kite", "cake", "boat"]
    docs = [f"Once upon a time, {rng.choice(names)} had a {rng.choice(things)}. They played all day and "
            f"were happy." for _ in range(n_docs)]
    (root / "docs.txt").write_text("\n<|endoftext|>\n".join(docs))
    prepare([root / "docs.txt"], root / "prepared", vocab_size=300, progress=False, val_fraction=0.1)
    return root / "prepared"


def write_mmlu(root, subjects=("anatomy", "world_religions"), n_test=4):
    """A small MMLU folder (dev/ and test/ CSVs with the shared copy's header) under `root`."""
    header = "question,choice0,choice1,choice2,choice3,answer\n"
    for split, n in (("dev", 5), ("test", n_test)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for s in subjects:
            rows = [f'"{s} question {i}, part two?",red,blue,"green, dark",yellow,{(i * 3 + len(s)) % 4}\n'
                    for i in range(n)]
            (root / split / f"{s}_{split}.csv").write_text(header + "".join(rows))
    return root


def tiny_base_model(folder, max_seq_len: int = 512):
    """A tiny untrained model folder (dim 32, 2 layers) with a 400-piece story tokenizer, for finetuning runs."""
    import torch

    from babyllama.checkpoint.model_dir import save_model
    from babyllama.data.stories import generate_stories
    from babyllama.model import Llama, LlamaConfig
    from babyllama.tokenizers import train_tokenizer

    tok = train_tokenizer(generate_stories(300), 400)
    torch.manual_seed(0)
    model = Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=tok.vocab_size,
                              multiple_of=16, max_seq_len=max_seq_len))
    save_model(model, folder, tok)
    return folder
