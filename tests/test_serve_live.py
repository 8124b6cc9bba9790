"""`babyllama serve` on a real socket (127.0.0.1, an ephemeral port): the official `openai` client
(completions, chat, streaming), a client that hangs up mid-stream, and the playground page in
headless Chromium driven by Playwright. Each part skips, with the reason, when its package or the
browser is absent."""
import os
import shutil
import socket
import threading
import time

import pytest

uvicorn = pytest.importorskip("uvicorn", reason="the serve extra (uvicorn) is not installed")
httpx = pytest.importorskip("httpx", reason="httpx is not installed")

from babyllama.serve import Limits, create_app  # noqa: E402
from test_generate import ByteTok, tiny  # noqa: E402

CHROMIUM = os.environ.get("BABYLLAMA_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def live():
    """(base url, app) of a uvicorn server on 127.0.0.1 in a thread, stopped after the module."""
    app = create_app(tiny(max_seq_len=96), ByteTok(), name="tiny", limits=Limits(max_tokens=64))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


def test_openai_client_completions_chat_and_streaming(live):
    openai = pytest.importorskip("openai", reason="the openai package is not installed")
    base, _ = live
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=60)
    assert [m.id for m in client.models.list().data] == ["tiny"]
    c = client.completions.create(model="tiny", prompt="Once", max_tokens=10, temperature=0,
                                  extra_body={"ignore_eos": True})
    assert c.choices[0].finish_reason == "length" and c.usage.completion_tokens == 10
    streamed = client.completions.create(model="tiny", prompt="Once", max_tokens=10, temperature=0, stream=True,
                                         extra_body={"ignore_eos": True})
    assert "".join(ch.choices[0].text for ch in streamed if ch.choices) == c.choices[0].text
    msgs = [{"role": "user", "content": "Hello"}]
    chat = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=8, temperature=0, logprobs=True,
                                          top_logprobs=3)
    assert chat.choices[0].message.role == "assistant"
    assert len(chat.choices[0].logprobs.content[0].top_logprobs) == 3
    parts = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=8, temperature=0, stream=True)
    assert "".join(p.choices[0].delta.content or "" for p in parts if p.choices) == chat.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="tiny", prompt="x", max_tokens=-3)
    assert e.value.body["param"] == "max_tokens"


def test_a_client_that_hangs_up_mid_stream_frees_the_server(live):
    base, app = live
    server = app.state.server
    body = {"prompt": "Hi", "max_tokens": 64, "temperature": 0, "ignore_eos": True, "stream": True}
    with httpx.Client(timeout=60) as h:
        with h.stream("POST", base + "/v1/completions", json=body) as r:
            first = next(r.iter_lines())
            assert first.startswith("data: ")
        # closed after one event: the server stops that generation and keeps serving
        deadline = time.monotonic() + 30
        while server.batcher.status()["abandoned"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.batcher.status()["abandoned"] == 1
        ok = h.post(base + "/v1/completions", json={"prompt": "Hi", "max_tokens": 3})
        assert ok.status_code == 200 and len(ok.json()["choices"][0]["text"]) > 0


def test_playground_in_headless_chromium(live):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")
    base, _ = live
    errors = []
    with sync_api.sync_playwright() as pw:
        # Playwright gives the browser a fresh profile folder of its own (no --user-data-dir here)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS[1:], headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 760})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/")
            page.wait_for_function("document.getElementById('model').textContent.startsWith('tiny')")
            page.fill("#prompt", "Once upon")
            page.fill("#seed", "5")
            page.fill("#max_tokens", "20")
            page.click("#compare")
            page.click("#generate")
            page.wait_for_function("[...document.querySelectorAll('.out')].every(b => b.dataset.done === 'true')",
                                   timeout=60_000)
            for tag in ("A", "B"):
                block = page.locator(f".out[data-tag={tag}]")
                assert block.locator(".prompt").inner_text() == "Once upon"
                tokens = block.locator(".tok")
                n = tokens.count()
                assert 1 <= n <= 20 and block.locator(".stats").inner_text().startswith(f"{n} tokens")
                colours = {tokens.nth(k).evaluate("e => getComputedStyle(e).backgroundColor") for k in range(10)}
                assert all(c.startswith("rgb") and c != "rgba(0, 0, 0, 0)" for c in colours)
            tokens.first.hover()
            assert page.locator("#tip").is_visible() and "top alternatives" in page.locator("#tip").inner_text()
        finally:
            browser.close()
    assert errors == []
