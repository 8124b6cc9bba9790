"""The chat template, its loss mask, the data readers and their errors; the story-instruction checker."""
import json
import random
import re

import pytest

from babyllama.data.chat import (SPECIAL_TOKENS, add_chat_tokens, chat_ids, check_messages, format_chat, parse_chat,
                                 read_conversations, read_pairs, render, sft_tensors)
from babyllama.data.stories import generate_stories
from babyllama.data.stories.instructions import (Constraints, break_constraint, check_story, ends_happily,
                                                 make_instruction, preference_pair)
from babyllama.tokenizers import BPETokenizer, train_tokenizer
from babyllama.utils.io import BabyLlamaError

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CONV = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Tell me a story about Tom."},
        {"role": "assistant", "content": "Tom had a red ball.\nHe was happy."},
        {"role": "user", "content": "Another one!"}, {"role": "assistant", "content": "Lily ran to the park."}]


@pytest.fixture(scope="module")
def tok():
    return add_chat_tokens(train_tokenizer(generate_stories(200), 500))


def test_special_tokens_are_appended_and_kept_whole(tok):
    ids = chat_ids(tok)
    assert [ids.system, ids.user, ids.assistant, ids.end] == [500, 501, 502, 503] and tok.vocab_size == 504
    assert add_chat_tokens(tok) is tok  # already there
    for t in SPECIAL_TOKENS:  # as text, a special token is one piece (after SentencePiece's leading space)
        assert tok.piece_to_id(t) in tok.encode(f"a{t}b", bos=False)


def test_mask_covers_exactly_the_assistant_tokens_and_their_end(tok):
    r = render(CONV, tok)
    ids = chat_ids(tok)
    # independent: walk the ids, switching "inside an answer" on after <|assistant|>, off after <|end|>
    expected, inside = [], False
    for t in r.ids:
        if t == ids.assistant:
            expected.append(0)
            inside = True
        elif t == ids.end:
            expected.append(int(inside))
            inside = False
        else:
            expected.append(int(inside))
    assert r.mask == expected and sum(r.mask) > 0
    answers = [tok.encode(m["content"], bos=False) for m in CONV if m["role"] == "assistant"]
    assert sum(r.mask) == sum(len(a) + 1 for a in answers)
    assert [t for t, m in zip(r.ids, r.mask) if m] == answers[0] + [ids.end] + answers[1] + [ids.end]
    x, y = sft_tensors([r], tok.pad_id)
    assert (y[0] != -100).sum() == sum(r.mask) and x[0].tolist() == r.ids[:-1]


def test_template_round_trips(tok):
    r = render(CONV, tok)
    assert parse_chat(tok.decode(r.ids)) == CONV
    assert parse_chat(format_chat(CONV)) == CONV
    gen = render(CONV[:4], tok, add_generation_prompt=True)
    assert gen.ids[-1] == chat_ids(tok).assistant and format_chat(CONV[:4], True).endswith("<|assistant|>")


def test_long_conversations_cut_the_prompt_side_with_a_warning(tok):
    full = render(CONV, tok)
    answer = len(tok.encode(CONV[-1]["content"], bos=False)) + 2  # <|assistant|> ... <|end|>
    with pytest.warns(UserWarning, match="lost the start of their prompt"):
        cut = render(CONV, tok, max_len=answer + 5)
    assert len(cut) == answer + 5 and cut.ids[0] == tok.bos_id and cut.ids[-answer:] == full.ids[-answer:]
    with pytest.warns(UserWarning, match="the end of their answer"):
        tiny = render(CONV, tok, max_len=4)
    assert len(tiny) == 4 and tiny.cut == "answer"


@pytest.mark.parametrize("messages,msg", [
    ([{"role": "assistant", "content": "hi"}], "role 'assistant' where 'system' or 'user'"),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "role 'user' where 'assistant'"),
    ([{"role": "user", "content": "  "}, {"role": "assistant", "content": "b"}], "empty"),
    ([{"role": "user", "content": "a<|end|>"}, {"role": "assistant", "content": "b"}], "reserved token <|end|>"),
    ([{"role": "user", "content": "a"}], "last message must be from the assistant"),
    ([], "non-empty list"),
])
def test_bad_conversations(messages, msg):
    with pytest.raises(BabyLlamaError, match=msg.replace("|", r"\|")):
        check_messages(messages, "f.jsonl:3")


def test_readers_and_their_errors(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"prompt": "Hi", "completion": "Hello"}) + "\n"
                 + json.dumps({"messages": CONV}) + "\n" + json.dumps({"instruction": "Add", "input": "1+1",
                                                                        "output": "2"}) + "\n")
    convs = read_conversations(p)
    assert convs[0][0] == {"role": "user", "content": "Hi"} and convs[1] == CONV
    assert convs[2][0]["content"] == "Add\n\n1+1"
    p.write_text(json.dumps({"prompt": "Hi"}) + "\n")
    with pytest.raises(BabyLlamaError, match=r"d.jsonl:1: field 'response'"):
        read_conversations(p)
    p.write_text('{"prompt": "Hi", "completion": "x"}\n{oops\n')
    with pytest.raises(BabyLlamaError, match=r"d.jsonl:2: not valid JSON"):
        read_conversations(p)
    p.write_text(json.dumps({"prompt": "Q", "chosen": "same", "rejected": "same"}) + "\n")
    with pytest.raises(BabyLlamaError, match=r"d.jsonl:1: the chosen and rejected answers are identical"):
        read_pairs(p)
    p.write_text(json.dumps({"prompt": "Q", "chosen": "a"}) + "\n")
    with pytest.raises(BabyLlamaError, match=r"d.jsonl:1: field 'rejected' is missing"):
        read_pairs(p)


def test_bpe_tokenizer_cannot_take_chat_tokens():
    tokenizers = pytest.importorskip("tokenizers")
    tk = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    tk.add_special_tokens(["<unk>"])
    with pytest.raises(BabyLlamaError, match="model dir: a BPETokenizer cannot take the chat special tokens"):
        add_chat_tokens(BPETokenizer(tk, bos_id=None, eos_id=None), where="model dir")


@pytest.mark.skipif(not (SHARED / "dpo").is_dir(), reason="shared data not present")
def test_shared_files_read():
    pairs = read_pairs(SHARED / "dpo" / "orca_dpo_pairs_sample.jsonl")
    assert len(pairs) == 284 and pairs[0].prompt[0]["role"] == "system" and pairs[0].chosen != pairs[0].rejected
    assert len(read_conversations(SHARED / "alpaca" / "alpaca_data_1k.json")) == 1000
    cnn = read_conversations(SHARED / "cnn_dailymail" / "cnn_dm_chat_validation.jsonl")
    assert len(cnn) == 249 and cnn[0][1]["content"].startswith("Summarize this article:")


# ---------------------------------------------------------------- verifiable story instructions

def test_checker_on_crafted_stories():
    c = Constraints("Mia", "girl", "beach", ("kite", "brave"), True)
    good = "Mia went to the beach with her kite. She was brave.\nIn the end, Mia smiled and was happy."
    assert check_story(good, c) == {"character": True, "place": True, "words": 1.0, "happy": True, "all": True}
    r = check_story("Mia flew her kite in the park. The day ended. Mia was sad.", c)
    assert r == {"character": True, "place": False, "words": 0.5, "happy": False, "all": False}
    # whole words only, any case: "Miami" is not Mia, "Kites" is not kite, "BEACH" is beach
    r = check_story("Miami had Kites at the BEACH. It was the best day ever.", c)
    assert (r["character"], r["place"], r["words"], r["happy"]) == (False, True, 0.0, True)
    assert not ends_happily("Tom was happy at first. Then he cried and was sad.")
    no_place = Constraints("Tom", "boy", None, (), False)
    assert check_story("Tom ran.", no_place) == {"character": True, "place": None, "words": 1.0, "happy": None,
                                                 "all": True}


def test_instructions_obey_and_pairs_break_exactly_one_constraint():
    broken = set()
    for i in range(40):
        item = make_instruction(i)
        assert item.constraints.name in item.prompt and all(f"'{w}'" in item.prompt for w in item.constraints.words)
        assert check_story(item.story, item.constraints)["all"]
        assert make_instruction(i).story == item.story  # depends only on (seed, i)
        pair = preference_pair(item)
        assert pair is not None and pair["chosen"] == item.story
        result = check_story(pair["rejected"], item.constraints)
        failed = [k for k in ("character", "place", "happy") if result[k] is False] + \
            (["words"] if result["words"] < 1 else [])
        assert failed == [pair["broken"]]
        broken.add(pair["broken"])
    assert broken == {"character", "place", "words", "happy"}
    assert break_constraint(make_instruction(0), "nonsense", random.Random(0)) is None


def test_rejected_stories_are_about_as_long_as_chosen_ones():
    # Rejected stories that are shorter teach DPO "longer is better"; each break keeps the length.
    ratios, shorter = {}, 0
    for i in range(150):
        item = make_instruction(i, seed=3)
        pair = preference_pair(item, seed=3)
        chosen, rejected = pair["chosen"], pair["rejected"]
        result = check_story(rejected, item.constraints)
        failed = [k for k in ("character", "place", "happy") if result[k] is False] + \
            (["words"] if result["words"] < 1 else [])
        assert failed == [pair["broken"]]
        for size in (len, lambda t: len(t.split())):
            assert 0.8 <= size(rejected) / size(chosen) <= 1.25, (i, pair["broken"])
        if pair["broken"] == "words":  # sentences are swapped, not dropped: as many sentences, same paragraphs
            split = re.compile(r"(?<=[.!?])\s+")
            assert [len(split.split(p)) for p in rejected.split("\n")] == \
                [len(split.split(p)) for p in chosen.split("\n")]
        ratios.setdefault(pair["broken"], []).append(len(rejected) / len(chosen))
        shorter += len(rejected) < len(chosen)
    assert set(ratios) == {"character", "place", "words", "happy"}
    assert shorter < 0.45 * 150  # the dropped-sentence pairs made 60% of rejected stories shorter
