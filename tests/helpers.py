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
