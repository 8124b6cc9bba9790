"""`babyllama serve` in-process: the OpenAI-style API checked against the decoding engine and the
model's own forward pass, the batcher, every bad-input case of issue #14, and the decode hooks
(top alternatives, per-token callback) the server streams from."""
import json
import threading

import pytest
import torch

pytest.importorskip("starlette", reason="the serve extra (starlette, pydantic) is not installed")
pytest.importorskip("httpx", reason="starlette's TestClient needs httpx")
from starlette.testclient import TestClient  # noqa: E402

from babyllama.cli import main as cli_main  # noqa: E402
from babyllama.decode import GenerationConfig, SettingError, generate  # noqa: E402
from babyllama.serve import Limits, create_app  # noqa: E402
from babyllama.serve.batcher import Batcher, Job, QueueFull  # noqa: E402
from babyllama.serve.schemas import chat_prompt, parse_body, ChatRequest  # noqa: E402
from test_generate import ByteTok, tiny  # noqa: E402

TOK = ByteTok()


@pytest.fixture(scope="module")
def model():
    return tiny(max_seq_len=64)


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(model, TOK, name="tiny", limits=Limits(max_tokens=40, max_n=4, max_body_bytes=4096))
                    ) as c:
        yield c


def forward_logprobs(model, ids):
    """log softmax of the full forward pass over `ids`: row t is the distribution of token t + 1."""
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().log_softmax(-1)


def sse(lines):
    events = [ln[6:] for ln in lines if ln.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


# ---- the decode hooks
def test_top_alternatives_and_on_token_match_the_forward_pass(model):
    prompt = TOK.encode("hello", bos=True)
    seen = []
    [r] = generate(model, TOK, [prompt], max_new_tokens=8, logprobs=True, top_logprobs=3, ignore_eos=True,
                   on_token=lambda i, t, lp, top: seen.append((i, t, lp, top)))
    ref = forward_logprobs(model, prompt + r.tokens)
    assert [s[1] for s in seen] == r.tokens and {s[0] for s in seen} == {0}
    for k, (_, t, lp, top) in enumerate(seen):
        row = ref[len(prompt) - 1 + k]
        values, ids = row.topk(3)
        assert [a for a, _ in top] == ids.tolist()
        assert [v for _, v in top] == pytest.approx(values.tolist(), abs=1e-4)
        assert lp == pytest.approx(row[t].item(), abs=1e-4)
        assert top[0][0] == t  # greedy picks the most likely token
    assert r.top_logprobs == [s[3] for s in seen]


def test_top_logprobs_settings_are_checked():
    with pytest.raises(SettingError, match="top_logprobs.*needs logprobs"):
        GenerationConfig(top_logprobs=2)
    with pytest.raises(SettingError, match="top_logprobs.*0..20"):
        GenerationConfig(logprobs=True, top_logprobs=21)
    with pytest.raises(SettingError, match="top_logprobs.*beam"):
        GenerationConfig(logprobs=True, top_logprobs=2, num_beams=2)


# ---- the API against the engine
def test_completion_equals_generate_and_logprobs_match_forward(client, model):
    body = {"model": "tiny", "prompt": "The cat", "max_tokens": 12, "temperature": 0, "logprobs": 2,
            "ignore_eos": True}
    r = client.post("/v1/completions", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    [ref] = generate(model, TOK, ["The cat"], max_new_tokens=12, ignore_eos=True)
    choice = out["choices"][0]
    assert choice["text"] == ref.text and choice["finish_reason"] == "length"
    assert out["usage"] == {"prompt_tokens": 8, "completion_tokens": 12, "total_tokens": 20}
    lp = choice["logprobs"]
    ids = TOK.encode("The cat") + ref.tokens
    rows = forward_logprobs(model, ids)
    want = [rows[7 + k, t].item() for k, t in enumerate(ref.tokens)]
    assert lp["token_logprobs"] == pytest.approx(want, abs=1e-4)
    assert len(lp["top_logprobs"]) == 12 and all(1 <= len(d) <= 2 for d in lp["top_logprobs"])
    assert lp["text_offset"][0] == 0 and lp["text_offset"] == sorted(lp["text_offset"])


def test_streaming_concatenates_to_the_same_text_with_usage_last(client):
    body = {"prompt": "Once", "max_tokens": 15, "temperature": 0, "ignore_eos": True, "logprobs": 1}
    whole = client.post("/v1/completions", json=body).json()["choices"][0]["text"]
    with client.stream("POST", "/v1/completions",
                       json={**body, "stream": True, "stream_options": {"include_usage": True}}) as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        chunks = sse(list(s.iter_lines()))
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == whole
    tokens = [t for c in chunks if c["choices"] and c["choices"][0]["logprobs"]
              for t in c["choices"][0]["logprobs"]["tokens"]]
    assert len(tokens) == 15
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 15


def test_chat_is_the_plain_template_completed_and_streams(client, model):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    r = client.post("/v1/chat/completions", json={"messages": msgs, "max_tokens": 10, "temperature": 0,
                                                   "logprobs": True, "top_logprobs": 2})
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    prompt = chat_prompt(parse_body(json.dumps({"messages": msgs}).encode(), ChatRequest).messages)
    assert prompt == "System: Be brief.\nUser: Hi\nAssistant:"
    [ref] = generate(model, TOK, [prompt], max_new_tokens=10, stop=("\nUser:",))
    assert choice["message"] == {"role": "assistant", "content": ref.text}
    assert [e["token"] for e in choice["logprobs"]["content"]] == [TOK.decode([t]) for t in ref.tokens]
    with client.stream("POST", "/v1/chat/completions",
                       json={"messages": msgs, "max_tokens": 10, "temperature": 0, "stream": True}) as s:
        chunks = sse(list(s.iter_lines()))
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == ref.text
    assert chunks[0]["object"] == "chat.completion.chunk"


def test_seeded_sampling_reproduces_and_n_gives_choices(client):
    body = {"prompt": ["ab", "cd"], "max_tokens": 8, "temperature": 1.0, "seed": 7, "n": 2, "ignore_eos": True}
    a = client.post("/v1/completions", json=body).json()
    b = client.post("/v1/completions", json=body).json()
    assert [c["text"] for c in a["choices"]] == [c["text"] for c in b["choices"]]
    assert [c["index"] for c in a["choices"]] == [0, 1, 2, 3]
    other = client.post("/v1/completions", json={**body, "seed": 8}).json()
    assert [c["text"] for c in other["choices"]] != [c["text"] for c in a["choices"]]


def test_models_health_and_the_page(client):
    assert client.get("/v1/models").json()["data"][0]["id"] == "tiny"
    assert client.get("/health").json()["status"] == "ok"
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" in page.text and "/v1/completions" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: works offline


# ---- the batcher
def test_batcher_batches_equal_settings_and_matches_one_at_a_time(model):
    b = Batcher(model, TOK, max_batch=8, max_queue=8)
    try:
        greedy = GenerationConfig(max_new_tokens=6, ignore_eos=True)
        prompts = [TOK.encode(p) for p in ("a", "bb", "hello", "x y z")]
        hot = GenerationConfig(max_new_tokens=6, temperature=0.9, seed=3, ignore_eos=True)
        with b.cond:  # hold the worker back until all are queued
            jobs = [b.submit(Job([p], greedy)) for p in prompts] + [b.submit(Job([prompts[0]], hot))]
        res = [j.future.result(timeout=60) for j in jobs]
    finally:
        b.close()
    assert b.stats["batches"] == 2 and b.stats["served"] == 5  # the 4 greedy together, the seeded one alone
    for p, [r] in zip(prompts, res):
        [ref] = generate(model, TOK, [p], greedy)
        assert r.tokens == ref.tokens
    [ref] = generate(model, TOK, [prompts[0]], hot)
    assert res[4][0].tokens == ref.tokens  # seeded sampling is not changed by the other requests


def test_batcher_queue_bound_and_cancelled_jobs(model):
    b = Batcher(model, TOK, max_queue=1)
    try:
        cfg = GenerationConfig(max_new_tokens=4)
        with b.cond:  # the worker waits: the one place is taken
            gone = b.submit(Job([TOK.encode("a")], cfg))
            with pytest.raises(QueueFull):
                b.submit(Job([TOK.encode("b")], cfg))
            gone.cancelled = True  # its client went away: the place is free again
            ok = b.submit(Job([TOK.encode("c")], cfg))
        assert b.stats["rejected"] == 1
        assert len(ok.future.result(timeout=60)) == 1
    finally:
        b.close()
    assert not gone.future.done() and not b.thread.is_alive()


# ---- bad input: a 4xx JSON error naming the field, and the server keeps serving
BAD = [
    ("{not json", 400, "body"),
    ('["a list"]', 400, "body"),
    ({"prompt": "x", "temperature": "hot"}, 400, "temperature"),
    ({"prompt": "x", "max_tokens": -1}, 400, "max_tokens"),
    ({"prompt": "x", "max_tokens": 41}, 400, "max_tokens"),
    ({"prompt": "x", "tempreature": 0.5}, 400, "tempreature"),
    ({"prompt": "x", "n": 5}, 400, "n"),
    ({"prompt": "x", "n": 2, "temperature": 0}, 400, "n"),
    ({"prompt": "x", "top_p": 0}, 400, "top_p"),
    ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
    ({"prompt": "x", "stream": True, "num_beams": 2, "temperature": 0}, 400, "num_beams"),
    ({"prompt": "x", "logit_bias": {"5": 1.0}}, 400, "logit_bias"),
    ({"prompt": [5, 9999]}, 400, "prompt"),
    ({"prompt": "x" * 70}, 400, "prompt"),  # longer than the 64-token context
    ({"prompt": "x", "model": "gpt-4"}, 404, "model"),
    ({"prompt": "x" * 5000}, 413, "body"),  # over the 4096-byte body limit
]


@pytest.mark.parametrize("body,status,param", BAD, ids=[b[2] + str(i) for i, b in enumerate(BAD)])
def test_bad_input_names_the_field_and_the_server_keeps_serving(client, body, status, param):
    content = body if isinstance(body, str) else json.dumps(body)
    r = client.post("/v1/completions", content=content, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["param"] == param and param in err["message"] and err["type"]
    ok = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2})
    assert ok.status_code == 200


def test_bad_chat_input(client):
    for body, param in [({"messages": []}, "messages"), ({"messages": [{"role": "robot", "content": "x"}]}, "messages"),
                        ({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}, "top_logprobs"),
                        ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}},
                         "response_format")]:
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text


def test_full_queue_answers_503_with_retry_after(model):
    with TestClient(create_app(model, TOK, max_queue=0)) as c:
        r = c.post("/v1/completions", json={"prompt": "x", "max_tokens": 2})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["type"] == "server_busy"
        r = c.post("/v1/completions", json={"prompt": "x", "max_tokens": 2, "stream": True})
        assert r.status_code == 503
        assert c.get("/health").json()["rejected"] == 2


def test_unknown_route_is_a_json_404(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_cli_help_and_bad_flags(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        cli_main(["serve", "--help"])
    assert e.value.code == 0 and "--max-queue" in capsys.readouterr().out
    assert cli_main(["serve", str(tmp_path / "missing"), "--port", "70000"]) == 2
    assert "--port 70000" in capsys.readouterr().err
    assert cli_main(["serve", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_threads_left_after_the_app_stops(model):
    before = threading.active_count()
    with TestClient(create_app(model, TOK)) as c:
        assert c.post("/v1/completions", json={"prompt": "x", "max_tokens": 2}).status_code == 200
    assert threading.active_count() <= before


def test_chat_uses_the_chat_template_when_the_tokenizer_has_its_tokens():
    from babyllama.data.chat import add_chat_tokens, chat_ids, check_messages, render
    from babyllama.decode.chat import chat_stops
    from babyllama.data.stories import generate_stories
    from babyllama.tokenizers.train import train_tokenizer

    tok = add_chat_tokens(train_tokenizer(generate_stories(200), 500))
    model = tiny(vocab=tok.vocab_size, max_seq_len=128)
    msgs = [{"role": "user", "content": "Tell me about a cat."}]
    with TestClient(create_app(model, tok)) as c:
        r = c.post("/v1/chat/completions", json={"messages": msgs, "max_tokens": 12, "temperature": 0})
        assert r.status_code == 200, r.text
        bad = c.post("/v1/chat/completions", json={"messages": [{"role": "assistant", "content": "hi"}]})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages"
    ids = render(check_messages(msgs, "m", final="user"), tok, add_generation_prompt=True).ids
    # the server ends a turn where `babyllama chat` does: at any chat token or BOS
    [ref] = generate(model, tok, [ids], max_new_tokens=12, stop_token_ids=chat_stops(tok)[0])
    assert chat_ids(tok).end in chat_stops(tok)[0]
    assert r.json()["choices"][0]["message"]["content"] == ref.text
