"""Web-scale prepare: many inputs and compressions, parallel = serial, filters, bad input, full disk, resume checks."""
from __future__ import annotations

import errno
import gzip
import json
import lzma
import random
import re
from pathlib import Path

import numpy as np
import pytest

from babyllama.cli import main as cli_main
from babyllama.data import prepare as prep_mod
from babyllama.data import shards as shards_mod
from babyllama.data.filters import Filters, SeenHashes
from babyllama.data.prepare import WORK_DIR, load_manifest, prepare
from babyllama.data.sources import Source, normalize_text
from babyllama.tokenizers import Tokenizer, train_tokenizer
from babyllama.utils.io import BabyLlamaError

zstd = pytest.importorskip("zstandard")
WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "Lily", "saw", "big", "red", "ball",
         "and", "was", "happy", "with", "her", "café", "42"]


def make_docs(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30))) + "."
                      for _ in range(rng.randint(1, 3))) for _ in range(n)]


@pytest.fixture(scope="module")
def tok(tmp_path_factory) -> Tokenizer:
    return train_tokenizer(make_docs(300, seed=1), 300, tmp_path_factory.mktemp("tok") / "t.model", num_threads=1)


def jsonl_bytes(docs: list[str]) -> bytes:
    return "".join(json.dumps({"text": d}) + "\n" for d in docs).encode("utf-8")


def decoded(out: Path, tok: Tokenizer, split: str = "train") -> list[str]:
    """Independent reader: the raw shards of a split, cut at BOS, decoded."""
    m = json.loads((out / "manifest.json").read_text())
    arr = np.concatenate([np.fromfile(out / sh["file"], dtype="<u2") for sh in m["splits"][split]["shards"]]
                         or [np.zeros(0, "<u2")])
    starts = list(np.flatnonzero(arr == tok.bos_id)) + [len(arr)]
    return [tok.decode(arr[a + 1:b].tolist()) for a, b in zip(starts[:-1], starts[1:])]


def all_docs(out: Path, tok: Tokenizer) -> list[str]:
    return decoded(out, tok, "train") + decoded(out, tok, "val")


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix == ".bin"}


def run_prepare(src, out, tok, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("shard_tokens", 400)
    return prepare(src if isinstance(src, list) else [src], out, tok, **kw)


# ---- inputs ----------------------------------------------------------------------------------------------
def test_folder_glob_and_compressions(tmp_path, tok):
    docs = make_docs(60, seed=2)
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("".join(x.replace("\n", " ") + "\n" for x in docs[:10]))  # one document per line
    (d / "b.jsonl.gz").write_bytes(gzip.compress(jsonl_bytes(docs[10:25])))
    (d / "sub" / "c.jsonl.zst").write_bytes(zstd.ZstdCompressor().compress(jsonl_bytes(docs[25:40])))
    (d / "sub" / "d.jsonl.xz").write_bytes(lzma.compress(jsonl_bytes(docs[40:60])))
    (d / ".hidden.txt").write_text("never read\n")
    (d / "notes.bin").write_bytes(b"\x00\x01")
    src = Source(str(d))
    assert [u.path.name for u in src.units()] == ["a.txt", "b.jsonl.gz", "c.jsonl.zst", "d.jsonl.xz"]
    expect = [x.replace("\n", " ") for x in docs[:10]] + [normalize_text(x) for x in docs[10:60]]
    assert list(src.documents()) == expect
    assert list(Source(str(d / "**" / "*.jsonl.*")).documents()) == [normalize_text(x) for x in docs[10:60]]
    m = run_prepare(src, tmp_path / "out", tok, val_fraction=0.0)
    assert decoded(tmp_path / "out", tok) == expect
    assert [f["path"].rsplit("/", 1)[1] for f in m["sources"][0]["files"]] == [u.path.name for u in src.units()]


def test_zstd_multi_frame_and_truncated_strict(tmp_path):
    docs = make_docs(30, seed=3)
    c = zstd.ZstdCompressor()
    p = tmp_path / "m.jsonl.zst"
    p.write_bytes(c.compress(jsonl_bytes(docs[:10])) + c.compress(jsonl_bytes(docs[10:])))
    assert list(Source(str(p)).documents()) == [normalize_text(x) for x in docs]
    q = tmp_path / "t.jsonl.zst"
    q.write_bytes(p.read_bytes()[:-7])
    with pytest.raises(BabyLlamaError, match=r"t\.jsonl\.zst:\d+: cannot read/decompress"):
        list(Source(str(q)).documents())


def test_folder_without_readable_files_and_empty_glob(tmp_path, tok, capsys):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "x.bin").write_bytes(b"\x00")
    (d / "y.txt").write_bytes(b"")
    with pytest.raises(BabyLlamaError, match=r"empty: no readable files in this folder \(2 other file"):
        run_prepare(str(d), tmp_path / "o", tok)
    tok.save(tmp_path / "t.model")
    rc = cli_main(["prepare", "--source", str(tmp_path / "nothing" / "*.jsonl"), "--out", str(tmp_path / "o"),
                   "--tokenizer", str(tmp_path / "t.model"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "no files match this pattern" in err and len(err.strip().splitlines()) == 1


def test_truncated_files_keep_what_came_before(tmp_path, tok):
    docs = make_docs(3000, seed=4)  # zstd decodes whole blocks (128 KiB): make several
    raw = jsonl_bytes(docs)
    comp = {"gz": gzip.compress(raw), "xz": lzma.compress(raw), "zst": zstd.ZstdCompressor().compress(raw)}
    for kind, blob in comp.items():
        p = tmp_path / f"d.jsonl.{kind}"
        p.write_bytes(blob[:len(blob) * 2 // 3])
        out = tmp_path / f"o_{kind}"
        m = run_prepare(str(p), out, tok, val_fraction=0.0)
        got = all_docs(out, tok)
        n = len(got)
        assert 0 < n < len(docs) and got == [normalize_text(x) for x in docs[:n]]  # a clean prefix
        assert m["unreadable"]["truncated_files"] == 1
        assert re.search(rf"d\.jsonl\.{kind}:{n + 1}: .*ends early", m["unreadable"]["places"][0])


def test_non_utf8_documents_are_skipped_counted_and_placed(tmp_path, tok):
    docs = make_docs(50, seed=5)
    lines = jsonl_bytes(docs).splitlines(keepends=True)
    lines[20] = lines[20][:10] + b"\xff\xfe" + lines[20][10:]
    (tmp_path / "a.jsonl").write_bytes(b"".join(lines))
    text = "\n<|endoftext|>\n".join(docs).encode("utf-8")
    at = text.index(docs[30].encode("utf-8"))
    (tmp_path / "b.txt").write_bytes(text[:at + 3] + b"\xc3\x28" + text[at + 3:])  # inside document 30
    bad_line = text[:at].count(b"\n") + 1
    m = run_prepare([str(tmp_path / "a.jsonl"), str(tmp_path / "b.txt")], tmp_path / "o", tok, val_fraction=0.0)
    expect = [normalize_text(d) for i, d in enumerate(docs) if i != 20] + \
             [normalize_text(d) for i, d in enumerate(docs) if i != 30]
    assert decoded(tmp_path / "o", tok) == expect
    assert m["unreadable"]["not_utf8"] == 2
    places = m["unreadable"]["places"]
    assert re.match(r".*a\.jsonl:21: not valid UTF-8 .*document skipped", places[0])
    assert re.match(rf".*b\.txt:{bad_line}: not valid UTF-8", places[1])


# ---- parallel = serial, filters ---------------------------------------------------------------------------
def test_parallel_matches_serial_with_filters(tmp_path, tok):
    rng = random.Random(6)
    docs = ["It was the day of the fair. " + d for d in make_docs(500, seed=6)]  # surely English
    docs += [rng.choice(docs) for _ in range(80)]                      # exact duplicates
    docs += ["小狗在公园里跑来跑去，很开心。" * 3 for _ in range(5)]        # charset: not Latin
    docs += ["lorem ipsum dolor sit amet consectetur adipiscing elit sed" for _ in range(4)]  # not English
    docs += ["ok."] * 3                                                 # short (also duplicates)
    rng.shuffle(docs)
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl_bytes(docs))
    f = Filters(min_chars=10, lang="en", dedup=True)
    m1 = run_prepare(str(src), tmp_path / "serial", tok, num_workers=1, filters=f, batch_bytes=2000)
    m2 = run_prepare(str(src), tmp_path / "par", tok, num_workers=2, filters=f, batch_bytes=2000, batch_docs=7)
    assert shard_bytes(tmp_path / "serial") == shard_bytes(tmp_path / "par")
    assert m1["splits"] == m2["splits"] and m1["filtered"] == m2["filtered"]
    # the counts, from an independent pass over the documents in order
    norm = [normalize_text(d) for d in docs]
    seen, expect = set(), {"short": 0, "charset": 0, "language": 0, "duplicate": 0}
    kept = []
    for d in norm:
        if len(d) < 10:
            expect["short"] += 1
        elif "小" in d:
            expect["charset"] += 1
        elif d.startswith("lorem"):
            expect["language"] += 1
        elif d in seen:
            expect["duplicate"] += 1
        else:
            seen.add(d)
            kept.append(d)
    assert m1["filtered"] == expect
    assert sorted(all_docs(tmp_path / "serial", tok)) == sorted(kept)
    assert m1["settings"]["filters"] == {"min_chars": 10, "lang": "en", "dedup": True, "paragraph_breaks": "keep"}


def test_paragraph_breaks_blank_gives_one_blank_line_between_paragraphs(tmp_path, tok):
    docs = ["One day a cat sat.\nIt was happy.", "\nA dog ran.\n\n\nThe end.\n", "No breaks here."]
    src = tmp_path / "in.txt"
    src.write_text("\n<|endoftext|>\n".join(docs) + "\n", encoding="utf-8")
    for workers in (1, 2):
        out = tmp_path / f"o{workers}"
        m = run_prepare(str(src), out, tok, val_fraction=0.0, num_workers=workers,
                        filters=Filters(paragraph_breaks="blank"), batch_docs=1)
        expect = ["One day a cat sat.\n\nIt was happy.", "A dog ran.\n\nThe end.", "No breaks here."]
        assert decoded(out, tok) == expect
        assert m["settings"]["filters"]["paragraph_breaks"] == "blank"
    # the same input with the layout kept differs, so a resume with another layout is refused
    with pytest.raises(BabyLlamaError, match="paragraph_breaks"):
        run_prepare(str(src), tmp_path / "o1", tok, val_fraction=0.0, filters=Filters())
    with pytest.raises(BabyLlamaError, match="paragraph-breaks 'double'"):
        Filters(paragraph_breaks="double")


def test_seen_hashes_is_an_exact_set():
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 2**63, 3000, dtype=np.uint64)
    s, ref = SeenHashes(), set()
    for _ in range(40):
        batch = rng.choice(pool, 200)
        expect = []
        for h in batch.tolist():
            expect.append(h not in ref)
            ref.add(h)
        assert s.add_new(batch).tolist() == expect
    assert len(s) == len(ref) and set(SeenHashes(s.members()).members().tolist()) == ref


# ---- full disk, resume checks --------------------------------------------------------------------------------
class FillingDisk:
    """open() for the shard writer whose files raise ENOSPC once `budget` bytes have been written in all."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def __call__(self, path, mode="r", *a, **kw):
        f = open(path, mode, *a, **kw)
        disk = self

        class Full:
            def write(self, data):
                n = memoryview(data).nbytes
                if n > disk.budget:
                    raise OSError(errno.ENOSPC, "No space left on device", str(path))
                disk.budget -= n
                return f.write(data)

            def __getattr__(self, name):
                return getattr(f, name)

        return Full()


def test_full_disk_lists_nothing_then_resumes_identically(tmp_path, tok, monkeypatch):
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl_bytes(make_docs(600, seed=7)))
    ref = tmp_path / "ref"
    m_ref = run_prepare(str(src), ref, tok, batch_bytes=3000)
    assert len(m_ref["splits"]["train"]["shards"]) >= 5
    out = tmp_path / "out"
    monkeypatch.setattr(shards_mod, "open", FillingDisk(6000), raising=False)
    with pytest.raises(BabyLlamaError, match="the disk is full; nothing was listed in manifest.json; .*resume"):
        run_prepare(str(src), out, tok, batch_bytes=3000)
    assert not (out / "manifest.json").exists() and (out / WORK_DIR / "state.json").exists()
    assert not [p for p in out.iterdir() if p.suffix == ".bin"]
    done = json.loads((out / WORK_DIR / "state.json").read_text())["position"]["index"]
    assert done > 0
    # resuming with other settings or another tokenizer is refused, naming the difference
    with pytest.raises(BabyLlamaError, match=r"other settings \(settings\.seed: 0 -> 3\)"):
        run_prepare(str(src), out, tok, batch_bytes=3000, seed=3)
    other = train_tokenizer(make_docs(300, seed=9), 320, None, num_threads=1)
    with pytest.raises(BabyLlamaError, match=r"tokenizer_request\.sha256: \"[0-9a-f]+\" -> \"[0-9a-f]+\""):
        run_prepare(str(src), out, other, batch_bytes=3000)
    monkeypatch.undo()
    m = run_prepare(str(src), out, tok, batch_bytes=5000, num_workers=2)  # batching and workers may change
    assert shard_bytes(out) == shard_bytes(ref) and m["splits"] == m_ref["splits"]
    assert load_manifest(out) == m and not (out / WORK_DIR).exists()


def die_after_checkpoints(monkeypatch, keep: int, die: int) -> None:
    """Let the first `keep` checkpoints happen, skip the next ones, and stop like a kill at call `die`."""
    real = prep_mod._Job.checkpoint
    calls = {"n": 0}

    def checkpoint_then_die_later(self):
        calls["n"] += 1
        if calls["n"] <= keep:
            real(self)
        elif calls["n"] == die:
            raise KeyboardInterrupt  # no cleanup: the work is left behind, as after SIGKILL

    monkeypatch.setattr(prep_mod._Job, "checkpoint", checkpoint_then_die_later)


def test_resume_from_a_checkpoint_after_more_was_written(tmp_path, tok, monkeypatch):
    """A kill between checkpoints leaves a longer open shard and newer shards: the resume cuts them back."""
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl_bytes(make_docs(500, seed=8)))
    run_prepare(str(src), tmp_path / "ref", tok, batch_bytes=2000)
    die_after_checkpoints(monkeypatch, 3, 6)
    with pytest.raises(KeyboardInterrupt):
        run_prepare(str(src), tmp_path / "out", tok, batch_bytes=2000)
    monkeypatch.undo()
    work = tmp_path / "out" / WORK_DIR
    state = json.loads((work / "state.json").read_text())
    listed = {sh["file"] for w in state["writers"].values() for sh in w["shards"]}
    assert {p.name for p in work.glob("train_*.bin")} - listed  # shards the checkpoint does not know
    run_prepare(str(src), tmp_path / "out", tok, batch_bytes=2000)
    assert shard_bytes(tmp_path / "out") == shard_bytes(tmp_path / "ref")


def test_resume_counts_bad_input_once(tmp_path, tok, monkeypatch):
    """The reader runs ahead of the checkpoints: problems it met past one must not be counted twice."""
    lines = jsonl_bytes(make_docs(600, seed=12)).splitlines(keepends=True)
    for k in (50, 150, 250, 350, 450, 550):
        lines[k] = b'{"text": "bad \xff byte"}\n'
    (tmp_path / "a.jsonl").write_bytes(b"".join(lines))
    m_ref = run_prepare(str(tmp_path / "a.jsonl"), tmp_path / "ref", tok, batch_bytes=2000)
    assert m_ref["unreadable"]["not_utf8"] == 6
    die_after_checkpoints(monkeypatch, 2, 5)
    with pytest.raises(KeyboardInterrupt):
        run_prepare(str(tmp_path / "a.jsonl"), tmp_path / "out", tok, batch_bytes=2000, num_workers=2)
    monkeypatch.undo()
    m = run_prepare(str(tmp_path / "a.jsonl"), tmp_path / "out", tok, batch_bytes=2000)
    assert m["unreadable"] == m_ref["unreadable"] and shard_bytes(tmp_path / "out") == shard_bytes(tmp_path / "ref")


def test_cli_filters_and_summary(tmp_path, tok, capsys):
    docs = make_docs(40, seed=10)
    (tmp_path / "in.jsonl").write_bytes(jsonl_bytes(docs + docs[:5]))
    tok.save(tmp_path / "t.model")
    rc = cli_main(["prepare", "--source", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "o"), "--tokenizer",
                   str(tmp_path / "t.model"), "--dedup", "--workers", "1", "--batch-kb", "1"])
    captured = capsys.readouterr()
    assert rc == 0 and "'duplicate': 5" in captured.out
    assert "MB/s text" in captured.err and "M tok/s" in captured.err
    assert load_manifest(tmp_path / "o")["filtered"]["duplicate"] == 5


def test_hf_source_streams_in_prepare(tmp_path, tok, monkeypatch):
    """prepare asks `datasets` for a streaming dataset (no local copy); a stub stands in for the Hub."""
    import sys
    import types

    docs = make_docs(30, seed=11)
    calls = []

    class Streaming:  # like datasets.IterableDataset: column names may be unknown until rows arrive
        column_names = None

        def iter(self, batch_size):
            for k in range(0, len(docs), batch_size):
                yield {"text": docs[k:k + batch_size]}

    def load_dataset(name, config=None, split=None, streaming=False):
        calls.append((name, split, streaming))
        return Streaming()

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    run_prepare("hf:some/corpus:train", tmp_path / "o", tok, val_fraction=0.0)
    assert calls and all(c == ("some/corpus", "train", True) for c in calls)
    assert decoded(tmp_path / "o", tok) == [normalize_text(d) for d in docs]
    with pytest.raises(BabyLlamaError, match=r"hf:some/corpus: no field 'body' \(fields: text\)"):
        run_prepare(Source("hf:some/corpus", field="body"), tmp_path / "p", tok)
