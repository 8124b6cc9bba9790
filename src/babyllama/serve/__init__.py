"""`babyllama serve`: an OpenAI-compatible HTTP API over one loaded model, and a playground page.

    from babyllama.serve import create_app
    app = create_app(model, tokenizer, name="stories260K")   # Starlette app; `run_server` runs it on uvicorn

Modules: schemas (request bodies, limits, errors, the plain chat prompt), batcher (bounded queue and
the worker thread that batches requests with equal settings through `decode.generate`), app (routes,
response and server-sent-event shapes), server (uvicorn), playground.html (the page, no build step).
"""
from babyllama.serve.app import create_app
from babyllama.serve.schemas import APIError, Limits
from babyllama.serve.server import run_server

__all__ = ["APIError", "Limits", "create_app", "run_server"]
