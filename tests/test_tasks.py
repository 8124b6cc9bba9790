"""Task data (data.tasks): the readers, their splits and errors, and rendering with the input cut to fit."""
import json
from pathlib import Path

import pytest

from babyllama.data.chat import IGNORE_INDEX, add_chat_tokens, chat_ids, render
from babyllama.data.stories import generate_stories
from babyllama.data.tasks import TASK_FORMATS, label_names, load_task, render_example, render_prompt, split_keys
from babyllama.data.tasks.render import fit, render_rows, user_text
from babyllama.tokenizers import train_tokenizer
from babyllama.utils.io import BabyLlamaError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WORDS = "the cat sat on a mat while a dog ran far away from home and then it came back to eat".split()


@pytest.fixture(scope="module")
def tok():
    return add_chat_tokens(train_tokenizer(generate_stories(200), 500))


def filler(n: int, seed: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(n)) + "."


def squad_file(tmp_path: Path, n_articles: int = 5, questions: int = 3, long: int = 30) -> Path:
    """A SQuAD v1.1 file whose answers sit at known places of long made-up contexts."""
    data = []
    for a in range(n_articles):
        paragraphs = []
        for p in range(2):
            before, answer, after = filler(long + 11 * p, a), f"Captain Zed{a}x{p}", filler(long, a + p)
            context = f"{before} {answer} {after}"
            qas = [{"id": f"q{a}_{p}_{k}", "question": f"Who came {k}?",
                    "answers": [{"text": answer, "answer_start": len(before) + 1},
                                {"text": answer.split()[1], "answer_start": len(before) + 1 + len("Captain ")}]}
                   for k in range(questions)]
            paragraphs.append({"context": context, "qas": qas})
        data.append({"title": f"Article_{a}", "paragraphs": paragraphs})
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"version": "1.1", "data": data}))
    return path


def test_squad_reads_every_question_with_its_span(tmp_path):
    path = squad_file(tmp_path)
    ex = load_task("squad", path, split="all")
    assert len(ex) == 5 * 2 * 3
    for e in ex:
        assert e.input[e.span[0]:e.span[1]] == e.target == e.references[0]
        assert len(e.references) == 2 and e.source == f"{path}#{e.id}" and e.id in e.source
        assert e.instruction.endswith(f"Who came {e.id[-1]}?")


def test_squad_split_is_by_article_disjoint_and_deterministic(tmp_path):
    path = squad_file(tmp_path, n_articles=12)
    parts = {s: load_task("squad", path, split=s) for s in ("train", "dev", "test")}
    articles = {s: {e.id.split("_")[0] for e in ex} for s, ex in parts.items()}
    assert not (articles["train"] & articles["dev"]) and not (articles["train"] & articles["test"]) \
        and not (articles["dev"] & articles["test"])
    assert sum(len(v) for v in parts.values()) == len(load_task("squad", path, split="all"))
    # 12 equal articles: test takes the first 3 (>= 20%), dev 1 more (>= 30%), train the other 8
    assert [len(articles[s]) for s in ("test", "dev", "train")] == [3, 1, 8]
    assert [e.id for e in load_task("squad", path, split="dev")] == [e.id for e in parts["dev"]]
    other = {e.id.split("_")[0] for e in load_task("squad", path, split="test", seed=5)}
    assert len(other) == 3  # another seed, another (equally sized) draw


def test_split_keys_shares_follow_the_sizes():
    sizes = [(f"k{i}", 1) for i in range(249)]
    got = {s: split_keys(sizes, s, seed=0) for s in ("train", "dev", "test")}
    assert (len(got["test"]), len(got["dev"]), len(got["train"])) == (50, 25, 174)  # ceil(49.8), 75 - 50
    assert set().union(*got.values()) == {k for k, _ in sizes}


def test_squad_answer_start_that_misses_names_file_and_question(tmp_path):
    path = squad_file(tmp_path)
    data = json.loads(path.read_text())
    data["data"][1]["paragraphs"][0]["qas"][2]["answers"][1]["answer_start"] += 3
    path.write_text(json.dumps(data))
    for split in ("all", "train", "dev", "test"):  # the whole file is checked, whichever split is read
        with pytest.raises(BabyLlamaError, match=rf"{path.name}#q1_0_2: answer 1 'Zed1x0' is not at answer_start"):
            load_task("squad", path, split=split)


@pytest.mark.parametrize("field", ["article", "highlights"])
def test_cnn_dm_empty_article_or_summary_names_the_line(tmp_path, field):
    path = tmp_path / "cnn.jsonl"
    rows = [{"id": f"r{i}", "article": filler(40, i), "highlights": filler(8, i)} for i in range(4)]
    rows[2][field] = "  "
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(BabyLlamaError, match=rf"{path.name}:3: '{field}' is missing or empty"):
        load_task("cnn_dm", path, split="all")


def test_cnn_dm_reads_both_layouts(tmp_path):
    plain, chat = tmp_path / "plain.jsonl", tmp_path / "chat.jsonl"
    article, summary = filler(50, 1), "A dog ran. It came back."
    plain.write_text(json.dumps({"article": article, "highlights": summary, "id": "x1"}) + "\n")
    chat.write_text(json.dumps({"messages": [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": f"Summarize this article:\n\n{article}"},
                                             {"role": "assistant", "content": summary}]}) + "\n")
    a, b = load_task("cnn_dm", plain, split="all")[0], load_task("cnn_dm", chat, split="all")[0]
    assert (a.input, a.target, a.id) == (article, summary, "x1")
    assert (b.input, b.target, b.references, b.source) == (article, summary, (summary,), f"{chat}:1")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "Summarize this article:\n\n"},
                                            {"role": "assistant", "content": "x"}]}) + "\n")
    with pytest.raises(BabyLlamaError, match=rf"{bad.name}:1: the user message \(article\) is missing or empty"):
        load_task("cnn_dm", bad, split="all")


def test_label_tasks_use_the_mapping_and_refuse_labels_outside_it(tmp_path):
    (tmp_path / "toy-label-mapping.json").write_text(json.dumps(["bad", "good"]))
    (tmp_path / "toy-dev.txt").write_text("1 ||| a fine film .\n0 ||| dull .\n")
    ex = load_task("cfimdb", tmp_path, split="dev")
    assert [(e.target, e.input, e.source) for e in ex] == [("good", "a fine film .", f"{tmp_path / 'toy-dev.txt'}:1"),
                                                           ("bad", "dull .", f"{tmp_path / 'toy-dev.txt'}:2")]
    assert "bad or good" in ex[0].instruction and label_names("cfimdb", tmp_path) == ["bad", "good"]
    assert label_names("squad") is None
    (tmp_path / "toy-test.txt").write_text("1 ||| fine .\n\n2 ||| what ?\n")
    with pytest.raises(BabyLlamaError, match=r"toy-test.txt:3: label 2 is outside the 2 label names"):
        load_task("cfimdb", tmp_path, split="test")


def test_unknown_task_and_split_are_named(tmp_path):
    with pytest.raises(BabyLlamaError, match="unknown task 'glue'; choose from squad, cnn_dm, sst, cfimdb"):
        load_task("glue", tmp_path)
    with pytest.raises(BabyLlamaError, match="unknown split 'valid'"):
        load_task("squad", tmp_path, split="valid")


def test_render_example_masks_exactly_the_target(tok):
    from babyllama.data.tasks import TaskExample

    ex = TaskExample("cnn_dm", "1", "Summarize this.", filler(30, 2), "The cat sat.", ("The cat sat.",), "f:1")
    ids, labels = render_example(ex, tok, max_len=10_000)
    # independent: the target's tokens and <|end|> are the last ones, everything before is ignored
    target = tok.encode("The cat sat.", bos=False) + [chat_ids(tok).end]
    assert labels[-len(target):] == target == ids[-len(target):]
    assert all(t == IGNORE_INDEX for t in labels[:-len(target)])
    assert ids[-len(target) - 1] == chat_ids(tok).assistant
    # the same ids as the chat template renders the conversation itself
    conv = [{"role": "user", "content": user_text(ex.instruction, ex.input)},
            {"role": "assistant", "content": ex.target}]
    assert render(conv, tok).ids == ids


def test_truncation_keeps_the_answer_span_inside_the_kept_context(tmp_path, tok):
    ex = load_task("squad", squad_file(tmp_path, long=120), split="all")
    ans_ids = [tok.encode(e.target, bos=False) for e in ex]
    for max_len in (90, 120, 160):
        for e, a in zip(ex, ans_ids):
            full = len(render_example(e, tok, 100_000)[0])
            r, kept = fit(e, tok, max_len, answer=True)
            ids, labels = render_example(e, tok, max_len)
            assert ids == r.ids and len(ids) <= max_len < full  # it had to be cut, and was
            assert e.target in kept and kept in e.input  # a window of the context that holds the answer
            assert [t for t in labels if t != IGNORE_INDEX] == a + [chat_ids(tok).end]  # the answer whole
            prompt = render_prompt(e, tok, max_len, reserve=len(a) + 2)
            assert len(prompt) + len(a) + 2 <= max_len and prompt[-1] == chat_ids(tok).assistant
    e = ex[0]
    assert tok.decode(render_prompt(e, tok, 100_000)).count(e.instruction.splitlines()[-1]) == 1


def test_prompt_cuts_the_input_from_its_end_never_the_instruction(tok):
    from babyllama.data.tasks import TaskExample

    article = " ".join(f"{w}{i}" for i, w in enumerate(filler(150, 3).split()))  # no word twice
    ex = TaskExample("cnn_dm", "1", "Summarize this news article.", article, "x", ("x",), "f:1")
    ids = render_prompt(ex, tok, max_len=120, reserve=20)
    r, kept = fit(ex, tok, 120, answer=False, room=20)
    assert ids == r.ids and len(ids) <= 100 and article.startswith(kept) and len(kept) < len(article)
    conv = [{"role": "user", "content": user_text(ex.instruction, kept)}]
    assert render(conv, tok, add_generation_prompt=True).ids == ids  # the instruction whole, the input's start
    one_more = article[:article.index(" ", len(kept) + 1)]  # one more word no longer fits
    conv = [{"role": "user", "content": user_text(ex.instruction, one_more)}]
    assert len(render(conv, tok, add_generation_prompt=True).ids) > 100
    tiny = TaskExample("cnn_dm", "2", filler(200, 1), "a b", "x", ("x",), "f:2")
    with pytest.raises(BabyLlamaError, match="f:2: the instruction alone take"):
        render_prompt(tiny, tok, max_len=50)


def test_base_model_prompt_is_plain_text():
    tok = train_tokenizer(generate_stories(200), 500)
    from babyllama.data.tasks import TaskExample

    ex = TaskExample("sst", "1", "Is it good?", "a fine day", "good", ("good",), "f:1")
    assert render_prompt(ex, tok, 200) == [tok.bos_id, *tok.encode("Is it good?\n\na fine day\n", bos=False)]


def test_examples_too_long_to_train_on_are_left_out_with_a_warning(tok):
    from babyllama.data.tasks import TaskExample

    ok = TaskExample("cnn_dm", "1", "Sum.", filler(100, 1), "A cat.", ("A cat.",), "f:1")
    long = TaskExample("cnn_dm", "2", "Sum.", filler(100, 1), filler(80, 2), ("",), "f:2")
    with pytest.warns(UserWarning, match="1 of 2 examples left out"):
        rows = render_rows([ok, long], tok, 64)
    assert len(rows) == 1 and len(rows[0]) <= 64


@pytest.mark.skipif(not (SHARED / "squad").is_dir(), reason="shared data not present")
def test_shared_task_files_read():
    sizes = {s: len(load_task("squad", split=s)) for s in ("train", "dev", "test")}
    assert sum(sizes.values()) == 501 and sizes["test"] >= 0.2 * 501
    chat = {s: len(load_task("cnn_dm", split=s)) for s in ("train", "dev", "test")}
    assert chat == {"train": 174, "dev": 25, "test": 50}
    assert len(load_task("cnn_dm", SHARED / "cnn_dailymail" / "cnn_dm_15.jsonl", split="all")) == 15
    assert len(load_task("sst", split="dev")) == 1101 and label_names("sst")[0] == "awful"
    assert len(load_task("cfimdb", split="test")) == 488
    assert set(TASK_FORMATS) == {"squad", "cnn_dm", "sst", "cfimdb"}
