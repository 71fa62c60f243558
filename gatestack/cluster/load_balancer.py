"""The cloud load balancer (and kube-proxy behind it) of the local cluster.

A real cloud gives every `type: LoadBalancer` Service an address and sends that address's
ports to the Service's ready endpoints, from a machine of its own. Here that machine is a
network namespace of its own (`<cluster namespace>-loadbalancer`), joined to the pods' bridge
through the CNI plugins like a pod, so its ports are its own (Envoy Gateway's controller holds
8080 and others on every address of the cluster's namespace); the cluster's namespace routes
`LOAD_BALANCER_CIDR` to it. A Service's address comes from `LOAD_BALANCER_CIDR`, is added to
that namespace's `lo`, and is written to `status.loadBalancer.ingress` (which is
what Envoy Gateway copies into the Gateway's `status.addresses`, i.e. `GATEWAY_HOST`). Each
Service port is a TCP listener on that address that forwards every connection, round robin,
to a ready endpoint from the Service's EndpointSlices at the port's target. An address stays
with its Service for the cluster's life (a re-created Service gets its old one back).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import threading
from dataclasses import dataclass, field
from typing import Optional

from gatestack.cluster import netns
from gatestack.cluster.kubernetes_api import ClusterApi
from gatestack.network_addresses import LOAD_BALANCER_CIDR

log = logging.getLogger("gatestack.cluster.load_balancer")
COPY_CHUNK = 65536


@dataclass
class ForwardedPort:
    """One listener `address:port` and the endpoints it currently forwards to."""

    address: str
    port: int
    endpoints: list[tuple[str, int]] = field(default_factory=list)
    server: Optional[asyncio.base_events.Server] = None
    turn: itertools.count = field(default_factory=itertools.count)

    def next_endpoint(self) -> Optional[tuple[str, int]]:
        if not self.endpoints:
            return None
        return self.endpoints[next(self.turn) % len(self.endpoints)]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(COPY_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


class Forwarder:
    """TCP listeners on load-balancer addresses, served by one asyncio loop in a thread; made
    with `network_namespace`, the loop's thread (so every socket it opens) is inside it."""

    def __init__(self, network_namespace: Optional[str] = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="load-balancer", daemon=True)
        if network_namespace is None:
            self.thread.start()
        else:
            netns.call_inside(network_namespace, self.thread.start)

    async def _handle(self, forwarded: ForwardedPort, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        endpoint = forwarded.next_endpoint()
        if endpoint is None:
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*endpoint)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    def listen(self, forwarded: ForwardedPort) -> None:
        async def start() -> asyncio.base_events.Server:
            return await asyncio.start_server(
                lambda reader, writer: self._handle(forwarded, reader, writer),
                forwarded.address,
                forwarded.port,
                reuse_address=True,
            )

        forwarded.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout=10)

    def close(self, forwarded: ForwardedPort) -> None:
        if forwarded.server is not None:
            server = forwarded.server

            async def stop() -> None:
                server.close()
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
            forwarded.server = None

    def shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def ready_endpoints(slices: list[dict], namespace: str, service: str, port: dict) -> list[tuple[str, int]]:
    """Ready endpoint addresses of a Service port (matched by port name), from its EndpointSlices."""
    found: list[tuple[str, int]] = []
    for endpoint_slice in slices:
        metadata = endpoint_slice["metadata"]
        if metadata.get("namespace") != namespace:
            continue
        if (metadata.get("labels") or {}).get("kubernetes.io/service-name") != service:
            continue
        slice_ports = [item for item in endpoint_slice.get("ports") or [] if item.get("name", "") == port.get("name", "")]
        if not slice_ports:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in endpoint.get("addresses") or []:
                found.append((address, slice_ports[0]["port"]))
    return sorted(found)


class LoadBalancerController:
    """Assigns addresses to LoadBalancer Services and forwards their ports; call `sync` repeatedly."""

    def __init__(self, api: ClusterApi, network_namespace: Optional[str] = None):
        self.api = api
        self.network_namespace = network_namespace
        self.pool = (str(address) for address in ipaddress.ip_network(LOAD_BALANCER_CIDR).hosts())
        self.addresses: dict[str, str] = {}  # namespace/name -> address, kept for the cluster's life
        self.ports: dict[tuple[str, int], ForwardedPort] = {}
        self.owners: dict[tuple[str, int], str] = {}
        self.forwarder = Forwarder(network_namespace)

    def _add_address(self, address: str) -> None:
        netns.add_loopback_address(address, self.network_namespace)

    def address_of(self, key: str) -> str:
        if key not in self.addresses:
            self.addresses[key] = next(self.pool)
        return self.addresses[key]

    def sync(self) -> None:
        services = [item for item in self.api.services() if item.get("spec", {}).get("type") == "LoadBalancer"]
        slices = self.api.endpoint_slices()
        wanted: set[tuple[str, int]] = set()
        for service in services:
            metadata = service["metadata"]
            key = f"{metadata['namespace']}/{metadata['name']}"
            address = self.address_of(key)
            ingress = (service.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
            if [item.get("ip") for item in ingress] != [address]:
                self._add_address(address)
                self.api.set_load_balancer_ingress(metadata["namespace"], metadata["name"], address)
                log.info("load balancer %s for Service %s", address, key)
            for port in service["spec"].get("ports") or []:
                if port.get("protocol", "TCP") != "TCP":
                    continue
                listen = (address, port["port"])
                wanted.add(listen)
                forwarded = self.ports.get(listen)
                if forwarded is None:
                    self._add_address(address)
                    forwarded = ForwardedPort(address, port["port"])
                    self.forwarder.listen(forwarded)
                    self.ports[listen] = forwarded
                    self.owners[listen] = key
                forwarded.endpoints = ready_endpoints(slices, metadata["namespace"], metadata["name"], port)
        for listen in [listen for listen in self.ports if listen not in wanted]:
            self.forwarder.close(self.ports.pop(listen))
            self.owners.pop(listen, None)

    def stop(self) -> None:
        for forwarded in self.ports.values():
            self.forwarder.close(forwarded)
        self.ports.clear()
        self.forwarder.shutdown()

    def routes(self) -> dict[str, list[str]]:
        """For `cluster status`: `address:port -> endpoints` per Service."""
        described: dict[str, list[str]] = {}
        for listen, forwarded in sorted(self.ports.items()):
            endpoints = ", ".join(f"{host}:{port}" for host, port in forwarded.endpoints) or "no ready endpoint"
            described.setdefault(self.owners[listen], []).append(f"{listen[0]}:{listen[1]} -> {endpoints}")
        return described
