"""The pods of an InferencePool as verify sees them: which model servers the pool selects, and,
where they are the local cluster's vLLM stand-ins, their addresses and the metrics they report.

Discovery starts from one completion's answer: a stand-in names its own `address`; it lists
every stand-in of its node (`GET /gatestack/stand-ins`), of which those in the stack's namespace
whose labels the pool's selector matches are the pool's pods. Metrics are set on each pod
directly (`PUT /gatestack/metrics` at its address, inside the cluster's network namespace).
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any, Optional

from gateway_config.inference import InferencePoolConfig
from gateway_config.inference_semantics import selected_servers
from gateway_config.models import StackConfig
from gatestack.stand_ins.vllm_server import CONTROL_METRICS_PATH, CONTROL_STAND_INS_PATH
from gatestack.verify.route_matching import backend_of_pod
from gatestack.verify.probes import Response

# What a model server reports idle and queued up (the metrics its Endpoint Picker scores).
IDLE = {"vllm:num_requests_waiting": 0, "vllm:num_requests_running": 0, "vllm:kv_cache_usage_perc": 0.05}
QUEUED = {"vllm:num_requests_waiting": 20, "vllm:num_requests_running": 8, "vllm:kv_cache_usage_perc": 0.9}

CONTROL_TIMEOUT_SECONDS = 5.0


def selected_server_names(config: StackConfig, pool: InferencePoolConfig) -> set[str]:
    return {server.name for server in selected_servers(config, pool)}


def pool_models(config: StackConfig, pool: InferencePoolConfig) -> list[str]:
    return list(dict.fromkeys(server.model for server in selected_servers(config, pool)))


def _call(address: str, method: str, path: str, body: Optional[dict] = None) -> Any:
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=CONTROL_TIMEOUT_SECONDS)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"} if payload else {})
        response = connection.getresponse()
        text = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {address}{path}: status {response.status}: {text[:200]!r}")
        return json.loads(text)
    finally:
        connection.close()


@dataclass
class PoolPods:
    """The pool's stand-in pods: address (`ip:port`) -> pod name."""

    pods: dict[str, str]

    @property
    def addresses(self) -> list[str]:
        return sorted(self.pods, key=lambda address: self.pods[address])

    def name(self, address: Optional[str]) -> str:
        return self.pods.get(address or "", address or "no answer")

    def server(self, address: str) -> str:
        """The model server (Deployment) of the pod at `address`."""
        return backend_of_pod(self.name(address))

    def set_metrics(self, address: str, values: dict[str, float]) -> None:
        _call(address, "PUT", CONTROL_METRICS_PATH, values)

    def set_all(self, values: dict[str, float]) -> None:
        for address in self.pods:
            self.set_metrics(address, values)

    def make_idle(self, idle: str) -> None:
        """`idle` reports an empty queue and cache, every other pod a long queue and a full cache."""
        for address in self.pods:
            if address != idle:
                self.set_metrics(address, QUEUED)
        self.set_metrics(idle, IDLE)


def discover_pool_pods(pool: InferencePoolConfig, namespace: str, first: Response) -> Optional[PoolPods]:
    """The pool's pods, when the answer `first` came from a local stand-in; None otherwise."""
    document = first.echo() or {}
    address = document.get("address")
    if not address:
        return None
    try:
        listed = _call(str(address), "GET", CONTROL_STAND_INS_PATH).get("standIns") or []
    except (OSError, RuntimeError, ValueError, http.client.HTTPException):
        return None
    pods = {
        item["address"]: item["pod"]
        for item in listed
        if item.get("namespace") == namespace
        and all((item.get("labels") or {}).get(key) == value for key, value in pool.selector.items())
    }
    return PoolPods(pods) if pods else None
