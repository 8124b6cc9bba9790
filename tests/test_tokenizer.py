"""Tokenizers: training, encode/decode round trips, llama2.c tokenizer.bin reading/writing, extension,
loading any kind by content, CLI."""
from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest

from babyllama.cli import main as cli_main
from babyllama.data.sources import Source, iter_documents
from babyllama.tokenizers import (
    BPETokenizer,
    Tokenizer,
    extend_tokenizer,
    llama2c_tokenizer_bytes,
    load_tokenizer,
    save_llama2c_tokenizer,
    train_tokenizer,
)
from babyllama.utils.io import BabyLlamaError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LLAMA_BIN = SHARED / "llama2c_tokenizer" / "tokenizer.bin"
LLAMA_MODEL = SHARED / "llama2c_tokenizer" / "tokenizer.model"
TOK512 = SHARED / "llama2c" / "tok512.bin"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")


def make_corpus(n_docs: int = 300, seed: int = 0, alphabet: str = "abcdefghijklmnoprstuvw") -> list[str]:
    """Pseudo-English documents: random syllable words, sentences, numbers, two paragraphs each."""
    rng = random.Random(seed)
    syllables = [a + b for a in alphabet for b in "aeiou"] + ["th", "sh", "ing", "er", "ly"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(400)]
    docs = []
    for _ in range(n_docs):
        paras = []
        for _ in range(2):
            sent = " ".join(rng.choice(words) for _ in range(rng.randint(5, 15)))
            paras.append(sent.capitalize() + f", {rng.randint(0, 9999)}.")
        docs.append("\n".join(paras))
    return docs


@pytest.fixture(scope="module")
def tok512(tmp_path_factory) -> Tokenizer:
    out = tmp_path_factory.mktemp("tok") / "t512.model"
    return train_tokenizer(make_corpus(), 512, out, num_threads=1)


TEXTS = [
    "Hello world, this is plain ASCII.",
    "Naïve café façade — déjà vu; Ærøskøbing.",
    "中文測試：小兔子在森林裡。",
    "Emoji 🦙🎉 and 👩‍👩‍👧 families",
    "  two leading spaces, trailing  ",
    "line one\nline two\n\nafter blank",
    "digits 0123456789 and tabs\tend",
]


def test_train_512_llama_settings(tok512, tmp_path):
    assert tok512.vocab_size == 512
    assert (tok512.unk_id, tok512.bos_id, tok512.eos_id) == (0, 1, 2)
    assert tok512.pad_id == tok512.eos_id  # no pad piece: pad falls back to EOS
    proto = tok512.model_proto()
    assert proto.trainer_spec.byte_fallback and proto.trainer_spec.split_digits
    assert proto.normalizer_spec.add_dummy_prefix and not proto.normalizer_spec.remove_extra_whitespaces
    pieces = [tok512.id_to_piece(i) for i in range(512)]
    assert pieces[3:259] == [f"<0x{b:02X}>" for b in range(256)]
    # digits split: no piece holds two digits
    assert not any(sum(c.isdigit() for c in p) > 1 for p in pieces[259:])
    # saved file is the same model; training is deterministic
    again = train_tokenizer(make_corpus(), 512, tmp_path / "again.model", num_threads=1)
    assert Tokenizer.load(tmp_path / "again.model").hash == again.hash == tok512.hash


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip(tok512, text):
    ids = tok512.encode(text, bos=False)
    assert tok512.decode(ids) == text
    assert all(0 <= i < tok512.vocab_size for i in ids)


def test_byte_fallback_pieces_are_utf8_bytes(tok512):
    ids = tok512.encode("🦙", bos=False)
    pieces = [tok512.id_to_piece(i) for i in ids]
    byte_pieces = [p for p in pieces if p.startswith("<0x")]
    assert bytes(int(p[3:5], 16) for p in byte_pieces) == "🦙".encode("utf-8")


def test_bos_eos_explicit(tok512):
    text = "Once upon a time"
    plain = tok512.encode(text, bos=False, eos=False)
    both = tok512.encode(text, bos=True, eos=True)
    assert both == [tok512.bos_id] + plain + [tok512.eos_id]
    assert tok512.encode(text) == [tok512.bos_id] + plain  # default: BOS only
    assert tok512.decode(both) == tok512.decode(plain) == text
    with pytest.raises(ValueError):
        tok512.decode([tok512.vocab_size])


def test_pickle(tok512):
    import pickle

    again = pickle.loads(pickle.dumps(tok512))
    assert again.hash == tok512.hash and again.encode(TEXTS[1]) == tok512.encode(TEXTS[1])


def test_encode_batch_matches_encode(tok512):
    assert tok512.encode_batch(TEXTS, bos=True, eos=True, num_threads=2) == [
        tok512.encode(t, bos=True, eos=True) for t in TEXTS
    ]


def test_load_detects_kind_by_content(tok512, tmp_path):
    tok512.save(tmp_path / "looks_like.bin")  # a .model under a .bin name
    assert Tokenizer.load(tmp_path / "looks_like.bin").hash == tok512.hash
    save_llama2c_tokenizer(tok512, tmp_path / "looks_like.model")  # a llama2.c bin under a .model name
    from_bin = Tokenizer.load(tmp_path / "looks_like.model")
    assert [from_bin.id_to_piece(i) for i in range(512)] == [tok512.id_to_piece(i) for i in range(512)]
    for t in TEXTS:
        assert from_bin.encode(t) == tok512.encode(t)
    (tmp_path / "folder").mkdir()
    tok512.save(tmp_path / "folder" / "tokenizer.model")
    assert Tokenizer.load(tmp_path / "folder").hash == tok512.hash


def test_export_layout(tok512, tmp_path):
    data = llama2c_tokenizer_bytes(tok512)
    (max_len,) = struct.unpack_from("<I", data, 0)
    off, toks = 4, []
    while off < len(data):
        score, n = struct.unpack_from("<fI", data, off)
        toks.append((data[off + 8:off + 8 + n], score))
        off += 8 + n
    assert len(toks) == 512 and max_len == max(len(t) for t, _ in toks)
    assert toks[1][0] == b"\n<s>\n" and toks[2][0] == b"\n</s>\n" and toks[0][0] == b"<unk>"
    proto = tok512.model_proto()
    for i in range(3, 512):
        assert toks[i][0] == proto.pieces[i].piece.replace("\u2581", " ").encode()
        assert toks[i][1] == pytest.approx(proto.pieces[i].score)


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage that is not a tokenizer\xff"])
def test_load_bad_files(tmp_path, content):
    p = tmp_path / "bad.model"
    p.write_bytes(content)
    with pytest.raises(BabyLlamaError, match="bad.model"):
        Tokenizer.load(p)
    with pytest.raises(BabyLlamaError, match="not found"):
        Tokenizer.load(tmp_path / "missing.model")


def test_load_tokenizer_detects_each_kind_by_content(tok512, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    tok512.save(tmp_path / "sp.json")  # names lie on purpose: the content decides
    save_llama2c_tokenizer(tok512, tmp_path / "l2c.json")
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    bpe.train_from_iterator(make_corpus(50), tokenizers.trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>"]))
    (tmp_path / "hf").mkdir()
    bpe.save(str(tmp_path / "hf" / "tokenizer.model.bin"))
    sp, l2c = load_tokenizer(tmp_path / "sp.json"), load_tokenizer(tmp_path / "l2c.json")
    from_json = load_tokenizer(tmp_path / "hf" / "tokenizer.model.bin", bos_id=0)
    assert isinstance(sp, Tokenizer) and sp.hash == tok512.hash
    assert isinstance(l2c, Tokenizer) and all(l2c.encode(t) == tok512.encode(t) for t in TEXTS)
    assert isinstance(from_json, BPETokenizer) and from_json.vocab_size == bpe.get_vocab_size()
    assert from_json.encode("Tha shi") == [0] + bpe.encode("Tha shi").ids
    (tmp_path / "hf" / "tokenizer.model.bin").rename(tmp_path / "hf" / "tokenizer.json")
    assert load_tokenizer(tmp_path / "hf").hash == from_json.hash  # a folder: its tokenizer.json


def test_load_tokenizer_errors_name_the_file(tmp_path):
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01 not a tokenizer at all \xff")
    with pytest.raises(BabyLlamaError, match=r"junk\.bin: not a tokenizer babyllama reads"):
        load_tokenizer(tmp_path / "junk.bin")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BabyLlamaError, match="empty: folder has no tokenizer.model or tokenizer.json"):
        load_tokenizer(tmp_path / "empty")
    with pytest.raises(BabyLlamaError, match="missing.model: tokenizer file not found"):
        load_tokenizer(tmp_path / "missing.model")


def test_train_from_files(tmp_path):
    docs = make_corpus(80, seed=3)
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"body": d}) + "\n" for d in docs), encoding="utf-8")
    texts = iter_documents([Source(str(tmp_path / "a.jsonl"), field="body")])
    tok = train_tokenizer(texts, 400, tmp_path / "j.model")
    assert tok.vocab_size == 400 and (tmp_path / "j.model").is_file()
    (tmp_path / "a.txt").write_text("\n".join(docs), encoding="utf-8")
    tok2 = train_tokenizer(iter_documents([tmp_path / "a.txt"]), 400, None)
    assert tok2.decode(tok2.encode(docs[0])) == docs[0]
    # training takes texts, never paths: a path is refused rather than read as one document
    with pytest.raises(TypeError, match="iter_documents"):
        train_tokenizer(tmp_path / "a.txt", 400)
    with pytest.raises(TypeError, match="str documents"):
        train_tokenizer([tmp_path / "a.txt"], 400)


def test_train_errors(tmp_path):
    with pytest.raises(BabyLlamaError, match="vocab"):
        train_tokenizer(["tiny text only"] * 5, 4000, tmp_path / "x.model")
    with pytest.raises(BabyLlamaError, match="no text"):
        train_tokenizer(["", "  \n "], 300, tmp_path / "y.model")
    assert not (tmp_path / "x.model").exists() and not (tmp_path / "y.model").exists()


def test_extend_keeps_old_ids(tok512, tmp_path):
    new_docs = make_corpus(200, seed=7, alphabet="бвгдзклмнпрстфхцчшщ")
    new_docs = [d.replace("a", "а").replace("e", "е").replace("o", "о").replace("u", "у").replace("i", "и")
                for d in new_docs]
    ext = extend_tokenizer(tok512, new_docs, 100, tmp_path / "ext.model", num_threads=1)
    assert Tokenizer.load(tmp_path / "ext.model").hash == ext.hash
    assert 0 < ext.vocab_size - 512 <= 100
    old, new = tok512.model_proto(), ext.model_proto()
    for i in range(512):
        assert (new.pieces[i].piece, new.pieces[i].score, new.pieces[i].type) == (
            old.pieces[i].piece, old.pieces[i].score, old.pieces[i].type)
    added = [p.piece for p in new.pieces[512:]]
    assert len(set(added)) == len(added) and not set(added) & {p.piece for p in old.pieces}
    assert max(p.score for p in new.pieces[512:]) < min(p.score for p in old.pieces)
    sample = make_corpus(5, seed=99, alphabet="бвгдзклмнпрст")[0]
    assert len(ext.encode(sample)) < len(tok512.encode(sample))
    assert ext.decode(ext.encode(sample)) == sample
    assert (ext.bos_id, ext.eos_id) == (1, 2)


def test_cli_train_tokenizer(tmp_path, capsys):
    src = tmp_path / "corpus.txt"
    src.write_text("\n".join(make_corpus(60)), encoding="utf-8")
    out = tmp_path / "cli.model"
    rc = cli_main(["train-tokenizer", "--input", str(src), "--vocab-size", "400", "--out", str(out),
                   "--export-bin", str(tmp_path / "cli.bin"), "--threads", "1"])
    assert rc == 0
    tok = Tokenizer.load(out)
    assert tok.vocab_size == 400
    assert Tokenizer.load(tmp_path / "cli.bin").encode("Tha shi") == tok.encode("Tha shi")
    rc = cli_main(["train-tokenizer", "--input", str(tmp_path / "nope.txt"), "--vocab-size", "320",
                   "--out", str(tmp_path / "n.model")])
    err = capsys.readouterr().err
    assert rc == 2 and "nope.txt" in err and len(err.strip().splitlines()) == 1


# ---- real tokenizers from ../shared/data ---------------------------------------------------------------
def _real_lines() -> list[str]:
    lines = (SHARED / "wikitext2" / "wiki.test.raw").read_text(encoding="utf-8").splitlines()[:200]
    lines += (SHARED / "tinystories" / "TinyStories-valid-head.paragraphs.txt").read_text(
        encoding="utf-8").splitlines()[:100]
    with open(SHARED / "stories_zh" / "tinychinesestories_dev.jsonl", encoding="utf-8") as f:
        lines += [json.loads(next(f))["story"] for _ in range(30)]
    return lines + TEXTS


@pytest.mark.shared
@needs_shared
def test_llama2c_bin_matches_sentencepiece_model():
    from_bin, from_model = Tokenizer.load(LLAMA_BIN), Tokenizer.load(LLAMA_MODEL)
    assert from_bin.vocab_size == from_model.vocab_size == 32000
    assert (from_bin.bos_id, from_bin.eos_id) == (from_model.bos_id, from_model.eos_id)
    lines = _real_lines()
    assert len(lines) > 300
    assert from_bin.encode_batch(lines, bos=True, eos=True) == from_model.encode_batch(lines, bos=True, eos=True)
    ids = from_model.encode(lines[-1])
    assert from_bin.decode(ids) == from_model.decode(ids)


@pytest.mark.shared
@needs_shared
@pytest.mark.parametrize("path", [TOK512, LLAMA_BIN], ids=["tok512", "llama32000"])
def test_llama2c_bin_round_trip(path, tmp_path):
    tok = Tokenizer.load(path)
    save_llama2c_tokenizer(tok, tmp_path / "again.bin")
    assert (tmp_path / "again.bin").read_bytes() == path.read_bytes()


@pytest.mark.shared
@needs_shared
def test_export_of_real_model_equals_published_bin(tmp_path):
    save_llama2c_tokenizer(Tokenizer.load(LLAMA_MODEL), tmp_path / "t.bin")
    assert (tmp_path / "t.bin").read_bytes() == LLAMA_BIN.read_bytes()
    tok = Tokenizer.load(TOK512)
    assert tok.vocab_size == 512
    story = "Once upon a time, there was a little girl named Lily."
    assert tok.decode(tok.encode(story)) == story
