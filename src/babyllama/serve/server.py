"""Run the app on uvicorn, bound to localhost unless asked otherwise."""
from __future__ import annotations

import ipaddress
import sys
from typing import Any

from babyllama.serve.app import create_app
from babyllama.serve.schemas import Limits
from babyllama.utils.optional import require


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_server(model: Any, tokenizer: Any, *, name: str, host: str = "127.0.0.1", port: int = 8000,
               limits: Limits | None = None, max_batch: int = 8, max_queue: int = 16, batching: bool = True,
               log_level: str = "warning") -> None:
    """Serve until Ctrl-C / SIGTERM (uvicorn handles both and lets running requests finish)."""
    uvicorn = require("uvicorn", "babyllama serve runs on uvicorn")
    app = create_app(model, tokenizer, name=name, limits=limits, max_batch=max_batch, max_queue=max_queue,
                     batching=batching)
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {name} on http://{shown}:{port}/  (playground at /, API at /v1; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    if not is_loopback(host):
        print(f"warning: {host} is not a loopback address: anyone who can reach this machine can use the model",
              file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
