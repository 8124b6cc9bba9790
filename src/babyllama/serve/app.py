"""The HTTP app (Starlette): OpenAI-style `/v1/completions`, `/v1/chat/completions` (JSON or
server-sent events), `/v1/models`, `/health`, and the playground page at `/`.

    app = create_app(model, tokenizer, name="stories260K")   # any ASGI server runs it
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from importlib import resources
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from babyllama.data.chat import check_messages, has_chat_tokens, render
from babyllama.decode import GenerationConfig, GenerationResult
from babyllama.decode.chat import chat_stops
from babyllama.serve.batcher import Batcher, Job, QueueFull
from babyllama.serve.schemas import (CHAT_STOP, APIError, ChatRequest, CompletionRequest, Limits, chat_prompt,
                                     message_text, parse_body, to_config)
from babyllama.utils.io import BabyLlamaError


def token_text(tokenizer: Any, token_id: int) -> str:
    """A token as text on its own, with the leading space SentencePiece marks as '▁' kept."""
    text = tokenizer.decode([token_id])
    piece = tokenizer.id_to_piece(token_id) if hasattr(tokenizer, "id_to_piece") else ""
    return " " + text if piece.startswith("\u2581") and not text.startswith(" ") else text


def _finish(reason: str) -> str:
    return "length" if reason == "context" else reason  # OpenAI has no "context": the limit was hit


class Server:
    """The state behind the routes: the model, its batcher, the limits, and the response shapes."""

    def __init__(self, model: Any, tokenizer: Any, name: str, limits: Limits, batcher: Batcher) -> None:
        self.model, self.tok, self.name, self.limits, self.batcher = model, tokenizer, name, limits, batcher
        self.context = model.config.max_seq_len

    # ---- requests -> jobs
    async def body(self, request: Request, schema: type) -> Any:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > self.limits.max_body_bytes:
            raise APIError(413, f"body: {size} bytes is over the limit of {self.limits.max_body_bytes}", "body")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > self.limits.max_body_bytes:
                raise APIError(413, f"body: over the limit of {self.limits.max_body_bytes} bytes", "body")
        req = parse_body(bytes(raw), schema)
        if req.model not in (None, self.name):
            raise APIError(404, f"model: {req.model!r} is not served here; this server has {self.name!r}", "model",
                           "not_found_error")
        return req

    def encode(self, prompts: list[str] | list[list[int]], field: str) -> list[list[int]]:
        out = []
        for i, p in enumerate(prompts):
            ids = self.tok.encode(p, bos=True, eos=False) if isinstance(p, str) else list(p)
            if not ids:
                raise APIError(400, f"{field}: prompt {i} is empty", field)
            if min(ids) < 0 or max(ids) >= self.model.config.vocab_size:
                raise APIError(400, f"{field}: prompt {i} has token ids outside 0..{self.model.config.vocab_size - 1}",
                               field)
            if len(ids) >= self.context:
                raise APIError(400, f"{field}: prompt {i} has {len(ids)} tokens; the model's context is "
                                    f"{self.context}, which leaves no room to generate", field)
            out.append(ids)
        return out

    def completion_job(self, req: CompletionRequest) -> tuple[Job, list[list[int]]]:
        if req.suffix is not None:
            raise APIError(400, "suffix: not supported", "suffix")
        if req.echo:
            raise APIError(400, "echo: not supported", "echo")
        if req.best_of not in (None, req.n):
            raise APIError(400, "best_of: only best_of == n is supported", "best_of")
        p = req.prompt
        prompts = [p] if isinstance(p, str) or (p and isinstance(p[0], int)) else list(p)
        if not prompts:
            raise APIError(400, "prompt: empty list", "prompt")
        ids = self.encode(prompts, "prompt")  # type: ignore[arg-type]
        cfg = to_config(req, req.max_tokens, req.logprobs is not None, req.logprobs or 0, self.limits,
                        self.context - max(map(len, ids)))
        return Job(ids, cfg), ids

    def chat_job(self, req: ChatRequest) -> tuple[Job, list[list[int]]]:
        if req.response_format and req.response_format.get("type") != "text":
            raise APIError(400, "response_format: only {'type': 'text'} is supported", "response_format")
        if req.top_logprobs and not req.logprobs:
            raise APIError(400, "top_logprobs: needs logprobs true", "top_logprobs")
        if hasattr(self.tok, "piece_to_id") and has_chat_tokens(self.tok):  # a chat model: its own template
            msgs = [{"role": "system" if m.role == "developer" else m.role, "content": message_text(m)}
                    for m in req.messages]
            try:
                rendered = render(check_messages(msgs, "messages", final="user"), self.tok, add_generation_prompt=True)
            except BabyLlamaError as e:
                raise APIError(400, str(e), "messages") from None
            ids = self.encode([rendered.ids], "messages")
            stop_ids, _ = chat_stops(self.tok)  # a turn ends at any chat token or BOS, as in `babyllama chat`
            req = req.model_copy(update={"stop_token_ids": req.stop_token_ids + [i for i in stop_ids if i is not None]})
        else:  # a base model: plain 'Role: text' lines, stopping at the next user line
            ids = self.encode([chat_prompt(req.messages)], "messages")
            stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
            if CHAT_STOP not in stops:
                req = req.model_copy(update={"stop": stops + [CHAT_STOP]})
        limit = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
        cfg = to_config(req, limit, req.logprobs, req.top_logprobs or 0, self.limits, self.context - len(ids[0]))
        return Job(ids, cfg), ids

    def submit(self, job: Job) -> Job:
        try:
            return self.batcher.submit(job)
        except QueueFull as e:
            raise APIError(503, f"server busy: {e}; retry shortly", None, "server_busy") from None

    # ---- logprobs in OpenAI's two shapes
    def chat_logprobs(self, tokens: list[int], lps: list[float], tops: list[list[tuple[int, float]]] | None
                      ) -> list[dict[str, Any]]:
        def entry(t: int, lp: float) -> dict[str, Any]:
            s = token_text(self.tok, t)
            return {"token": s, "logprob": lp, "bytes": list(s.encode("utf-8"))}
        return [{**entry(t, lp), "top_logprobs": [entry(a, alp) for a, alp in (tops[k] if tops else [])]}
                for k, (t, lp) in enumerate(zip(tokens, lps))]

    def completion_logprobs(self, tokens: list[int], lps: list[float], tops: list[list[tuple[int, float]]] | None,
                            offset: int = 0) -> dict[str, Any]:
        strs = [token_text(self.tok, t) for t in tokens]
        offsets = []
        for s in strs:
            offsets.append(offset)
            offset += len(s)
        top = [{token_text(self.tok, a): alp for a, alp in step} for step in tops] if tops else None
        return {"tokens": strs, "token_logprobs": lps, "top_logprobs": top, "text_offset": offsets}

    def logprobs(self, chat: bool, cfg: GenerationConfig, tokens: list[int], lps: list[float],
                 tops: list[list[tuple[int, float]]] | None, offset: int = 0) -> Any:
        if not cfg.logprobs:
            return None
        tops = tops if cfg.top_logprobs else None
        return {"content": self.chat_logprobs(tokens, lps, tops)} if chat else \
            self.completion_logprobs(tokens, lps, tops, offset)

    # ---- responses
    def head(self, chat: bool, stream: bool) -> dict[str, Any]:
        kind = ("chat.completion.chunk" if stream else "chat.completion") if chat else "text_completion"
        prefix = "chatcmpl-" if chat else "cmpl-"
        return {"id": prefix + uuid.uuid4().hex[:24], "object": kind, "created": int(time.time()), "model": self.name}

    def usage(self, prompts: list[list[int]], results: list[GenerationResult]) -> dict[str, int]:
        p = sum(map(len, prompts))
        c = sum(len(r.tokens) for r in results)
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    def answer(self, chat: bool, job: Job, prompts: list[list[int]], results: list[GenerationResult]
               ) -> dict[str, Any]:
        choices = []
        for i, r in enumerate(results):
            lp = self.logprobs(chat, job.cfg, r.tokens, r.logprobs or [], r.top_logprobs)
            body = {"message": {"role": "assistant", "content": r.text}} if chat else {"text": r.text}
            choices.append({"index": i, **body, "logprobs": lp, "finish_reason": _finish(r.finish_reason)})
        return {**self.head(chat, False), "choices": choices, "usage": self.usage(prompts, results)}

    def submit_streaming(self, job: Job) -> asyncio.Queue:
        """Queue a streaming job (503 now, before any response is sent, when the queue is full); its
        events, then ("end",), arrive on the returned asyncio queue."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        job.on_event = lambda ev: loop.call_soon_threadsafe(queue.put_nowait, ev)
        job.future.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, ("end",)))
        self.submit(job)
        return queue

    async def events(self, chat: bool, job: Job, queue: asyncio.Queue, prompts: list[list[int]],
                     include_usage: bool) -> AsyncIterator[str]:
        """The job's server-sent events: one chunk per text piece (with the logprobs of the tokens
        chosen since the last one), a last chunk per choice with its finish_reason, then [DONE]."""
        head = self.head(chat, True)
        pending: dict[int, tuple[list[int], list[float], list]] = {}
        offsets: dict[int, int] = {}

        def chunk(i: int, text: str, finish: str | None = None) -> str:
            toks, lps, tops = pending.pop(i, ([], [], []))
            lp = self.logprobs(chat, job.cfg, toks, lps, tops, offsets.get(i, 0)) if toks else None
            offsets[i] = offsets.get(i, 0) + len(text)
            body = {"delta": ({"role": "assistant", "content": text} if text or finish is None else {})} if chat \
                else {"text": text}
            choice = {"index": i, **body, "logprobs": lp, "finish_reason": finish}
            return "data: " + json.dumps({**head, "choices": [choice]}) + "\n\n"

        try:
            while True:
                ev = await queue.get()
                if ev[0] == "end":
                    break
                if ev[0] == "token":
                    toks, lps, tops = pending.setdefault(ev[1], ([], [], []))
                    toks.append(ev[2])
                    lps.append(ev[3])
                    tops.append(ev[4] or [])
                else:
                    yield chunk(ev[1], ev[2])
            try:
                results = job.future.result()
            except Exception as e:  # noqa: BLE001 - reported in the stream, the server keeps going
                yield "data: " + json.dumps(_as_api_error(e).body()) + "\n\n"
            else:
                for i, r in enumerate(results):
                    yield chunk(i, "", _finish(r.finish_reason))
                if include_usage:
                    yield "data: " + json.dumps({**head, "choices": [], "usage": self.usage(prompts, results)}) + "\n\n"
            yield "data: [DONE]\n\n"
        finally:
            job.cancelled = True  # a client that went away mid-stream stops counting for its batch

    async def handle(self, request: Request, chat: bool) -> Response:
        req = await self.body(request, ChatRequest if chat else CompletionRequest)
        job, prompts = self.chat_job(req) if chat else self.completion_job(req)
        if req.stream:
            include = bool((req.stream_options or {}).get("include_usage"))
            queue = self.submit_streaming(job)
            return StreamingResponse(self.events(chat, job, queue, prompts, include), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.submit(job)
        try:
            results = await asyncio.wrap_future(job.future)
        finally:
            job.cancelled = True
        return JSONResponse(self.answer(chat, job, prompts, results))


def _as_api_error(exc: Exception) -> APIError:
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, HTTPException):
        return APIError(exc.status_code, f"{exc.detail}", None, "not_found_error" if exc.status_code == 404
                        else "invalid_request_error")
    if isinstance(exc, BabyLlamaError):
        return APIError(400, str(exc))
    return APIError(500, f"internal error: {type(exc).__name__}: {exc}", None, "server_error")


async def _error_response(request: Request, exc: Exception) -> Response:  # async: no worker thread
    err = _as_api_error(exc)
    headers = {"Retry-After": "1"} if err.status == 503 else None
    return JSONResponse(err.body(), status_code=err.status, headers=headers)


def playground_html() -> str:
    return resources.files("babyllama.serve").joinpath("playground.html").read_text(encoding="utf-8")


def create_app(model: Any, tokenizer: Any, *, name: str = "babyllama", limits: Limits | None = None,
               max_batch: int = 8, max_queue: int = 16, batching: bool = True) -> Starlette:
    """The ASGI app serving `model`. Its worker thread stops when the app shuts down."""
    limits = limits or Limits()
    batcher = Batcher(model, tokenizer, max_batch=max_batch, max_queue=max_queue, batching=batching)
    server = Server(model, tokenizer, name, limits, batcher)
    page = playground_html()

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": server.name, **batcher.status()})

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": server.name, "object": "model", "created": 0, "owned_by": "babyllama",
             "context_length": server.context, "max_tokens": limits.max_tokens}]})

    async def completions(request: Request) -> Response:
        return await server.handle(request, chat=False)

    async def chat(request: Request) -> Response:
        return await server.handle(request, chat=True)

    routes = [Route("/", index), Route("/health", health), Route("/v1/models", models),
              Route("/v1/completions", completions, methods=["POST"]),
              Route("/v1/chat/completions", chat, methods=["POST"])]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        batcher.close()

    handlers = {APIError: _error_response, HTTPException: _error_response, Exception: _error_response}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.state.server = server
    return app
