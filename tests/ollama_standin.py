"""A stand-in Ollama server for tests and benchmarks: real HTTP on 127.0.0.1, Ollama's wire format.

It speaks `/api/chat` (NDJSON streaming and non-streaming), `/api/tags` and `/api/version`, so the
official `ollama` client and EnergyApp's own code run unchanged over a socket. Knobs (`Behavior`)
set the answer length and speed, a first-token delay, an HTTP error status, an `{"error"}` line or a
dropped connection after N tokens, and a hang. A test in the same process sets `server.behavior`;
a test driving a separate app server reconfigures it over HTTP with `POST /__standin/behavior`.

Run alone: `python -m tests.ollama_standin --port 11434 --rate 30`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "qwen2.5:3b-instruct"
_WORDS = (
    "Claro, aquí tienes una respuesta de prueba generada por el servidor sustituto de Ollama "
    "para verificar que cada palabra llega en orden y se guarda completa."
).split()


@dataclass
class Behavior:
    tokens: int = 12  # answer length in tokens (when `reply` is None)
    tokens_per_second: float = 0.0  # 0: as fast as possible
    first_token_delay: float = 0.0  # seconds before the first token
    error_status: int | None = None  # answer /api/chat with this HTTP status and {"error"}
    error_after: int | None = None  # send an {"error"} line after this many tokens
    drop_after: int | None = None  # close the socket mid-stream after this many tokens
    hang: bool = False  # accept requests and never answer (any path)
    reply: str | None = None  # fixed answer text, split on spaces into tokens
    paragraph_every: int = 0  # end a paragraph ("\n\n") every N tokens, like real answers
    models: list[str] = field(default_factory=lambda: [DEFAULT_MODEL])
    version: str = "0.12.6"

    def answer_tokens(self) -> list[str]:
        if self.reply is not None:
            words = self.reply.split(" ")
            return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
        every = self.paragraph_every
        return [
            _WORDS[i % len(_WORDS)] + ("\n\n" if every and (i + 1) % every == 0 else " ")
            for i in range(self.tokens)
        ]


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Like Ollama (Go sets TCP_NODELAY on every connection): without it, a token written right
    # after the headers on a kept-alive connection waits for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server: StandInOllama

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    # --- plumbing ---------------------------------------------------------------------------
    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunk(self, payload: dict[str, Any]) -> None:
        data = (json.dumps(payload) + "\n").encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return {}

    def _hang_if_asked(self, behavior: Behavior) -> bool:
        if behavior.hang:
            self.server.stopping.wait(60)
            self.close_connection = True
            return True
        return False

    # --- routes -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        behavior = self.server.behavior
        if self.path == "/__standin/requests":
            return self._json(200, self.server.chat_requests)
        if self._hang_if_asked(behavior):
            return None
        if self.path == "/api/version":
            return self._json(200, {"version": behavior.version})
        if self.path == "/api/tags":
            models = [
                {
                    "name": name,
                    "model": name,
                    "modified_at": _now(),
                    "size": 1_929_912_432,
                    "digest": "0" * 64,
                    "details": {
                        "format": "gguf",
                        "family": "qwen2",
                        "parameter_size": "3.1B",
                        "quantization_level": "Q4_K_M",
                    },
                }
                for name in behavior.models
            ]
            return self._json(200, {"models": models})
        if self.path in ("/", "/api"):
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        return self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path == "/__standin/behavior":
            self.server.configure(**self._body())
            return self._json(200, asdict(self.server.behavior))
        if self.path == "/__standin/reset":
            self.server.reset()
            return self._json(200, asdict(self.server.behavior))
        behavior = self.server.behavior
        if self._hang_if_asked(behavior):
            return None
        if self.path != "/api/chat":
            return self._json(404, {"error": "not found"})
        request = self._body()
        self.server.record(request)
        model = request.get("model", "")
        if model not in behavior.models and f"{model}:latest" not in behavior.models:
            return self._json(404, {"error": f"model '{model}' not found"})
        if behavior.error_status:
            return self._json(behavior.error_status, {"error": "stand-in: simulated failure"})
        if request.get("stream", True):
            return self._stream(request, behavior)
        return self._whole(request, behavior)

    def _stats(self, request: dict[str, Any], count: int, started: float) -> dict[str, Any]:
        elapsed = int((time.perf_counter() - started) * 1e9)
        prompt = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
        return {
            "done": True,
            "done_reason": "stop",
            "total_duration": elapsed,
            "load_duration": 1_000_000,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": 2_000_000,
            "eval_count": count,
            "eval_duration": elapsed,
        }

    def _whole(self, request: dict[str, Any], behavior: Behavior) -> None:
        started = time.perf_counter()
        tokens = behavior.answer_tokens()
        time.sleep(behavior.first_token_delay)
        payload = {
            "model": request["model"],
            "created_at": _now(),
            "message": {"role": "assistant", "content": "".join(tokens)},
            **self._stats(request, len(tokens), started),
        }
        self._json(200, payload)

    def _stream(self, request: dict[str, Any], behavior: Behavior) -> None:
        started = time.perf_counter()
        tokens = behavior.answer_tokens()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        interval = 1.0 / behavior.tokens_per_second if behavior.tokens_per_second > 0 else 0.0
        time.sleep(behavior.first_token_delay)
        first_at = time.perf_counter()
        try:
            for index, token in enumerate(tokens):
                if behavior.drop_after is not None and index >= behavior.drop_after:
                    self.close_connection = True
                    self.connection.shutdown(2)  # no final chunk: the client sees a cut stream
                    return
                if behavior.error_after is not None and index >= behavior.error_after:
                    self._chunk({"error": "stand-in: model runner crashed"})
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if index and interval:
                    # On a fixed schedule from the first token: a late wake-up (a busy machine)
                    # is made up by the next ones instead of slowing the whole answer down.
                    time.sleep(max(0.0, first_at + index * interval - time.perf_counter()))
                self._chunk(
                    {
                        "model": request["model"],
                        "created_at": _now(),
                        "message": {"role": "assistant", "content": token},
                        "done": False,
                    }
                )
            self._chunk(
                {
                    "model": request["model"],
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": ""},
                    **self._stats(request, len(tokens), started),
                }
            )
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (Stop, closed tab)


class StandInOllama(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default 5 resets connections when 50 clients arrive at once

    def __init__(self, port: int = 0, behavior: Behavior | None = None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.behavior = behavior or Behavior()
        self._default = replace(self.behavior)
        self.chat_requests: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def configure(self, **changes: Any) -> None:
        known = {f.name for f in fields(Behavior)}
        self.behavior = replace(self.behavior, **{k: v for k, v in changes.items() if k in known})

    def reset(self) -> None:
        self.behavior = replace(self._default)
        with self._lock:
            self.chat_requests.clear()

    def record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.chat_requests.append(request)

    def start(self) -> StandInOllama:
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="standin-ollama", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--rate", type=float, default=0.0, help="tokens per second (0: max)")
    parser.add_argument("--tokens", type=int, default=60)
    args = parser.parse_args()
    server = StandInOllama(args.port, Behavior(tokens=args.tokens, tokens_per_second=args.rate))
    print(f"stand-in Ollama on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
