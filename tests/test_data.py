"""Data pipeline: sources (formats and bad input), prepare (shards, manifest, split, clobber), loader."""
from __future__ import annotations

import gzip
import json
import lzma
import random
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from babyllama.cli import main as cli_main
from babyllama.data.loader import TokenLoader, TokenStream, iter_eval_batches
from babyllama.data.prepare import batched, load_manifest, prepare, token_dtype
from babyllama.data.sources import Source, iter_documents, iter_jsonl, normalize_text
from babyllama.tokenizers import Tokenizer, train_tokenizer
from babyllama.utils.io import BabyLlamaError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_docs(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "Lily", "saw", "big", "red",
             "ball", "café", "naïve", "小狗", "🦙", "42", "1999"]
    docs = []
    for _ in range(n):
        paras = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + "."
                 for _ in range(rng.randint(1, 3))]
        docs.append("\n".join(paras))
    return docs


@pytest.fixture(scope="module")
def tok(tmp_path_factory) -> Tokenizer:
    path = tmp_path_factory.mktemp("tok") / "tok.model"
    return train_tokenizer(make_docs(300, seed=1), 320, path, num_threads=1)


def write_jsonl(path: Path, docs: list[str], field: str = "text") -> Path:
    path.write_text("".join(json.dumps({field: d, "id": i}) + "\n" for i, d in enumerate(docs)), encoding="utf-8")
    return path


def docs_of(spec, **kw) -> list[str]:
    return list(Source(str(spec), **kw).documents())


# ---- sources ------------------------------------------------------------------------------------------
def test_normalize_text():
    assert normalize_text("a\r\n\r\n\n  \nb\n\n") == "a\nb"
    assert normalize_text("\n\na\n\nb\n", keep_blank_lines=True) == "a\n\nb"


def test_lines_format(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"\xef\xbb\xbffirst doc\r\n\nsecond doc\n   \nthird\n")
    assert docs_of(p) == ["first doc", "second doc", "third"]
    assert docs_of(p, format="lines") == ["first doc", "second doc", "third"]


def test_delimited_autodetect_and_paragraphs(tmp_path):
    p = tmp_path / "stories.txt"
    p.write_text("Para one.\n\nPara two.\n<|endoftext|>\nSecond story.\nMore.<|endoftext|>Third\n<|endoftext|>\n",
                 encoding="utf-8")
    assert docs_of(p) == ["Para one.\nPara two.", "Second story.\nMore.", "Third"]
    assert docs_of(p, keep_blank_lines=True)[0] == "Para one.\n\nPara two."
    assert Source(str(p)).resolved_format() == "delimited"
    q = tmp_path / "custom.txt"
    q.write_text("x\n=====\ny\n", encoding="utf-8")
    assert docs_of(q, delimiter="=====") == ["x", "y"]
    assert docs_of(q) == ["x", "=====", "y"]  # default delimiter absent -> lines


def test_jsonl_json_parquet_and_compressed(tmp_path):
    docs = make_docs(25, seed=2)
    expect = [normalize_text(d) for d in docs]
    jl = write_jsonl(tmp_path / "d.jsonl", docs, field="story")
    assert docs_of(jl, field="story") == expect
    (tmp_path / "d.json").write_text(json.dumps([{"story": d} for d in docs]), encoding="utf-8")
    assert docs_of(tmp_path / "d.json", field="story") == expect
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"story": docs, "n": list(range(len(docs)))}), tmp_path / "d.parquet", row_group_size=7)
    assert docs_of(tmp_path / "d.parquet", field="story") == expect
    with gzip.open(tmp_path / "d.jsonl.gz", "wb") as f:
        f.write(jl.read_bytes())
    with lzma.open(tmp_path / "d.jsonl.xz", "wb") as f:
        f.write(jl.read_bytes())
    assert docs_of(tmp_path / "d.jsonl.gz", field="story") == expect
    assert docs_of(tmp_path / "d.jsonl.xz", field="story") == expect
    text = "\n<|endoftext|>\n".join(docs)
    with lzma.open(tmp_path / "d.txt.xz", "wt", encoding="utf-8") as f:
        f.write(text)
    assert docs_of(tmp_path / "d.txt.xz") == expect
    assert list(iter_documents([Source(str(jl), field="story"), Source(str(tmp_path / "d.txt.xz"))])) == expect * 2


def test_source_description_hashes_file(tmp_path):
    import hashlib

    p = write_jsonl(tmp_path / "d.jsonl", ["a", "b"])
    d = Source(str(p)).describe()
    assert d["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest() and d["format"] == "jsonl"


@pytest.mark.parametrize("name,content,match", [
    ("empty.txt", b"", r"empty\.txt: empty file"),
    ("bad.txt", b"fine line\nbad \xff byte\n", r"bad\.txt:2: not valid UTF-8"),
    ("bad.jsonl", b'{"text": "ok"}\n{not json}\n', r"bad\.jsonl:2: not valid JSON"),
    ("nofield.jsonl", b'{"text": "ok"}\n\n{"body": "x"}\n', r"nofield\.jsonl:3: no field 'text' \(fields: body\)"),
    ("num.jsonl", b'{"text": 5}\n', r"num\.jsonl:1: field 'text' is int"),
    ("obj.json", b'{"text": "x"}', r"obj\.json: expected a JSON list"),
    ("item.json", b'[{"text": "x"}, {"t": 1}]', r"item\.json: item 1: no field 'text'"),
    ("broken.json", b'[{"text": "x"},\n ]', r"broken\.json:2:\d+: invalid JSON"),
    ("blank.txt", b"\n  \n\n", r"no documents"),
    ("trunc.jsonl.gz", gzip.compress(b'{"text": "abc"}\n' * 50)[:30], r"trunc\.jsonl\.gz.*decompress"),
    ("notpq.parquet", b"this is not parquet", r"notpq\.parquet: not a readable parquet"),
])
def test_bad_inputs(tmp_path, name, content, match):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(BabyLlamaError, match=match):
        docs_of(p)


def test_missing_file_and_parquet_column(tmp_path):
    with pytest.raises(BabyLlamaError, match=r"nope\.txt: file not found"):
        docs_of(tmp_path / "nope.txt")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "c.parquet")
    with pytest.raises(BabyLlamaError, match=r"no field 'text' \(fields: body\)"):
        docs_of(tmp_path / "c.parquet")


def damaged_parquets(folder: Path) -> list[Path]:
    """Parquet files that keep their PAR1 magic but are not readable: random bytes inside, a mangled
    footer, and damaged data pages under an intact footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = folder / "good.parquet"
    pq.write_table(pa.table({"text": [f"doc {i}" for i in range(300)]}), good)
    raw = good.read_bytes()
    end = len(raw) - 8 - int.from_bytes(raw[-8:-4], "little")  # layout: PAR1 pages footer <length> PAR1
    flip = lambda part, x: bytes(b ^ x for b in part)  # noqa: E731
    noise = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    files = {"noise": b"PAR1" + noise + b"PAR1", "footer": raw[:end] + flip(raw[end:-8], 0x5A) + raw[-8:],
             "pages": raw[:4] + flip(raw[4:end], 0xA5) + raw[end:]}
    for name, content in files.items():
        (folder / f"{name}.parquet").write_bytes(content)
    return [folder / f"{name}.parquet" for name in files]


def test_damaged_parquet_is_a_one_line_error_naming_the_file(tmp_path, tok, capsys):
    for bad in damaged_parquets(tmp_path):
        with pytest.raises(BabyLlamaError, match=re.escape(str(bad))) as e:
            docs_of(bad)
        assert "\n" not in str(e.value)
        tok.save(tmp_path / "t.model")
        rc = cli_main(["prepare", "--source", str(bad), "--out", str(tmp_path / f"o_{bad.stem}"),
                       "--tokenizer", str(tmp_path / "t.model"), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and str(bad) in err and len(err.strip().splitlines()) == 1, err


def test_iter_jsonl_lines_and_errors(tmp_path):
    p = tmp_path / "a.jsonl.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write('{"a": 1}\n\n{"b": "x"}\n')
    assert list(iter_jsonl(p)) == [(1, {"a": 1}), (3, {"b": "x"})]
    (tmp_path / "l.jsonl").write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(BabyLlamaError, match=r"l\.jsonl:2: expected a JSON object, got list"):
        list(iter_jsonl(tmp_path / "l.jsonl"))
    with pytest.raises(BabyLlamaError, match=r"nope\.jsonl: file not found"):
        list(iter_jsonl(tmp_path / "nope.jsonl"))


def test_batched():
    assert list(batched(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []


def test_hf_source_without_datasets(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(BabyLlamaError, match="datasets"):
        docs_of("hf:roneneldan/TinyStories")


def test_hf_source_with_stub_datasets(monkeypatch):
    class StubDataset:
        column_names = ["text", "id"]

        def iter(self, batch_size):
            rows = [f"story {i}\n\nend" for i in range(5)]
            for k in range(0, len(rows), batch_size):
                yield {"text": rows[k:k + batch_size], "id": list(range(k, k + batch_size))}

    calls = []

    def load_dataset(name, config=None, split=None):
        calls.append((name, config, split))
        if name == "offline/x":
            raise ConnectionError("Couldn't reach the Hub")
        return StubDataset()

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    assert docs_of("hf:roneneldan/TinyStories:validation") == [f"story {i}\nend" for i in range(5)]
    assert calls[-1] == ("roneneldan/TinyStories", None, "validation")
    with pytest.raises(BabyLlamaError, match=r"hf:offline/x: could not load dataset \(Couldn't reach"):
        docs_of("hf:offline/x")
    with pytest.raises(BabyLlamaError, match="no field 'story'"):
        docs_of("hf:a/b@cfg", field="story")
    assert calls[-1] == ("a/b", "cfg", "train")


def test_builtin_source_uses_story_generator(monkeypatch):
    calls = []

    def fake(n: int, seed: int) -> list[str]:
        calls.append((n, seed))
        return [f"Story {i} seed {seed}.\n\nThe end." for i in range(n)]

    monkeypatch.setitem(sys.modules, "babyllama.data.stories", types.SimpleNamespace(generate_stories=fake))
    assert docs_of("builtin", builtin_stories=3, seed=5) == [f"Story {i} seed 5.\nThe end." for i in range(3)]
    assert calls == [(3, 5)]


# ---- prepare ------------------------------------------------------------------------------------------
def read_split_docs(out: Path, manifest: dict, split: str, tok: Tokenizer) -> list[str]:
    """Independent reader: raw little-endian shards, cut at BOS ids, decoded."""
    dtype = {"uint16": "<u2", "uint32": "<u4"}[manifest["dtype"]]
    docs = []
    for sh in manifest["splits"][split]["shards"]:
        arr = np.fromfile(out / sh["file"], dtype=dtype)
        assert len(arr) == sh["tokens"] and (len(arr) == 0 or arr[0] == tok.bos_id)  # shards hold whole docs
        starts = list(np.flatnonzero(arr == tok.bos_id)) + [len(arr)]
        docs += [tok.decode(arr[a + 1:b].tolist()) for a, b in zip(starts[:-1], starts[1:])]
    return docs


def test_prepare_round_trip_and_counts(tmp_path, tok):
    docs = make_docs(200, seed=3)
    src = write_jsonl(tmp_path / "in.jsonl", docs)
    out = tmp_path / "out"
    m = prepare([str(src)], out, tok, val_fraction=0.2, shard_tokens=500, num_workers=2, progress=False,
                batch_docs=16)
    assert m == load_manifest(out)
    train, val = read_split_docs(out, m, "train", tok), read_split_docs(out, m, "val", tok)
    assert sorted(train + val) == sorted(docs)
    # both splits keep the input order
    pos = {d: i for i, d in enumerate(docs)}
    assert [pos[d] for d in train] == sorted(pos[d] for d in train)
    assert 20 <= len(val) <= 60 and len(m["splits"]["train"]["shards"]) > 1
    for split, ds in (("train", train), ("val", val)):
        s = m["splits"][split]
        assert s["documents"] == len(ds)
        assert s["bytes"] == sum(len(d.encode("utf-8")) for d in ds)
        assert s["tokens"] == sum(len(tok.encode(d, bos=True)) for d in ds)
        assert s["tokens"] == sum(sh["tokens"] for sh in s["shards"])
    assert m["dtype"] == "uint16" and m["vocab_size"] == 320
    assert Tokenizer.load(out / "tokenizer.model").hash == tok.hash == m["tokenizer"]["sha256"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging leftovers
    # same seed, same split; another seed, another split
    m2 = prepare([str(src)], tmp_path / "out2", tok, val_fraction=0.2, seed=0, progress=False)
    assert read_split_docs(tmp_path / "out2", m2, "val", tok) == val
    m3 = prepare([str(src)], tmp_path / "out3", tok, val_fraction=0.2, seed=1, progress=False)
    assert read_split_docs(tmp_path / "out3", m3, "val", tok) != val


def test_prepare_eos_val_docs_and_tiny_corpus(tmp_path, tok):
    docs = make_docs(30, seed=4)
    src = write_jsonl(tmp_path / "in.jsonl", docs)
    m = prepare([str(src)], tmp_path / "a", tok, val_docs=7, eos=True, progress=False)
    assert m["splits"]["val"]["documents"] == 7 and m["splits"]["train"]["documents"] == 23
    arr = np.fromfile(tmp_path / "a" / "val_000.bin", dtype="<u2")
    assert (arr == tok.bos_id).sum() == (arr == tok.eos_id).sum() == 7 and arr[-1] == tok.eos_id
    tiny = write_jsonl(tmp_path / "tiny.jsonl", docs[:3])
    m = prepare([str(tiny)], tmp_path / "b", tok, val_fraction=0.01, seed=3, progress=False)
    assert m["splits"]["val"]["documents"] >= 1 and m["splits"]["train"]["documents"] >= 1


def test_token_dtype_choice():
    assert token_dtype(512) == np.dtype("<u2") and token_dtype(32000) == np.dtype("<u2")
    assert token_dtype(65535) == np.dtype("<u2")
    assert token_dtype(65536) == np.dtype("<u4") and token_dtype(128256) == np.dtype("<u4")


def test_prepare_uint32_for_big_vocab(tmp_path, tok):
    proto = tok.model_proto()
    for i in range(70000 - tok.vocab_size):
        proto.pieces.add(piece=f"\u27e8x{i}\u27e9", score=0.0, type=proto.SentencePiece.USER_DEFINED)
    big = Tokenizer(proto.SerializeToString())
    assert big.vocab_size == 70000
    docs = make_docs(20, seed=5) + ["\u27e8x69000\u27e9 is a high id"]
    src = write_jsonl(tmp_path / "in.jsonl", docs)
    m = prepare([str(src)], tmp_path / "out", big, val_fraction=0.1, progress=False)
    assert m["dtype"] == "uint32"
    got = read_split_docs(tmp_path / "out", m, "train", big) + read_split_docs(tmp_path / "out", m, "val", big)
    assert sorted(got) == sorted(docs)
    arr = np.concatenate([np.fromfile(tmp_path / "out" / sh["file"], dtype="<u4")
                          for s in m["splits"].values() for sh in s["shards"]])
    assert arr.max() > 65535


def test_prepare_refuses_to_clobber(tmp_path, tok):
    src = write_jsonl(tmp_path / "in.jsonl", make_docs(60, seed=6))
    out = tmp_path / "out"
    m = prepare([str(src)], out, tok, shard_tokens=300, progress=False)
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    mtime = (out / "manifest.json").stat().st_mtime_ns
    assert prepare([str(src)], out, tok, shard_tokens=300, progress=False) == m  # same job: nothing to do
    assert (out / "manifest.json").stat().st_mtime_ns == mtime
    with pytest.raises(BabyLlamaError, match="different prepared data set"):
        prepare([str(src)], out, tok, seed=9, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files  # nothing touched
    assert len(m["splits"]["train"]["shards"]) > 1
    m2 = prepare([str(src)], out, tok, seed=9, overwrite=True, progress=False)  # one big shard now
    names = {p.name for p in out.iterdir()}
    assert names == {"manifest.json", "tokenizer.model", "train_000.bin", "val_000.bin"}
    assert load_manifest(out) == m2
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "train_000.bin").write_bytes(b"not ours")
    with pytest.raises(BabyLlamaError, match="no manifest.json"):
        prepare([str(src)], stray, tok, progress=False)
    assert (stray / "train_000.bin").read_bytes() == b"not ours"
    prepare([str(src)], stray, tok, overwrite=True, progress=False)
    assert load_manifest(stray)["splits"]["train"]["documents"] > 0


def test_prepare_trains_tokenizer(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", make_docs(150, seed=7))
    m = prepare([str(src)], tmp_path / "out", vocab_size=300, progress=False)
    t = Tokenizer.load(tmp_path / "out" / "tokenizer.model")
    assert t.vocab_size == m["vocab_size"] == 300 and t.hash == m["tokenizer"]["sha256"]
    with pytest.raises(BabyLlamaError, match="--vocab-size"):
        prepare([str(src)], tmp_path / "x", progress=False)


def test_load_manifest_errors(tmp_path, tok):
    with pytest.raises(BabyLlamaError, match="not found"):
        load_manifest(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BabyLlamaError, match=r"manifest\.json: not found"):
        load_manifest(tmp_path / "empty")
    out = tmp_path / "out"
    prepare([str(write_jsonl(tmp_path / "in.jsonl", make_docs(40)))], out, tok, progress=False)
    m = json.loads((out / "manifest.json").read_text())
    with open(out / "train_000.bin", "r+b") as f:
        f.truncate(10)
    with pytest.raises(BabyLlamaError, match=r"train_000\.bin: 10 bytes"):
        load_manifest(out)
    m["version"] = 99
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BabyLlamaError, match="'version' is 99"):
        load_manifest(out)


def test_cli_prepare(tmp_path, tok, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", make_docs(40, seed=8), field="body")
    tok.save(tmp_path / "t.model")
    rc = cli_main(["prepare", "--source", str(src), "--field", "body", "--out", str(tmp_path / "o"),
                   "--tokenizer", str(tmp_path / "t.model"), "--val-fraction", "0.1", "--quiet"])
    assert rc == 0 and load_manifest(tmp_path / "o")["splits"]["train"]["documents"] > 0
    rc = cli_main(["prepare", "--source", str(src), "--out", str(tmp_path / "p"), "--tokenizer",
                   str(tmp_path / "t.model"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "in.jsonl:1: no field 'text'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p" / "manifest.json").exists()


# ---- loader -------------------------------------------------------------------------------------------
def make_stream_dir(path: Path, shard_sizes: list[int], vocab: int = 1000) -> np.ndarray:
    """A hand-written data folder whose train stream is 0, 1, 2, ... (mod vocab) across several shards."""
    path.mkdir()
    stream = (np.arange(sum(shard_sizes)) % vocab).astype("<u2")
    shards, off = [], 0
    for k, n in enumerate(shard_sizes):
        stream[off:off + n].tofile(path / f"train_{k:03d}.bin")
        shards.append({"file": f"train_{k:03d}.bin", "tokens": n})
        off += n
    (path / "val_000.bin").write_bytes(b"")
    manifest = {"format": "babyllama-tokens", "version": 1, "dtype": "uint16", "vocab_size": vocab,
                "splits": {"train": {"documents": 1, "tokens": len(stream), "bytes": 0, "shards": shards},
                           "val": {"documents": 0, "tokens": 0, "bytes": 0,
                                   "shards": [{"file": "val_000.bin", "tokens": 0}]}}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return stream.astype(np.int64)


T = 8


@pytest.fixture()
def data(tmp_path) -> tuple[Path, np.ndarray]:
    d = tmp_path / "d"
    return d, make_stream_dir(d, [100, 37, 200, 4])  # 341 tokens -> 42 windows of 8+1


def test_batches_are_windows_of_the_stream(data):
    d, stream = data
    loader = TokenLoader(d, "train", 6, T, seed=3)
    assert loader.num_windows == (len(stream) - 1) // T == 42
    starts = []
    for _ in range(7):  # exactly one epoch: 7 * 6 = 42 windows
        x, y = loader.next_batch()
        assert x.shape == y.shape == (6, T) and x.dtype == y.dtype == torch.int64
        for row_x, row_y in zip(x.numpy(), y.numpy()):
            s = int(row_x[0])
            assert s % T == 0
            assert np.array_equal(row_x, stream[s:s + T]) and np.array_equal(row_y, stream[s + 1:s + T + 1])
            starts.append(s)
    assert sorted(starts) == [i * T for i in range(42)]  # each window exactly once per epoch
    assert starts != sorted(starts)  # shuffled
    assert loader.epoch == 1


def test_token_stream_chunks_cover_the_stream_across_shards(data):
    d, stream = data
    chunks = list(TokenStream(d, "train").chunks(50))
    assert [len(c) for c in chunks] == [50] * 6 + [41]
    assert np.array_equal(np.concatenate(chunks), stream)


def test_epochs_reshuffle_deterministically(data):
    d, _ = data

    def order(seed: int, shuffle: bool = True) -> list[list[int]]:
        ld = TokenLoader(d, "train", 7, T, seed=seed, shuffle=shuffle)
        epochs = []
        for _ in range(3):
            epochs.append([int(v) for _ in range(6) for v in ld.next_batch()[0][:, 0]])
        return epochs

    a = order(0)
    assert a == order(0)
    assert a[0] != a[1] != a[2] and sorted(a[0]) == sorted(a[1]) == sorted(a[2])
    assert order(1)[0] != a[0]
    assert order(0, shuffle=False) == [[i * T for i in range(42)]] * 3


def test_state_dict_resume_is_exact(data):
    d, _ = data
    ld = TokenLoader(d, "train", 5, T, seed=11)
    for _ in range(10):  # crosses an epoch boundary (42 windows, 5 per batch)
        ld.next_batch()
    state = json.loads(json.dumps(ld.state_dict()))
    expect = [ld.next_batch() for _ in range(12)]
    resumed = TokenLoader(d, "train", 5, T, seed=999)
    resumed.load_state_dict(state)
    for (x1, y1), (x2, y2) in zip(expect, (resumed.next_batch() for _ in range(12))):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    with pytest.raises(BabyLlamaError, match="seq_len"):
        TokenLoader(d, "train", 5, T + 1).load_state_dict(state)


def test_rank_union_equals_single_process(data):
    d, _ = data
    single = TokenLoader(d, "train", 10, T, seed=4)
    ranks = [TokenLoader(d, "train", 5, T, seed=4, rank=r, world_size=2) for r in range(2)]
    for _ in range(9):  # several epochs' worth, batches straddling epoch ends
        x, y = single.next_batch()
        parts = [r.next_batch() for r in ranks]
        assert torch.equal(torch.cat([p[0] for p in parts]), x)
        assert torch.equal(torch.cat([p[1] for p in parts]), y)
    assert ranks[0].state_dict() == ranks[1].state_dict() == single.state_dict()


def test_loader_errors(data):
    d, stream = data
    with pytest.raises(BabyLlamaError, match="fewer than seq_len"):
        TokenLoader(d, "train", 1, len(stream))
    with pytest.raises(BabyLlamaError, match="split 'val' has no tokens"):
        TokenLoader(d, "val", 1, 4)
    with pytest.raises(BabyLlamaError, match="rank"):
        TokenLoader(d, "train", 1, 4, rank=2, world_size=2)


def test_eval_batches_in_order(data):
    d, stream = data
    batches = list(iter_eval_batches(d, "train", 4, T))
    assert [len(x) for x, _ in batches] == [4] * 10 + [2]
    xs = torch.cat([x for x, _ in batches]).numpy()
    ys = torch.cat([y for _, y in batches]).numpy()
    assert np.array_equal(xs.reshape(-1), stream[:42 * T]) and np.array_equal(ys.reshape(-1), stream[1:42 * T + 1])
    assert len(list(iter_eval_batches(d, "train", 4, T, max_batches=3))) == 3
    r0 = list(iter_eval_batches(d, "train", 4, T, rank=0, world_size=2))
    r1 = list(iter_eval_batches(d, "train", 4, T, rank=1, world_size=2))
    merged = [b for pair in zip(r0, r1 + [None]) for b in pair if b is not None]
    assert all(torch.equal(a[0], b[0]) for a, b in zip(merged, batches)) and len(merged) == len(batches)


def test_loader_on_prepared_data(tmp_path, tok):
    out = tmp_path / "out"
    prepare([str(write_jsonl(tmp_path / "in.jsonl", make_docs(80)))], out, tok, val_fraction=0.25, progress=False)
    x, y = TokenLoader(out, "val", 2, 16).next_batch()
    assert x.shape == (2, 16) and int(x.max()) < tok.vocab_size
    assert len(list(iter_eval_batches(out, "validation", 2, 16))) > 0


# ---- real data ------------------------------------------------------------------------------------------
@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_tinystories_files_with_tok512(tmp_path):
    train = SHARED / "tinystories" / "TinyStories-train-head.txt"
    valid = SHARED / "tinystories" / "TinyStories-valid-head.paragraphs.txt"
    stories = docs_of(train)
    assert len(stories) == 2316 and stories[0].startswith("One day, a little girl named Lily found a needle")
    assert all("\n\n" not in s and "<|endoftext|>" not in s for s in stories)
    paras = docs_of(valid)
    assert paras[0].startswith("Spot. Spot saw the shiny car") and all("\n" not in p for p in paras)
    tok = Tokenizer.load(SHARED / "llama2c" / "tok512.bin")
    m = prepare([str(valid)], tmp_path / "v", tok, val_fraction=0.1, progress=False)
    got = read_split_docs(tmp_path / "v", m, "train", tok) + read_split_docs(tmp_path / "v", m, "val", tok)
    assert sorted(got) == sorted(paras)
    ru = docs_of(SHARED / "stories_ru" / "tinystories_ru_dev.jsonl.xz", field="story")
    assert len(ru) == 738
