"""The local cluster's stand-in for a vLLM model-server pod: what an Endpoint Picker and a
client of the gateway see of vLLM's OpenAI-compatible server, at the pod's own address.

The node agent runs one per TCP port of a pod labelled `app.kubernetes.io/component:
model-server` (what the stack's `ModelServer` component sets), on `<pod IP>:<port>`. It answers:

- `POST /v1/completions` and `POST /v1/chat/completions`: OpenAI-style JSON (`object`
  `text_completion` / `chat.completion`, `choices`, `usage`) for the model the pod serves (its
  container's `--model` argument), plus `pod` (the pod's name) and `address` (`<pod IP>:<port>`),
  so a client can tell which pod answered. Request bodies may come chunked (Envoy streams them
  when an ext_proc filter is in full-duplex mode).
- `GET /v1/models`: the one model, as vLLM lists it (also with `pod` and `address`).
- `GET /health`: 200, as vLLM's.
- `GET /metrics`: Prometheus text with vLLM's metric names, which the EPP scrapes:
  `vllm:num_requests_waiting`, `vllm:num_requests_running`, `vllm:kv_cache_usage_perc`,
  `vllm:lora_requests_info`, `vllm:cache_config_info`.

And, for `verify` (a real vLLM has neither):

- `PUT /gatestack/metrics` with a JSON object `{"vllm:num_requests_waiting": 20, ...}` sets the
  values this pod reports (queue, running, KV-cache use); the answer is the values now in force;
- `GET /gatestack/stand-ins`: every model-server stand-in of this node (pod, namespace, address,
  labels, model), so verify can find the pods of a pool from any one of them.

Servers bind only to cluster addresses (pod IPs inside the cluster's namespace) or loopback.
Standard library only; one thread per connection.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from gatestack.stand_ins.echo_server import require_loopback

CONTROL_METRICS_PATH = "/gatestack/metrics"
CONTROL_STAND_INS_PATH = "/gatestack/stand-ins"
# The metrics a test can set, and their values on a fresh pod: idle, empty cache.
SETTABLE_METRICS = ("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc")
STAND_IN_OWNER = "vllm"


@dataclass(frozen=True)
class ModelServerIdentity:
    """Who a stand-in answers as: the pod (name, namespace, labels), its address, its model."""

    pod: str
    namespace: str
    address: str
    port: int
    model: str
    labels: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "pod": self.pod,
            "namespace": self.namespace,
            "address": f"{self.address}:{self.port}",
            "labels": dict(self.labels),
            "model": self.model,
        }


# Every stand-in of this process (the node agent's), for `GET /gatestack/stand-ins`.
_REGISTRY: dict[tuple[str, int], "ModelServerStandIn"] = {}
_REGISTRY_LOCK = threading.Lock()


def served_model(container: dict) -> str:
    """The model a vLLM container serves: its `--model` argument (or `vllm serve <model>`)."""
    arguments = [*(container.get("command") or []), *(container.get("args") or [])]
    for index, argument in enumerate(arguments):
        if argument == "--model" and index + 1 < len(arguments):
            return arguments[index + 1]
        if argument.startswith("--model="):
            return argument.split("=", 1)[1]
        if argument == "serve" and index + 1 < len(arguments) and not arguments[index + 1].startswith("-"):
            return arguments[index + 1]
    return "unknown-model"


def metrics_text(model: str, values: dict[str, float]) -> str:
    """The Prometheus exposition vLLM serves, for the gauges an EPP reads."""
    label = f'model_name="{model}"'
    lines = []
    for name, help_text in (
        ("vllm:num_requests_waiting", "Number of requests waiting to be processed."),
        ("vllm:num_requests_running", "Number of requests in model execution batches."),
        ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage."),
    ):
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name}{{{label}}} {float(values[name])}"]
    lines += [
        "# HELP vllm:lora_requests_info Running stats on lora requests.",
        "# TYPE vllm:lora_requests_info gauge",
        f'vllm:lora_requests_info{{max_lora="1",running_lora_adapters="",waiting_lora_adapters=""}} {time.time():.3f}',
        "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig.",
        "# TYPE vllm:cache_config_info gauge",
        f'vllm:cache_config_info{{block_size="16",model_name="{model}",num_gpu_blocks="4096"}} 1.0',
    ]
    return "\n".join(lines) + "\n"


class ModelServerHandler(BaseHTTPRequestHandler):
    server: "ModelServerHTTPServer"
    protocol_version = "HTTP/1.1"
    server_version = "vllm-stand-in"

    def log_message(self, format: str, *arguments: object) -> None:  # noqa: A002 - the base class's signature
        pass

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status: int, document: Any, content_type: str = "application/json") -> None:
        body = document.encode() if isinstance(document, str) else json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the base class's naming
        stand_in = self.server.stand_in
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.answer(200, "", "text/plain")
        elif path == "/metrics":
            self.answer(200, metrics_text(stand_in.identity.model, stand_in.metric_values()), "text/plain; version=0.0.4")
        elif path == "/v1/models":
            model = stand_in.identity.model
            self.answer(200, {
                "object": "list",
                "data": [{"id": model, "object": "model", "created": int(time.time()), "owned_by": STAND_IN_OWNER, "root": model, "max_model_len": 8192}],
                **stand_in.served_by(),
            })
        elif path == CONTROL_STAND_INS_PATH:
            self.answer(200, {"standIns": registered_stand_ins()})
        else:
            self.answer(404, {"object": "error", "message": f"Not Found: {path}", "type": "NotFoundError", "code": 404})

    def do_POST(self) -> None:  # noqa: N802
        stand_in = self.server.stand_in
        body = self.read_body()
        path = self.path.split("?", 1)[0]
        if path not in ("/v1/completions", "/v1/chat/completions"):
            self.answer(404, {"object": "error", "message": f"Not Found: {path}", "type": "NotFoundError", "code": 404})
            return
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            self.answer(400, {"object": "error", "message": "the body is not JSON", "type": "BadRequestError", "code": 400})
            return
        stand_in.count_request()
        chat = path.endswith("chat/completions")
        text = f"answered by {stand_in.identity.pod}"
        choice = (
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            if chat
            else {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
        )
        self.answer(200, {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": request.get("model") or stand_in.identity.model,
            "choices": [choice],
            "usage": {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12},
            **stand_in.served_by(),
        })

    def do_PUT(self) -> None:  # noqa: N802
        body = self.read_body()
        if self.path.split("?", 1)[0] != CONTROL_METRICS_PATH:
            self.answer(404, {"message": "not found"})
            return
        try:
            values = self.server.stand_in.set_metrics(json.loads(body or b"{}"))
        except (ValueError, TypeError) as error:
            self.answer(400, {"message": str(error)})
            return
        self.answer(200, values)


class ModelServerHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, stand_in: "ModelServerStandIn"):
        self.stand_in = stand_in
        super().__init__((stand_in.identity.address, stand_in.identity.port), ModelServerHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away mid-answer


@dataclass
class ModelServerStandIn:
    """One model-server stand-in on `identity.address:identity.port`, in a background thread."""

    identity: ModelServerIdentity
    values: dict[str, float] = field(default_factory=lambda: {name: 0.0 for name in SETTABLE_METRICS})
    requests_served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    http_server: Optional[ModelServerHTTPServer] = field(default=None, repr=False)
    thread: Optional[threading.Thread] = field(default=None, repr=False)

    def start(self) -> "ModelServerStandIn":
        require_loopback(self.identity.address, allow_cluster_address=True)
        self.http_server = ModelServerHTTPServer(self)
        self.thread = threading.Thread(
            target=self.http_server.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"model-server-{self.identity.address}:{self.identity.port}", daemon=True,
        )
        self.thread.start()
        with _REGISTRY_LOCK:
            _REGISTRY[(self.identity.address, self.identity.port)] = self
        return self

    def stop(self) -> None:
        with _REGISTRY_LOCK:
            _REGISTRY.pop((self.identity.address, self.identity.port), None)
        if self.http_server is not None:
            self.http_server.shutdown()
            self.http_server.server_close()
            self.http_server = None
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None

    def served_by(self) -> dict[str, str]:
        return {"pod": self.identity.pod, "address": f"{self.identity.address}:{self.identity.port}"}

    def count_request(self) -> None:
        with self.lock:
            self.requests_served += 1

    def metric_values(self) -> dict[str, float]:
        with self.lock:
            return dict(self.values)

    def set_metrics(self, wanted: Any) -> dict[str, float]:
        if not isinstance(wanted, dict):
            raise ValueError("expected a JSON object of metric name -> number")
        unknown = sorted(set(wanted) - set(SETTABLE_METRICS))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; settable: {list(SETTABLE_METRICS)}")
        for name, value in wanted.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name}: {value!r} is not a number >= 0")
        with self.lock:
            self.values.update({name: float(value) for name, value in wanted.items()})
            return dict(self.values)


def registered_stand_ins() -> list[dict[str, Any]]:
    with _REGISTRY_LOCK:
        return sorted((stand_in.identity.describe() for stand_in in _REGISTRY.values()), key=lambda item: item["pod"])
