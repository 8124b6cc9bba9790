"""Request bodies of the OpenAI-style endpoints, checked with pydantic, and their translation into
`GenerationConfig`. Every mistake becomes an `APIError`: an HTTP status and a JSON error naming the
field (`param`), shaped as OpenAI's (`{"error": {"message", "type", "param", "code"}}`)."""
from __future__ import annotations

import json
import re
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from babyllama.decode import GenerationConfig, SettingError

# API name -> GenerationConfig field, where the two differ
API_NAMES = {"max_new_tokens": "max_tokens", "num_return_sequences": "n"}


class APIError(Exception):
    """A request the server refuses: status, one-line message, and the field it is about."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.kind = status, message, param, kind

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": None}}


class Limits(BaseModel):
    """What one request may ask for (the server's --max-* flags)."""

    max_tokens: int = 512  # per choice
    max_n: int = 8
    max_body_bytes: int = 256 * 1024


class _Settings(BaseModel):
    """Decoding settings both endpoints take: OpenAI's names, plus the rest of GenerationConfig's."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    stream: bool = False
    stream_options: dict[str, bool] | None = None
    stop: Union[str, list[str], None] = None
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    seed: int | None = None
    user: str | None = None
    logit_bias: dict[str, float] | None = None
    # babyllama's (and vLLM's) extras; the `openai` client sends them through `extra_body`
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool = False
    ignore_eos: bool = False
    stop_token_ids: list[int] = []


class CompletionRequest(_Settings):
    prompt: Union[str, list[str], list[int], list[list[int]]]
    max_tokens: int | None = 16
    logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["system", "user", "assistant", "developer"]
    content: Union[str, list[dict[str, Any]]]
    name: str | None = None


class ChatRequest(_Settings):
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: dict[str, Any] | None = None


def parse_body(raw: bytes, schema: type[BaseModel]) -> Any:
    """JSON bytes -> a validated request, or an APIError naming the first bad field."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise APIError(400, f"body: malformed JSON{where}: {getattr(e, 'msg', e)}", "body") from None
    if not isinstance(data, dict):
        raise APIError(400, "body: expected a JSON object", "body")
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(x) for x in err["loc"] if not str(x).startswith(("str", "list[", "int", "dict[", "float"))]
        field = ".".join(loc) or "body"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise APIError(400, f"{field}: {msg}", field.split(".")[0]) from None


def _stops(stop: str | list[str] | None) -> tuple[str, ...]:
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if len(stops) > 4 or any(not s for s in stops):
        raise APIError(400, "stop: at most 4 non-empty strings", "stop")
    return stops


def to_config(req: _Settings, max_tokens: int | None, logprobs: bool, top: int, limits: Limits,
              room: int) -> GenerationConfig:
    """The request's GenerationConfig. `room` is the context left after the longest prompt: an
    unset max_tokens means all of it, capped by the server's per-request limit."""
    if req.logit_bias:
        raise APIError(400, "logit_bias: not supported", "logit_bias")
    want = min(room, limits.max_tokens) if max_tokens is None else max_tokens
    if want > limits.max_tokens:
        raise APIError(400, f"max_tokens: {want} is over this server's limit of {limits.max_tokens}", "max_tokens")
    if req.n > limits.max_n:
        raise APIError(400, f"n: {req.n} is over this server's limit of {limits.max_n}", "n")
    if req.stream and req.num_beams > 1:
        raise APIError(400, "num_beams: beam search cannot stream; set stream false", "num_beams")
    try:
        return GenerationConfig(
            max_new_tokens=want, temperature=req.temperature, top_p=req.top_p, top_k=req.top_k, min_p=req.min_p,
            repetition_penalty=req.repetition_penalty, presence_penalty=req.presence_penalty,
            frequency_penalty=req.frequency_penalty, no_repeat_ngram_size=req.no_repeat_ngram_size,
            num_beams=req.num_beams, length_penalty=req.length_penalty, early_stopping=req.early_stopping,
            num_return_sequences=req.n, stop=_stops(req.stop), stop_token_ids=tuple(req.stop_token_ids),
            ignore_eos=req.ignore_eos, seed=req.seed, logprobs=logprobs, top_logprobs=top, truncate="error")
    except SettingError as e:
        name = re.match(r"(\w+)=", str(e))
        field = API_NAMES.get(name.group(1), name.group(1)) if name else None
        raise APIError(400, re.sub(r"^(\w+)=", (field or "") + "=", str(e)), field) from None


def message_text(m: Message) -> str:
    """A message's text: the string, or its text parts joined."""
    return m.content if isinstance(m.content, str) else "".join(
        part.get("text", "") for part in m.content if part.get("type") == "text")


def chat_prompt(messages: list[Message]) -> str:
    """The conversation as plain text for a base model (one without the chat template's tokens):
    one 'Role: text' line per turn, then 'Assistant:' for the model to continue. Generation stops at
    the next 'User:' line."""
    lines = []
    for m in messages:
        role = "System" if m.role in ("system", "developer") else m.role.capitalize()
        lines.append(f"{role}: {message_text(m).strip()}")
    return "\n".join(lines) + "\nAssistant:"


CHAT_STOP = "\nUser:"
