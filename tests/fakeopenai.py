"""A fake OpenAI-compatible chat endpoint on 127.0.0.1 (as Ollama, vLLM and llama.cpp serve under /v1).

* ``POST /v1/chat/completions``: ``{"choices": [{"message": {"role": "assistant", "content"}}]}``;
  the content is the JSON ``response_format`` asks for: ``{"pairs": [{"input", "output"}]}``
  made from the first line of the text after ``Text:``, as many as the prompt's number;
* a model it does not have: 404 ``{"error": {"message": "model 'x' not found"}}``;
* a text holding ``FLAKY`` gets a chatty, non-JSON answer the first time; ``BROKEN``, always;
* a judge's request (``Score this training pair``) gets ``{"score": 3}`` when the pair's input
  holds ``LOW``, a non-JSON answer when it holds ``NOSCORE``, else ``{"score": 8}``;
* each answer takes ``latency_s``; ``in_flight_max`` is the most requests it had at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclass
class FakeOpenAI:
    models: tuple[str, ...] = ("tiny-writer",)
    latency_s: float = 0.0
    requests: list[dict] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)  # each request's Authorization header
    in_flight_max: int = 0
    _in_flight: int = 0
    _flaked: set[str] = field(default_factory=set)

    def __enter__(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.authorization.append(self.headers.get("Authorization"))
                status, answer = fake._answer(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _answer(self, path: str, body: dict) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(body)
            self._in_flight += 1
            self.in_flight_max = max(self.in_flight_max, self._in_flight)
        try:
            time.sleep(self.latency_s)
            if path != "/v1/chat/completions":
                return 404, {"error": {"message": "not found"}}
            if body.get("model") not in self.models:
                return 404, {"error": {"message": f"model '{body.get('model')}' not found", "type": "not_found"}}
            prompt = body["messages"][-1]["content"]
            if prompt.startswith("Score this training pair"):
                pair = prompt.split("Input:\n", 1)[1].split("\n\nOutput:\n", 1)[0]
                return 200, self._completion(body, "no idea" if "NOSCORE" in pair
                                             else json.dumps({"score": 3 if "LOW" in pair else 8}))
            text = prompt.split("Text:\n", 1)[1]
            first = text.strip().splitlines()[0]
            with self._lock:
                flaky = "FLAKY" in text and text not in self._flaked
                self._flaked.add(text)
            if flaky or "BROKEN" in text:
                content = "Sure! Here are some pairs: ..."
            else:
                n = int(re.search(r"Write (\d+)", prompt).group(1))
                content = json.dumps({"pairs": [{"input": f"Question {i} on: {first}", "output": f"Answer {i}: {first}"}
                                                for i in range(1, n + 1)]})
            return 200, self._completion(body, content)
        finally:
            with self._lock:
                self._in_flight -= 1

    @staticmethod
    def _completion(body: dict, content: str) -> dict:
        return {"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}
