"""The chat template, its special tokens, and the readers for instruction and preference data.

A conversation is a list of {"role", "content"} messages: an optional system message first, then
user and assistant turns in alternation, starting with the user. `render` writes it as token ids

    <s> <|system|> You are kind. <|end|> <|user|> Hi! <|end|> <|assistant|> Hello. <|end|>

with a loss mask that is 1 on the assistant's tokens and their <|end|> only; generation renders the
conversation so far with `add_generation_prompt=True` (ending in <|assistant|>) and stops at <|end|>.
Each message is encoded on its own and the special tokens are put in as ids, so text that merely
contains "<|end|>" never becomes a special token (`check_messages` refuses it). `format_chat` /
`parse_chat` are the same template as text. The special tokens are user-defined pieces of a
SentencePiece tokenizer (`add_chat_tokens`; the model grows its rows with `model.resize_vocab`).

Readers, each a list of conversations or pairs with one-line errors naming file, line and field:
Alpaca JSON (instruction/input/output), JSONL rows with `messages`, prompt/completion (or
prompt/response), and preference pairs (prompt/chosen/rejected, or the Azure layout with
input.messages / preferred_output / non_preferred_output).
"""
from __future__ import annotations

import json
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from babyllama.data.sources import iter_jsonl
from babyllama.model import IGNORE_INDEX  # noqa: F401 - the targets the loss skips (-100); imported from here
from babyllama.tokenizers import Tokenizer
from babyllama.utils.io import BabyLlamaError

SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
SPECIAL_TOKENS = (SYSTEM, USER, ASSISTANT, END)
ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}

Message = dict[str, str]


# ---------------------------------------------------------------- special tokens

def has_chat_tokens(tokenizer: Any) -> bool:
    unk = getattr(tokenizer, "unk_id", None)
    return all(tokenizer.piece_to_id(t) not in (unk, None) for t in SPECIAL_TOKENS)


def add_chat_tokens(tokenizer: Any, where: str = "tokenizer") -> Any:
    """The tokenizer with the chat special tokens appended as user-defined pieces (ids after the old
    ones, which keep theirs); the same tokenizer when it has them already."""
    if has_chat_tokens(tokenizer):
        return tokenizer
    if not isinstance(tokenizer, Tokenizer):
        raise BabyLlamaError(f"{where}: a {type(tokenizer).__name__} cannot take the chat special tokens; "
                             f"chat finetuning needs a SentencePiece tokenizer.model")
    proto = tokenizer.model_proto()
    have = {p.piece for p in proto.pieces}
    for token in SPECIAL_TOKENS:
        if token not in have:
            proto.pieces.add(piece=token, score=0.0, type=proto.SentencePiece.USER_DEFINED)
    proto.trainer_spec.vocab_size = len(proto.pieces)
    return Tokenizer(proto.SerializeToString(), source=f"{tokenizer.source or 'tokenizer'} + chat tokens")


@dataclass(frozen=True)
class ChatIds:
    system: int
    user: int
    assistant: int
    end: int

    def role(self, name: str) -> int:
        return getattr(self, name)


def chat_ids(tokenizer: Any, where: str = "tokenizer") -> ChatIds:
    """The ids of the special tokens; an error when the tokenizer lacks them."""
    if not has_chat_tokens(tokenizer):
        raise BabyLlamaError(f"{where}: the tokenizer has no chat tokens ({', '.join(SPECIAL_TOKENS)}); "
                             f"use a model made by `babyllama sft`")
    return ChatIds(*(tokenizer.piece_to_id(t) for t in SPECIAL_TOKENS))


# ---------------------------------------------------------------- conversations

def check_messages(messages: Any, where: str, *, final: str = "assistant") -> list[Message]:
    """The messages as plain dicts, or an error naming `where`: an optional system message first,
    then user/assistant in turn from the user, non-empty string contents free of special tokens, and
    the last message from `final` ("assistant" for training, "user" for generation, "" for any)."""
    if not isinstance(messages, list) or not messages:
        raise BabyLlamaError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    out: list[Message] = []
    for k, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise BabyLlamaError(f"{where}: message {k} needs 'role' and 'content'")
        role, content = m["role"], m["content"]
        first = k == 0 or (k == 1 and out[0]["role"] == "system")
        expected = ("system", "user") if k == 0 else ("user",) if first else \
            ("assistant",) if out[-1]["role"] == "user" else ("user",)
        if role not in expected:
            raise BabyLlamaError(f"{where}: message {k} has role {role!r} where {' or '.join(map(repr, expected))} "
                                 f"belongs (system first, then user and assistant in turn)")
        if not isinstance(content, str) or not content.strip():
            raise BabyLlamaError(f"{where}: message {k} ({role}) has empty or non-string content")
        bad = next((t for t in SPECIAL_TOKENS if t in content), None)
        if bad:
            raise BabyLlamaError(f"{where}: message {k} ({role}) contains the reserved token {bad}")
        out.append({"role": role, "content": content})
    if final and out[-1]["role"] != final:
        raise BabyLlamaError(f"{where}: the last message must be from the {final}, not the {out[-1]['role']}")
    return out


def format_chat(messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
    """The template as text (what `render`'s ids decode to, up to the spaces SentencePiece adds)."""
    text = "".join(f"{ROLE_TOKENS[m['role']]}{m['content']}{END}" for m in messages)
    return text + (ASSISTANT if add_generation_prompt else "")


def parse_chat(text: str) -> list[Message]:
    """Messages back from `format_chat`'s text (or decoded ids: one leading space per turn is dropped)."""
    roles = {v: k for k, v in ROLE_TOKENS.items()}
    out = []
    for chunk in text.split(END):
        if not chunk.strip():
            continue
        token = next((t for t in roles if chunk.lstrip().startswith(t)), None)
        if token is None:
            raise BabyLlamaError(f"chat text: turn {len(out)} does not start with a role token: {chunk[:40]!r}")
        content = chunk.lstrip()[len(token):]
        out.append({"role": roles[token], "content": content[1:] if content.startswith(" ") else content})
    return out


@dataclass
class Rendered:
    ids: list[int]
    mask: list[int]  # 1 where the token is an assistant token or the end of an assistant turn
    cut: str = ""    # what was cut to fit the context: "", "prompt" or "answer"

    def __len__(self) -> int:
        return len(self.ids)


def render(messages: Sequence[Message], tokenizer: Any, *, max_len: int | None = None,
           add_generation_prompt: bool = False, where: str = "conversation", warn: bool = True) -> Rendered:
    """Token ids and loss mask of a checked conversation. Longer than max_len: the prompt side is cut
    from the left (BOS kept); an answer that alone does not fit is cut at its end. Either way a
    warning names `where` (warn=False: the caller reports `Rendered.cut` itself, see `warn_cuts`)."""
    ids_of = chat_ids(tokenizer)
    ids, mask = [tokenizer.bos_id], [0]
    for m in messages:
        body = tokenizer.encode(m["content"], bos=False)
        is_answer = int(m["role"] == "assistant")
        ids += [ids_of.role(m["role"]), *body, ids_of.end]
        mask += [0] + [is_answer] * (len(body) + 1)
    if add_generation_prompt:
        ids.append(ids_of.assistant)
        mask.append(0)
    if max_len is None or len(ids) <= max_len:
        return Rendered(ids, mask)
    # the last assistant turn starts after the last <|assistant|> token
    answer_at = max((i for i, t in enumerate(ids) if t == ids_of.assistant), default=len(ids) - 1)
    prompt_room = max_len - (len(ids) - answer_at)
    if prompt_room >= 1:
        cut = answer_at - prompt_room + 1
        out = Rendered(ids[:1] + ids[cut:], mask[:1] + mask[cut:], "prompt")
    else:
        end = answer_at + max_len - 1
        out = Rendered(ids[:1] + ids[answer_at:end], mask[:1] + mask[answer_at:end], "answer")
    if warn:
        warn_cuts([out], where, max_len)
    return out


def warn_cuts(rows: Sequence[Rendered], where: str, max_len: int) -> None:
    """One warning saying how many of `rows` lost prompt tokens or the end of their answer."""
    prompt, answer = sum(r.cut == "prompt" for r in rows), sum(r.cut == "answer" for r in rows)
    if prompt or answer:
        warnings.warn(f"{where}: {prompt + answer} of {len(rows)} conversations exceed the context of {max_len} "
                      f"tokens: {prompt} lost the start of their prompt, {answer} the end of their answer "
                      f"(raise data.seq_len or shorten them)", stacklevel=2)


# ---------------------------------------------------------------- reading files

def _rows(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, object) for each row of a JSON list or a JSONL file."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise BabyLlamaError(f"{path}: file not found")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BabyLlamaError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(data, list):
            raise BabyLlamaError(f"{path}: expected a JSON list of objects")
        for k, obj in enumerate(data):
            if not isinstance(obj, dict):
                raise BabyLlamaError(f"{path}: item {k} is not a JSON object")
            yield f"{path}: item {k}", obj
    else:
        for n, obj in iter_jsonl(path):
            yield f"{path}:{n}", obj


def _text(obj: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    v = obj.get(key, None if required else "")
    if not isinstance(v, str) or (required and not v.strip()):
        raise BabyLlamaError(f"{where}: field {key!r} is missing, empty or not a string")
    return v


def row_to_messages(obj: dict[str, Any], where: str) -> list[Message]:
    """One training conversation from a row in any of the supported layouts."""
    if "messages" in obj:
        return check_messages(obj["messages"], where)
    if "instruction" in obj:  # Alpaca
        extra = _text(obj, "input", where, required=False).strip()
        user = _text(obj, "instruction", where) + (f"\n\n{extra}" if extra else "")
        answer = _text(obj, "output", where)
    elif "prompt" in obj:
        user = _text(obj, "prompt", where)
        answer = _text(obj, "completion" if "completion" in obj else "response", where)
    else:
        raise BabyLlamaError(f"{where}: no 'messages', 'instruction' or 'prompt' field; see babyllama sft --help "
                             f"for the layouts read")
    return check_messages([{"role": "user", "content": user}, {"role": "assistant", "content": answer}], where)


def _read(path: str | Path, convert: Callable[[dict[str, Any], str], Any], limit: int | None, what: str) -> list:
    out = []
    for where, obj in _rows(path):
        out.append(convert(obj, where))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise BabyLlamaError(f"{path}: no {what} in the file")
    return out


def read_conversations(path: str | Path, limit: int | None = None) -> list[list[Message]]:
    """The first `limit` (None: all) conversations of a JSON or JSONL file."""
    return _read(path, row_to_messages, limit, "conversations")


@dataclass
class Pair:
    prompt: list[Message]  # ends with the user's turn
    chosen: str
    rejected: str


def _answer(value: Any, where: str, key: str) -> str:
    if isinstance(value, list):  # [{"role": "assistant", "content": ...}]
        if len(value) != 1 or not isinstance(value[0], dict) or value[0].get("role") != "assistant":
            raise BabyLlamaError(f"{where}: field {key!r} must be one assistant message")
        value = value[0].get("content")
    if not isinstance(value, str) or not value.strip():
        raise BabyLlamaError(f"{where}: field {key!r} is missing, empty or not a string")
    return value


def row_to_pair(obj: dict[str, Any], where: str) -> Pair:
    if "preferred_output" in obj or "non_preferred_output" in obj:  # the Azure / OpenAI layout
        inp = obj.get("input")
        prompt = inp.get("messages") if isinstance(inp, dict) else None
        chosen, rejected = obj.get("preferred_output"), obj.get("non_preferred_output")
        ckey, rkey = "preferred_output", "non_preferred_output"
        pwhere = f"{where} (input.messages)"
    else:
        for key in ("prompt", "chosen", "rejected"):
            if key not in obj:
                raise BabyLlamaError(f"{where}: field {key!r} is missing (pairs need prompt, chosen, rejected)")
        prompt, chosen, rejected, ckey, rkey = obj["prompt"], obj["chosen"], obj["rejected"], "chosen", "rejected"
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        pwhere = f"{where} (prompt)"
    pair = Pair(check_messages(prompt, pwhere, final="user"), _answer(chosen, where, ckey), _answer(rejected, where, rkey))
    if pair.chosen.strip() == pair.rejected.strip():
        raise BabyLlamaError(f"{where}: the chosen and rejected answers are identical")
    for key, text in ((ckey, pair.chosen), (rkey, pair.rejected)):
        check_messages([*pair.prompt, {"role": "assistant", "content": text}], f"{where} ({key})")
    return pair


def read_pairs(path: str | Path, limit: int | None = None) -> list[Pair]:
    """The first `limit` (None: all) preference pairs of a JSON or JSONL file."""
    return _read(path, row_to_pair, limit, "preference pairs")


# ---------------------------------------------------------------- batches

class ExampleBatches:
    """Batches of whole examples, in a seeded order reshuffled each epoch, with a resumable cursor.
    Each global batch of `batch_size` examples is split among ranks; `collate` makes tensors of a
    rank's list of examples."""

    def __init__(self, examples: Sequence[Any], batch_size: int, collate: Callable[[list[Any]], Any], *,
                 seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1) -> None:
        if not examples:
            raise BabyLlamaError("no training examples")
        self.examples, self.batch_size, self.collate = list(examples), batch_size, collate
        self.seed, self.shuffle, self.rank, self.world_size = seed, shuffle, rank, world_size
        self.epoch, self.pos = 0, 0
        self._order = self._make_order()

    def _make_order(self) -> list[int]:
        order = list(range(len(self.examples)))
        if self.shuffle:
            random.Random(f"{self.seed}-{self.epoch}").shuffle(order)
        return order

    def next_batch(self) -> Any:
        picked = []
        while len(picked) < self.batch_size:
            if self.pos >= len(self._order):
                self.epoch, self.pos = self.epoch + 1, 0
                self._order = self._make_order()
            picked.append(self.examples[self._order[self.pos]])
            self.pos += 1
        share = self.batch_size // self.world_size
        return self.collate(picked[self.rank * share:(self.rank + 1) * share])

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._order = self._make_order()


def sft_tensors(examples: Sequence[Rendered], pad_id: int) -> tuple[Any, Any]:
    """(x, y) of shape (B, T): inputs right-padded with pad_id, next-token targets that are IGNORE_INDEX
    wherever the target is not an assistant token (and on padding). Causal attention keeps padding on
    the right from touching real positions."""
    T = max(len(e) for e in examples) - 1
    x = torch.full((len(examples), T), pad_id, dtype=torch.long)
    y = torch.full((len(examples), T), IGNORE_INDEX, dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e) - 1
        x[i, :n] = torch.tensor(e.ids[:-1])
        y[i, :n] = torch.tensor([t if m else IGNORE_INDEX for t, m in zip(e.ids[1:], e.mask[1:])])
    return x, y
