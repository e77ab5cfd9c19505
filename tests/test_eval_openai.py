"""The OpenAI-compatible HTTP backend against a small server this test starts on 127.0.0.1 (port 0)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_eval_doubles import write_jsonl

from logicrl.errors import UserError
from logicrl.eval.backends import make_backend
from logicrl.eval.runner import EvalConfig, run_eval


class FakeServer:
    """An OpenAI-style server: /v1/completions and /v1/chat/completions answer "\\boxed{<number>}" where
    the number is the first integer in the prompt times 2, plus the choice index, plus how many earlier
    requests asked the same prompt (with `reply`: that text, whatever the prompt); `usage.completion_tokens` is 5
    per choice. `fail_first` requests get a 503."""

    def __init__(self, fail_first: int = 0, reject: bool = False, reply: str | None = None):
        self.requests: list[tuple[str, dict]] = []
        self.fail_first = fail_first
        self.reject = reject
        self.reply = reply
        self.seen: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, body))
                if server.reject:
                    return self._send(400, {"error": {"message": "model not found"}})
                if len(server.requests) <= server.fail_first:
                    return self._send(503, {"error": "busy"})
                chat = self.path == "/v1/chat/completions"
                count = body["n"]
                if server.reply is None:
                    text = body["messages"][-1]["content"] if chat else body["prompt"]
                    base = 2 * int("".join(ch for ch in text.split("Problem ")[1] if ch.isdigit())[:4] or 0)
                    base += server.seen.get(text, 0)
                    server.seen[text] = server.seen.get(text, 0) + 1
                choices = []
                for i in range(count):
                    answer = server.reply if server.reply is not None else f"work... \\boxed{{{base + i}}}"
                    choice = {"index": i, "message": {"role": "assistant", "content": answer}} if chat \
                        else {"index": i, "text": answer}
                    choices.append(choice)
                self._send(200, {"choices": choices[::-1],  # out of order on purpose
                                 "usage": {"completion_tokens": 5 * count}})

            def _send(self, code, payload):
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def backend(url, **options):
    return make_backend("openai", model="served-model", base_url=url, retries=2, backoff=0.01, timeout=10,
                        **options)


def test_completions_and_chat_endpoints():
    with FakeServer() as server:
        b = backend(server.url)
        out = b.generate(["Problem 21: plain", [{"role": "user", "content": "Problem 5: chat"}]], n=3,
                         temperature=0.5, top_p=0.9, max_tokens=64, seed=11)
        assert out == [[f"work... \\boxed{{{42 + i}}}" for i in range(3)],
                       [f"work... \\boxed{{{10 + i}}}" for i in range(3)]]
        paths = sorted(path for path, _ in server.requests)
        assert paths == ["/v1/chat/completions"] * 3 + ["/v1/completions"] * 3  # one request per completion
        plain = [body for path, body in server.requests if path == "/v1/completions"]
        assert [body["seed"] for body in plain] == [11, 12, 13] and all(body["n"] == 1 for body in plain)
        body = plain[0]
        assert body["model"] == "served-model" and body["temperature"] == 0.5
        assert body["top_p"] == 0.9 and body["max_tokens"] == 64 and body["prompt"] == "Problem 21: plain"
        assert b.generated_tokens == 30
        assert b.last_token_counts == [[5, 5, 5], [5, 5, 5]]  # each completion's length from `usage`


def test_retries_busy_server():
    with FakeServer(fail_first=2) as server:
        assert backend(server.url).generate(["Problem 1"], n=1, temperature=0, top_p=1, max_tokens=8,
                                            seed=0) == [["work... \\boxed{2}"]]
        assert len(server.requests) == 3


def test_errors_are_one_line_user_errors():
    with FakeServer(reject=True) as server, pytest.raises(UserError, match="HTTP 400.*model not found"):
        backend(server.url).generate(["Problem 1"], n=1, temperature=0, top_p=1, max_tokens=8, seed=0)
    with FakeServer(fail_first=99) as server, pytest.raises(UserError, match="failed after 3 attempts"):
        backend(server.url).generate(["Problem 1"], n=1, temperature=0, top_p=1, max_tokens=8, seed=0)
    with pytest.raises(UserError, match="base-url"):
        make_backend("openai", model="m", base_url=None)
    with pytest.raises(UserError, match="http"):
        make_backend("openai", model="m", base_url="127.0.0.1:8000")


def test_full_eval_through_http(tmp_path):
    data = tmp_path / "toy.jsonl"
    # The server answers 2 * (problem number) + sample index: sample 0 is right for answers 2*i.
    write_jsonl(data, [{"id": i, "problem": f"Problem {i}: double it", "answer": 2 * i} for i in range(1, 6)])
    with FakeServer() as server:
        summary = run_eval(EvalConfig(model="served-model", benchmark=str(data), backend="openai",
                                      base_url=server.url.removesuffix("/v1"), samples=2,
                                      out=str(tmp_path / "out"), progress=False))
    assert summary["pass@1"]["mean"] == 0.5
    assert summary["pass@k"]["2"]["mean"] == 1.0
    assert summary["maj@k"]["1"]["mean"] == 1.0
    assert summary["generation"]["tokens"] == 5 * 2 * 5
    assert summary["response_length"]["unit"] == "tokens" and summary["response_length"]["mean"] == 5
    assert all(path == "/v1/chat/completions" for path, _ in server.requests)
