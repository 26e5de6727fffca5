"""A scripted OpenAI-compatible server on loopback, for tests and throughput benchmarks.

It answers ``/v1/chat/completions`` and ``/v1/completions`` with a valid, passage-grounded JSON
answer after a fixed latency. Faults are scripted per marker: a request whose prompt contains a
marker consumes the next behaviour of that marker's list, then gets normal answers. Behaviours:

``ok``, ``429`` (with ``Retry-After``), ``500``, ``hang`` (answers after ``hang_seconds``),
``malformed`` (not JSON), ``truncated`` (cut JSON, ``finish_reason="length"``), ``refusal``,
``copy`` (a query copied from the passage), ``close`` (drops the connection), ``garbage`` (a 200
whose JSON is not a completion: ``{"choices": "nope"}``).

Run it standalone for benchmarks: ``python tests/fake_server.py --latency 0.2``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_WORD = re.compile(r"[A-Za-z][A-Za-z\-]+")


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer(latency=0.2) as server: server.base_url``.

    Args:
        latency: Seconds before every answer.
        faults: marker -> behaviours consumed in order by requests whose prompt contains the marker.
        always: marker -> one behaviour applied to every request containing the marker.
        retry_after: Seconds sent in ``Retry-After`` with a 429.
        hang_seconds: How long a ``hang`` waits before answering.
        port: Port (0: any free port).
    """

    def __init__(
        self,
        latency: float = 0.0,
        faults: dict[str, list[str]] | None = None,
        always: dict[str, str] | None = None,
        retry_after: float = 1.0,
        hang_seconds: float = 5.0,
        port: int = 0,
    ) -> None:
        self.latency = latency
        self.faults = {k: list(v) for k, v in (faults or {}).items()}
        self.always = dict(always or {})
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.authorizations: set[str] = set()
        self.times: dict[str, list[float]] = defaultdict(list)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def behaviour(self, prompt: str) -> str:
        with self.lock:
            for marker, action in self.always.items():
                if marker in prompt:
                    self.times[marker].append(time.monotonic())
                    return action
            for marker, queue in self.faults.items():
                if marker in prompt:
                    self.times[marker].append(time.monotonic())
                    return queue.pop(0) if queue else "ok"
        return "ok"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.authorizations.add(self.headers.get("Authorization", ""))
                if self.path not in ("/v1/chat/completions", "/v1/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                chat = self.path == "/v1/chat/completions"
                prompt = (
                    "\n".join(m.get("content", "") for m in body.get("messages", []))
                    if chat
                    else body.get("prompt", "")
                )
                action = server.behaviour(prompt)
                with server.lock:
                    server.counts[action] += 1
                    server.counts["requests"] += 1
                if server.latency:
                    time.sleep(server.latency)
                if action == "429":
                    self._json(
                        429,
                        {"error": {"message": "rate limited", "type": "rate_limit"}},
                        {"Retry-After": f"{server.retry_after:g}"},
                    )
                    return
                if action == "500":
                    self._json(500, {"error": {"message": "internal error", "type": "server_error"}})
                    return
                if action == "garbage":
                    self._json(200, {"choices": "nope"})
                    return
                if action == "close":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if action == "hang":
                    time.sleep(server.hang_seconds)
                text, finish = answer(prompt, chat, action)
                usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                created = int(time.time())
                if chat:
                    message = {"role": "assistant", "content": text}
                    choice = {"index": 0, "message": message, "finish_reason": finish}
                    payload = {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": created,
                        "model": body.get("model"),
                        "choices": [choice],
                        "usage": usage,
                    }
                else:
                    choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
                    payload = {
                        "id": "cmpl-fake",
                        "object": "text_completion",
                        "created": created,
                        "model": body.get("model"),
                        "choices": [choice],
                        "usage": usage,
                    }
                try:
                    self._json(200, payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

            def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _between(text: str, start: str, end: str) -> str | None:
    i = text.rfind(start)
    if i < 0:
        return None
    j = text.find(end, i + len(start))
    return text[i + len(start) : j if j >= 0 else None]


def answer(prompt: str, chat: bool, action: str = "ok") -> tuple[str, str]:
    """A plausible answer to a domainemb synthesis prompt: (text, finish_reason)."""
    passage = _between(prompt, "<passage>", "</passage>") or _between(prompt, "Passage: ", "\n") or prompt
    sentence = (_between(prompt, 'Sentence: "', '"') or _between(prompt, "Sentence: ", "\n") or passage).strip()
    words = _WORD.findall(passage) or ["document"]
    tag = hashlib.sha256(prompt.encode()).hexdigest()[:6]
    # Every third word of the passage: on topic, but no word trigram of the passage survives.
    picked = [words[i % len(words)] for i in range(0, 36, 3)]
    query = f"question {tag} about " + " ".join(picked)
    if action == "copy":
        query = " ".join(passage.split()[:14])
    if action == "refusal":
        return "I'm sorry, but I can't help with that request.", "stop"
    fields = {
        "query": query,
        "paraphrase": f"in other words {tag}: " + sentence,
        "contrast": f"it is not true {tag} that " + " ".join(reversed(sentence.split())),
        "text": f"note {tag} on " + " ".join(picked),
    }
    if action == "malformed":
        return "Sure! Here is your query: " + query, "stop"
    opened = prompt.rstrip("\n")
    tail = opened[opened.rfind("{") :] if not chat and opened.rstrip().endswith('"') else ""
    if tail:  # a few-shot prompt pre-filled the opening of the object: continue it on one line
        first = re.match(r'\{"(\w+)"', tail)
        key = first.group(1) if first else "query"
        ordered = {key: fields.pop(key, query), **fields}
        text = (
            json.dumps(ordered)[len(tail.rstrip()) :]
            if json.dumps(ordered).startswith(tail.rstrip())
            else json.dumps(ordered)
        )
    else:
        text = json.dumps(fields)
    if action == "truncated":
        return text[: max(1, len(text) // 2)], "length"
    return text, "stop"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    server = FakeOpenAIServer(latency=args.latency, port=args.port)
    print(server.base_url, flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
