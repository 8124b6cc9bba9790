"""Replies in a conversation: the chat template's prompt, generation, and the answer cut at <|end|>.

    results = reply(model, tok, [[{"role": "user", "content": "Tell me a story about Mia."}]],
                    GenerationConfig(max_new_tokens=200, temperature=0.7, top_k=40, seed=0))
    results[0].text

`chat_prompt` renders each conversation (ending with the user's turn) with `data.chat.render` and the
generation prompt; generation stops at <|end|> (or any other chat token, BOS or EOS), so the text is
the assistant's answer alone.
"""
from __future__ import annotations

from typing import Any, Sequence

from babyllama.data.chat import SPECIAL_TOKENS, Message, chat_ids, check_messages, render
from babyllama.decode.engine import generate
from babyllama.decode.settings import GenerationConfig, GenerationResult, SettingError
from babyllama.model import Llama


def chat_prompt(messages: Sequence[Message], tokenizer: Any, max_len: int) -> list[int]:
    """Token ids of the conversation so far, ending with <|assistant|>, cut from the left to max_len."""
    checked = check_messages(list(messages), "conversation", final="user")
    return render(checked, tokenizer, max_len=max_len, add_generation_prompt=True).ids


def chat_stops(tokenizer: Any) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """What ends an assistant's turn: the ids of every chat token and BOS, and the chat tokens' text
    (in case the model spells one out of ordinary pieces)."""
    ids = chat_ids(tokenizer, "model")
    return (ids.system, ids.user, ids.assistant, ids.end, tokenizer.bos_id), tuple(SPECIAL_TOKENS)


def reply(model: Llama, tokenizer: Any, conversations: Sequence[Sequence[Message]],
          config: GenerationConfig | None = None, *, batch_size: int = 32, stream: Any = None) -> list[GenerationResult]:
    """The assistant's next answer to each conversation (one result per conversation and sample)."""
    cfg = config or GenerationConfig()
    room = model.config.max_seq_len - cfg.max_new_tokens
    if room < 8:
        raise SettingError(f"max_new_tokens={cfg.max_new_tokens} leaves no room for the conversation in the "
                           f"model's context of {model.config.max_seq_len}")
    prompts = [chat_prompt(c, tokenizer, room) for c in conversations]
    stop_ids, stop_texts = chat_stops(tokenizer)
    cfg = cfg.replace(stop_token_ids=tuple(sorted(set(cfg.stop_token_ids) | set(stop_ids))), add_bos=False,
                      stop=tuple(sorted(set(cfg.stop) | set(stop_texts))))
    return generate(model, tokenizer, prompts, cfg, batch_size=batch_size, stream=stream)
