"""The task files: SQuAD v1.1 JSON, CNN/DailyMail JSONL, SST-5 / CFIMDB `LABEL ||| sentence` files.

    examples = load_task("squad", split="train")            # the shared SQuAD subset, train articles
    examples = load_task("cnn_dm", "my/cnn.jsonl", split="all")
    names = label_names("sst")                              # ["awful", "bad", "average", "good", "excellent"]

Splits. SQuAD and CNN/DM come as one file each, so we split them ourselves, deterministically:
articles (SQuAD) or rows (CNN/DM) are put in the order of sha256("SEED:KEY") (KEY: the article
title, the row's id or its line number); the first ones go to test until it holds at least 20% of
the questions (rows), the next to dev until test + dev hold at least 30%, the rest to train. A SQuAD
article's questions therefore stay on one side. `split="all"` reads a file whole, and
`hf:squad[:SPLIT]` reads a Hugging Face split whole (online users; needs the `datasets` package).
SST and CFIMDB come split: `path` is a folder holding `*-{split}.txt` and `*-label-mapping.json`
(default: the shared copy), or one file, read whole, with the label mapping beside it.
Default paths are under the shared data folder: $BABYLLAMA_SHARED_DATA, else ../shared/data beside
the checkout.

Every problem is a BabyLlamaError naming the file and the line (or the SQuAD question id).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from babyllama.data.labels import check_labels, read_label_file, read_label_names
from babyllama.data.sources import iter_jsonl
from babyllama.data.tasks.render import TaskExample
from babyllama.utils.io import BabyLlamaError, read_json
from babyllama.utils.optional import require

SPLITS = ("train", "dev", "test", "all")
TEST_SHARE, DEV_SHARE = 0.2, 0.1


def shared_data() -> Path:
    env = os.environ.get("BABYLLAMA_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[5] / "shared" / "data"


def split_keys(sizes: Sequence[tuple[str, int]], split: str, seed: int) -> set[str]:
    """The keys of `split` (see the module docstring): keys in sha256 order, test first until it holds
    TEST_SHARE of the total size, then dev until TEST_SHARE + DEV_SHARE, then train."""
    if split == "all":
        return {k for k, _ in sizes}
    order = sorted(sizes, key=lambda ks: hashlib.sha256(f"{seed}:{ks[0]}".encode()).hexdigest())
    total, seen, out = sum(n for _, n in sizes), 0, set()
    for key, n in order:
        side = "test" if seen < TEST_SHARE * total else "dev" if seen < (TEST_SHARE + DEV_SHARE) * total else "train"
        seen += n
        if side == split:
            out.add(key)
    return out


# ---------------------------------------------------------------- SQuAD

SQUAD_INSTRUCTION = "Answer the question with a short phrase copied from the passage.\nQuestion: {question}"


def _squad_articles(path: str) -> tuple[str, list[dict[str, Any]]]:
    """(where, the `data` list) of a SQuAD JSON file or an hf:squad[:SPLIT] spec."""
    if path.startswith("hf:"):
        name, _, hf_split = path[3:].partition(":")
        datasets = require("datasets", f"to read {path}")
        try:
            rows = datasets.load_dataset(name or "squad", split=hf_split or "validation")
        except Exception as e:  # offline, unknown name or split: all reported the same way
            raise BabyLlamaError(f"{path}: could not load the dataset ({str(e).splitlines()[0] if str(e) else e!r}); "
                                 f"check the name, split and network, or pass a SQuAD JSON file") from None
        articles: dict[str, dict[str, Any]] = {}
        for r in rows:
            art = articles.setdefault(r["title"], {"title": r["title"], "paragraphs": []})
            spans = zip(r["answers"]["text"], r["answers"]["answer_start"])
            answers = [{"text": t, "answer_start": s} for t, s in spans]
            art["paragraphs"].append({"context": r["context"], "qas": [{"id": r["id"], "question": r["question"],
                                                                        "answers": answers}]})
        return path, list(articles.values())
    p = Path(path)
    data = read_json(p)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise BabyLlamaError(f"{p}: not a SQuAD file (expected an object with a 'data' list of articles)")
    return str(p), data["data"]


def read_squad(path: str, split: str = "test", seed: int = 0) -> list[TaskExample]:
    where, articles = _squad_articles(path)
    if path.startswith("hf:"):
        split = "all"  # a Hugging Face split is read whole
    sizes = []
    for k, art in enumerate(articles):
        if not isinstance(art, dict) or not isinstance(art.get("paragraphs"), list):
            raise BabyLlamaError(f"{where}: article {k} has no 'paragraphs' list")
        sizes.append((str(art.get("title", k)), sum(len(p.get("qas", [])) for p in art["paragraphs"])))
    keep = split_keys(sizes, split, seed)
    out = []
    for (title, _), art in zip(sizes, articles):  # every article is checked, whatever the split
        for p in art["paragraphs"]:
            context = p.get("context")
            if not isinstance(context, str) or not context.strip():
                raise BabyLlamaError(f"{where}: article {title!r} has a paragraph with an empty context")
            for q in p.get("qas", []):
                examples = _squad_question(q, context, where)
                if title in keep:
                    out.extend(examples)
    return out


def _squad_question(q: dict[str, Any], context: str, where: str) -> list[TaskExample]:
    qid = str(q.get("id", ""))
    at = f"{where}#{qid or '?'}"
    question = q.get("question")
    if not qid or not isinstance(question, str) or not question.strip():
        raise BabyLlamaError(f"{at}: a question needs a non-empty 'id' and 'question'")
    if q.get("is_impossible"):
        return []  # SQuAD 2.0's unanswerable questions have no span to learn
    answers = q.get("answers")
    if not isinstance(answers, list) or not answers:
        raise BabyLlamaError(f"{at}: no answers")
    for k, a in enumerate(answers):
        a = a if isinstance(a, dict) else {}
        text, start = a.get("text"), a.get("answer_start")
        if not isinstance(text, str) or not text.strip() or not isinstance(start, int):
            raise BabyLlamaError(f"{at}: answer {k} needs a non-empty 'text' and an integer 'answer_start'")
        if context[start:start + len(text)] != text:
            raise BabyLlamaError(f"{at}: answer {k} {text!r} is not at answer_start {start} of the context "
                                 f"(found {context[start:start + len(text)]!r})")
    first = answers[0]
    return [TaskExample("squad", qid, SQUAD_INSTRUCTION.format(question=question.strip()), context,
                        first["text"], tuple(a["text"] for a in answers), at,
                        (first["answer_start"], first["answer_start"] + len(first["text"])))]


# ---------------------------------------------------------------- CNN/DailyMail

CNN_DM_INSTRUCTION = "Summarize this news article in a few sentences."
_CHAT_PREFIX = "Summarize this article:"


def _cnn_dm_row(obj: dict[str, Any], where: str) -> tuple[str, str]:
    """(article, highlights) of an article/highlights row or a chat row (system?, user, assistant)."""
    if "messages" in obj:
        msgs = obj["messages"] if isinstance(obj["messages"], list) else []
        user = next((m.get("content") for m in msgs if isinstance(m, dict) and m.get("role") == "user"), None)
        summary = next((m.get("content") for m in msgs if isinstance(m, dict) and m.get("role") == "assistant"), None)
        if isinstance(user, str) and user.lstrip().startswith(_CHAT_PREFIX):
            user = user.lstrip()[len(_CHAT_PREFIX):]
        article, key = user, "the user message (article)"
        skey = "the assistant message (summary)"
    else:
        article, summary, key, skey = obj.get("article"), obj.get("highlights"), "'article'", "'highlights'"
    if not isinstance(article, str) or not article.strip():
        raise BabyLlamaError(f"{where}: {key} is missing or empty")
    if not isinstance(summary, str) or not summary.strip():
        raise BabyLlamaError(f"{where}: {skey} is missing or empty")
    return article.strip(), summary.strip()


def read_cnn_dm(path: str, split: str = "test", seed: int = 0) -> list[TaskExample]:
    rows = []
    for line, obj in iter_jsonl(path):
        where = f"{path}:{line}"
        article, summary = _cnn_dm_row(obj, where)
        rows.append((str(obj.get("id") or f"line{line}"), article, summary, where))
    if not rows:
        raise BabyLlamaError(f"{path}: no articles in the file")
    keep = split_keys([(r[0], 1) for r in rows], split, seed)
    return [TaskExample("cnn_dm", rid, CNN_DM_INSTRUCTION, article, summary, (summary,), where)
            for rid, article, summary, where in rows if rid in keep]


# ---------------------------------------------------------------- SST-5 / CFIMDB

def _mapping_file(task: str, path: Path) -> Path:
    """The `*-label-mapping.json` in a folder, or beside a file."""
    folder = path if path.is_dir() else path.parent
    maps = sorted(folder.glob("*-label-mapping.json"))
    if len(maps) != 1:
        raise BabyLlamaError(f"{folder}: expected one *-label-mapping.json (a JSON list of label words) for {task}, "
                             f"found {len(maps)}")
    return maps[0]


def _examples_file(task: str, path: Path, split: str) -> Path:
    """The file itself, or the folder's `*-{split}.txt`."""
    if not path.is_dir():
        return path
    if split == "all":
        raise BabyLlamaError(f"{path}: split 'all' needs a file; {task} folders come split into train/dev/test")
    hits = sorted(path.glob(f"*-{split}.txt"))
    if len(hits) != 1:
        raise BabyLlamaError(f"{path}: expected one *-{split}.txt for {task}, found {len(hits)}")
    return hits[0]


def _label_instruction(names: Sequence[str]) -> str:
    words = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    return f"Is this movie review {words}? Answer with one word."


def read_labelled(task: str, path: str, split: str = "test", seed: int = 0) -> list[TaskExample]:
    file = _examples_file(task, Path(path), split)
    names = read_label_names(_mapping_file(task, Path(path)))
    examples = read_label_file(file)
    check_labels(examples, len(names), file)
    instruction = _label_instruction(names)
    return [TaskExample(task, f"{file.name}:{e.line}", instruction, e.text, names[e.label], (names[e.label],),
                        f"{file}:{e.line}") for e in examples]


# ---------------------------------------------------------------- the registry

@dataclass(frozen=True)
class TaskFormat:
    name: str
    help: str
    default: str                 # under the shared data folder
    read: Callable[[str, str, int], list[TaskExample]]
    labels: bool = False         # generative classification: the target is one of label_names(task)


TASK_FORMATS: dict[str, TaskFormat] = {f.name: f for f in (
    TaskFormat("squad", "extractive QA, SQuAD v1.1 JSON (or hf:squad[:SPLIT])", "squad/expmrc-squad-dev.json",
               read_squad),
    TaskFormat("cnn_dm", "news summarisation, CNN/DailyMail article/highlights or chat JSONL",
               "cnn_dailymail/cnn_dm_chat_validation.jsonl", read_cnn_dm),
    TaskFormat("sst", "SST-5 sentiment as a label word (LABEL ||| sentence files)", "sst",
               lambda p, s, seed: read_labelled("sst", p, s, seed), labels=True),
    TaskFormat("cfimdb", "CFIMDB sentiment as a label word (LABEL ||| sentence files)", "cfimdb",
               lambda p, s, seed: read_labelled("cfimdb", p, s, seed), labels=True),
)}


def task_format(name: str, where: str = "task") -> TaskFormat:
    if name not in TASK_FORMATS:
        raise BabyLlamaError(f"{where}: unknown task {name!r}; choose from {', '.join(TASK_FORMATS)}")
    return TASK_FORMATS[name]


def default_path(name: str) -> Path:
    p = shared_data() / task_format(name).default
    if not p.exists():
        raise BabyLlamaError(f"{p}: the default {name} data is not there; pass the path of your copy")
    return p


def load_task(name: str, path: str | os.PathLike | None = None, split: str = "test",
              seed: int = 0) -> list[TaskExample]:
    """The examples of one task's split (see the module docstring); an error naming the file when
    the split is empty."""
    fmt = task_format(name)
    if split not in SPLITS:
        raise BabyLlamaError(f"{name}: unknown split {split!r}; choose from {', '.join(SPLITS)}")
    src = str(path) if path is not None else str(default_path(name))
    out = fmt.read(src, split, seed)
    if not out:
        raise BabyLlamaError(f"{src}: no {name} examples in split {split!r}")
    return out


def label_names(task: str, path: str | os.PathLike | None = None) -> list[str] | None:
    """The label words of a classification task (None for the others)."""
    if not task_format(task).labels:
        return None
    folder = Path(path) if path is not None else default_path(task)
    return read_label_names(_mapping_file(task, folder))
