"""A local gRPC stand-in for the echo image's gRPC mode (`GRPC_ECHO_SERVER`), for GRPCRoutes.

Every method of every service is answered (unary, over h2c) with a JSON document, as bytes:
``service``, ``method``, ``metadata`` (request metadata, name to values, as received),
``namespace``, ``pod``. Like the HTTP stand-in (`echo_server.py`), request metadata can ask for
response metadata (``x-echo-set-header: name:value,...``), and ``x-echo-mark`` /
``x-echo-marks`` count marked calls per Deployment over the whole process (mirrored copies
too). Loopback addresses only. Messages are raw bytes: no generated protobuf code is needed,
and a caller may send any request message.
"""

from __future__ import annotations

import json
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Optional

import grpc

from gatestack.stand_ins.echo_server import MARKS, EchoContext, require_loopback

ECHO_SET_HEADER = "x-echo-set-header"


class _AnyMethod(grpc.GenericRpcHandler):
    def __init__(self, server: "GrpcEchoServer"):
        self.server = server

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Optional[grpc.RpcMethodHandler]:
        full_method = handler_call_details.method  # "/package.Service/Method"
        return grpc.unary_unary_rpc_method_handler(lambda request, context: self.server.answer(full_method, request, context))


@dataclass
class GrpcEchoServer:
    """One gRPC echo backend on ``address:port`` (loopback only). ``start()`` / ``stop()``."""

    address: str
    port: int
    context: EchoContext = field(default_factory=EchoContext)
    requests_served: int = field(default=0, init=False)
    _server: Any = field(default=None, init=False, repr=False)
    _pod_index: int = field(default=0, init=False, repr=False)

    @property
    def deployment(self) -> str:
        pod = self.context.pods[0] if self.context.pods else ""
        return pod.rsplit("-", 2)[0] if pod.count("-") >= 2 else ""

    def answer(self, full_method: str, request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata: dict[str, list[str]] = {}
        for key, value in context.invocation_metadata():
            metadata.setdefault(key, []).append(value if isinstance(value, str) else value.decode(errors="replace"))
        for token in metadata.get("x-echo-mark", []):
            MARKS.count(token, self.deployment)
        self.requests_served += 1
        pods = self.context.pods or ("",)
        pod = pods[self._pod_index % len(pods)]
        self._pod_index += 1
        response_metadata = []
        for pairs in metadata.get(ECHO_SET_HEADER, []):
            for pair in pairs.split(","):
                name, _, value = pair.strip().partition(":")
                if name:
                    response_metadata.append((name.lower(), value.strip()))
        if response_metadata:
            context.send_initial_metadata(response_metadata)
        service, _, method = full_method.lstrip("/").partition("/")
        document = {
            "service": service, "method": method, "metadata": dict(sorted(metadata.items())),
            "namespace": self.context.namespace, "pod": pod,
        }
        for token in metadata.get("x-echo-marks", []):
            document["marks"] = MARKS.report(token)
        return json.dumps(document).encode()

    def start(self) -> "GrpcEchoServer":
        require_loopback(self.address)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), handlers=[_AnyMethod(self)])
        self.port = self._server.add_insecure_port(f"{self.address}:{self.port}")
        if not self.port:
            raise OSError(f"could not listen on {self.address}")
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=0).wait(5)
            self._server = None
