"""Checks of inference routing: a route rule whose backend is an InferencePool sends each
request to the pod the pool's Endpoint Picker (EPP) chooses, and behaves as its failureMode says.

For every rule that forwards to a pool, on its first HTTP listener (HTTPS when it has none), at
the rule's OpenAI-style paths (`<prefix>/completions` and `<prefix>/models` under a PathPrefix
ending in `/v1`, else `/v1/...` under it) on the route's first hostname:

* `GET .../models` answers the model list (200, `data` not empty);
* `POST .../completions` answers a completion (200, `object: text_completion`) that went through
  the EPP (its response header `x-went-into-resp-headers: true`), from a pod the pool selects
  (when the answer names its pod, as the local vLLM stand-in's do).

Where the pool's pods are the local cluster's vLLM stand-ins (their answers carry `address`, and
`PUT /gatestack/metrics` sets the vLLM metrics they report, see `gatestack/stand_ins/vllm_server.py`):

* preference: with one pod idle (queue 0, KV cache 5 %) and the others queued (20 waiting,
  8 running, KV cache 90 %), at least 90 % of 30 completions reach the idle pod;
* follow: after the metrics flip (another pod idle, the first queued), traffic follows within the
  EPP's refresh interval (plus `FOLLOW_ALLOWANCE_SECONDS` for the scrape and the request in
  flight): the first of 10 consecutive answers from the new idle pod was sent by then;
* a client's own `x-gateway-destination-endpoint` naming a queued pod is ignored: the EPP's pick
  replaces it (10 of 10 completions reach the idle pod).

Each completion carries a prompt of its own, so the prefix-cache scorer favours no pod. Before
measuring, verify waits (at most `SETTLE_SECONDS`) for `SETTLE_RUN` answers in a row from the idle
pod: right after a deploy Envoy may still be warming the route's cluster with the override (the
old one serves meanwhile). The 30 counted completions come after that wait. With the local cluster's
control of the EPP (`EndpointPickerControl`, `verify --state-dir`): the EPP stopped (and, after
`UNREADY_GRACE_SECONDS`, its pod unready), FailClose answers 5xx and FailOpen still serves;
started again, completions go through it again.
Elsewhere (a real cluster, real vLLM pods) those checks are listed as not checked.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from gateway_config.inference import InferencePoolConfig
from gateway_config.inference_wiring import DESTINATION_ENDPOINT_HEADER, rule_pool
from gateway_config.models import RouteConfig, RouteRule
from gateway_config.policy_semantics import duration_seconds
from gatestack.verify.inference_pods import IDLE, PoolPods, discover_pool_pods, pool_models, selected_server_names
from gatestack.verify.route_matching import Listener, attached_listeners, backend_of_pod, concrete_host, intersect_hostnames, rule_label
from gatestack.verify.probes import RequestFailed, Response, _SNIHTTPSConnection, _describe_error

EPP_RESPONSE_HEADER = "x-went-into-resp-headers"
PREFERENCE_REQUESTS = 30
PREFERENCE_SHARE = 0.9
CLIENT_HEADER_REQUESTS = 10
FOLLOW_RUN = 10
FOLLOW_ALLOWANCE_SECONDS = 0.25
# Answers in a row from the idle pod that show the override in effect: by chance (a third each)
# 20 in a row happen with probability 3e-10, so a gateway without it does not get past this wait.
SETTLE_RUN = 20
SETTLE_SECONDS = 30.0
FAILURE_MODE_REQUESTS = 5
# Between an EPP going down and the gateway knowing it: its pod turns unready (a kubelet probes
# every 2 s), the EndpointSlice follows, Envoy Gateway pushes the endpoint out.
UNREADY_GRACE_SECONDS = 6.0
RECOVERY_SECONDS = 60.0


@dataclass
class EndpointPickerControl:
    """Stopping and starting a pool's EPP: `stop(namespace, pool)` returns once it is down,
    `start(namespace, pool)` once it serves again (the local cluster's node agent does it)."""

    stop: Callable[[str, str], None]
    start: Callable[[str, str], None]


@dataclass
class InferenceEnvironment:
    """What verify may assume and do about inference pools. `endpoint_pickers_run` is False
    where no EPP can run (the offline conformance proof has no Kubernetes API for it)."""

    endpoint_pickers_run: bool = True
    control: Optional[EndpointPickerControl] = None


@dataclass
class PoolRule:
    """One rule that forwards to a pool, and where verify asks it."""

    label: str
    route: RouteConfig
    rule: RouteRule
    pool: InferencePoolConfig
    listener: Listener
    host: str
    prefix: str

    @property
    def completions(self) -> str:
        return f"{self.prefix}/completions"

    @property
    def models(self) -> str:
        return f"{self.prefix}/models"


def openai_prefix(rule: RouteRule) -> Optional[str]:
    """Where the rule serves the OpenAI API: `/v1` under its PathPrefix (or the prefix itself
    when it ends in `/v1`); None when no PathPrefix match gives one."""
    paths = [match.path for match in rule.matches] if rule.matches else [None]
    for path in paths:
        if path is None:
            return "/v1"
        if path.type == "PathPrefix":
            value = path.value.rstrip("/")
            return value if value.endswith("/v1") else f"{value}/v1"
    return None


@dataclass
class InferenceChecks:
    """Run by `Verifier.run`; uses the verifier's `add`, `skip`, `context_for` and timeout."""

    verifier: Any
    listeners: dict[str, Listener]
    environment: InferenceEnvironment = field(default_factory=InferenceEnvironment)

    def pool_rules(self) -> list[PoolRule]:
        pools = {pool.name: pool for pool in self.verifier.config.inference_pools}
        found = []
        for route in self.verifier.config.routes:
            for rule_index, rule in enumerate(route.rules):
                ref = rule_pool(rule)
                if ref is None or ref.name not in pools:
                    continue
                label = rule_label(route, rule_index, rule)
                attached = [self.listeners[l.name] for l in attached_listeners(self.verifier.config, route) if l.name in self.listeners]
                chosen = [l for l in attached if not l.https] or attached
                prefix = openai_prefix(rule)
                if not chosen or prefix is None:
                    self.verifier.skip(f"{label}: inference pool {ref.name}", "no listener, or no PathPrefix match to derive the OpenAI paths from")
                    continue
                listener = chosen[0]
                host = concrete_host(intersect_hostnames(listener.config.hostname, list(route.hostnames))[0])
                found.append(PoolRule(label, route, rule, pools[ref.name], listener, host, prefix))
        return found

    def run(self) -> None:
        for target in self.pool_rules():
            self.verifier.guarded(f"{target.label}: inference", self.check, target)

    # requests --------------------------------------------------------------------------
    def request(self, target: PoolRule, method: str, path: str, body: Optional[dict] = None,
                headers: tuple[tuple[str, str], ...] = ()) -> Response:
        listener = target.listener
        timeout = self.verifier.timeout
        if listener.https:
            connection: http.client.HTTPConnection = _SNIHTTPSConnection(
                listener.target.host, listener.target.port, server_hostname=target.host,
                context=self.verifier.context_for(listener, target.host), timeout=timeout,
            )
        else:
            connection = http.client.HTTPConnection(listener.target.host, listener.target.port, timeout=timeout)
        payload = json.dumps(body).encode() if body is not None else None
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", target.host)
            for name, value in headers:
                connection.putheader(name, value)
            if payload is not None:
                connection.putheader("Content-Type", "application/json")
                connection.putheader("Content-Length", str(len(payload)))
            connection.endheaders(payload)
            response = connection.getresponse()
            return Response(response.status, list(response.getheaders()), response.read())
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise RequestFailed(f"{listener.target.host}:{listener.target.port}: {_describe_error(error)}") from None
        finally:
            connection.close()

    def completion(self, target: PoolRule, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        # A prompt of its own each time: the prefix-cache scorer then prefers no pod.
        body = {"model": self.model_of(target), "prompt": f"{uuid.uuid4().hex} Say hello.", "max_tokens": 8}
        return self.request(target, "POST", target.completions, body, headers)

    def model_of(self, target: PoolRule) -> str:
        models = pool_models(self.verifier.config, target.pool)
        return models[0] if models else "model"

    def answered_by(self, response: Response) -> Optional[str]:
        document = response.echo() if response.status == 200 else None
        return str(document.get("address")) if document and document.get("address") else None

    # the checks ----------------------------------------------------------------------------
    def check(self, target: PoolRule) -> None:
        where = f"({target.listener.name})"
        if not self.environment.endpoint_pickers_run:
            self.verifier.skip(
                f"{target.label}: POST {target.host}{target.completions} -> pool {target.pool.name} via its EPP {where}",
                "no Endpoint Picker runs in this offline proof (it needs a Kubernetes API); `make up STACK=<stack>` runs the inference checks",
            )
            return
        # The completion check waits for a fresh deploy to be ready, so it goes first.
        first = self.check_completion(target, where, selected_server_names(self.verifier.config, target.pool))
        self.check_models(target, where)
        pods: Optional[PoolPods] = discover_pool_pods(target.pool, self.verifier.config.namespace, first) if first else None
        metric_checks = ("preference", "follow", "client header")
        if pods is None or len(pods.addresses) < 2:
            reason = (
                "the pool's pods are not the local vLLM stand-in, whose metrics verify can set"
                if pods is None
                else f"the pool has {len(pods.addresses)} pod; two are needed to tell a pick from chance"
            )
            for what in metric_checks:
                self.verifier.skip(f"{target.label}: {what} by the EPP of pool {target.pool.name}", reason)
        else:
            try:
                self.check_preference_follow_and_client_header(target, pods)
            finally:
                pods.set_all(IDLE)
        self.check_failure_mode(target, where)

    def check_models(self, target: PoolRule, where: str) -> None:
        name = f"{target.label}: GET {target.host}{target.models} lists the pool's model {where}"
        try:
            response = self.request(target, "GET", target.models)
        except RequestFailed as error:
            self.verifier.add(name, False, str(error))
            return
        document = response.echo() or {}
        ids = [item.get("id") for item in document.get("data") or [] if isinstance(item, dict)]
        self.verifier.add(name, response.status == 200 and bool(ids), f"status {response.status}; models {ids}")

    def check_completion(self, target: PoolRule, where: str, servers: set[str]) -> Optional[Response]:
        name = f"{target.label}: POST {target.host}{target.completions} -> pool {target.pool.name} via its EPP {where}"
        deadline = time.monotonic() + SETTLE_SECONDS
        response: Optional[Response] = None
        error = ""
        while time.monotonic() < deadline:  # a fresh deploy: the EPP and Envoy's clusters may still be starting
            try:
                response = self.completion(target)
                if response.status == 200 and response.header_values(EPP_RESPONSE_HEADER) == ["true"]:
                    break
            except RequestFailed as failure:
                error = str(failure)
            time.sleep(0.5)
        if response is None:
            self.verifier.add(name, False, error)
            return None
        document = response.echo() or {}
        problems = []
        if response.status != 200:
            problems.append(f"status {response.status}")
        if document.get("object") != "text_completion":
            problems.append(f"object {document.get('object')!r}, expected 'text_completion'")
        if response.header_values(EPP_RESPONSE_HEADER) != ["true"]:
            problems.append(f"no {EPP_RESPONSE_HEADER}: true (the response did not go through the Endpoint Picker)")
        pod = document.get("pod")
        if pod and backend_of_pod(str(pod)) not in servers:
            problems.append(f"answered by pod {pod!r}, which the pool does not select ({', '.join(sorted(servers))})")
        detail = f"200 from {pod or 'a pod'}" + (f" at {document.get('address')}" if document.get("address") else "") + "; went through the EPP"
        self.verifier.add(name, not problems, "; ".join(problems) if problems else detail)
        return response if not problems else None

    def settle_on(self, target: PoolRule, address: str) -> None:
        """Wait until SETTLE_RUN answers in a row come from `address` (at most SETTLE_SECONDS)."""
        deadline, run = time.monotonic() + SETTLE_SECONDS, 0
        while time.monotonic() < deadline and run < SETTLE_RUN:
            try:
                run = run + 1 if self.answered_by(self.completion(target)) == address else 0
            except RequestFailed:
                run = 0

    def count_answers(self, target: PoolRule, requests: int, headers: tuple[tuple[str, str], ...] = ()) -> Counter:
        counts: Counter = Counter()
        for _ in range(requests):
            try:
                response = self.completion(target, headers)
                counts[self.answered_by(response) or f"status {response.status}"] += 1
            except RequestFailed as error:
                counts[f"failed: {error}"] += 1
        return counts

    def check_preference_follow_and_client_header(self, target: PoolRule, pods: Any) -> None:
        pool = target.pool.name
        addresses = pods.addresses
        idle, other = addresses[0], addresses[1]
        pods.make_idle(idle)
        self.settle_on(target, idle)
        counts = self.count_answers(target, PREFERENCE_REQUESTS)
        share = counts[idle] / PREFERENCE_REQUESTS
        self.verifier.add(
            f"{target.label}: {pods.server(idle)} idle, the others queued: >= {PREFERENCE_SHARE:.0%} of "
            f"{PREFERENCE_REQUESTS} completions reach it",
            share >= PREFERENCE_SHARE,
            ", ".join(f"{pods.name(key)} {value}" for key, value in counts.most_common()),
        )
        self.check_follow(target, pods, idle, other)
        # The EPP's pick replaces whatever the client sent in its header.
        queued = idle  # after the flip, the first pod is the queued one
        counts = self.count_answers(target, CLIENT_HEADER_REQUESTS, ((DESTINATION_ENDPOINT_HEADER, queued),))
        self.verifier.add(
            f"{target.label}: a client's {DESTINATION_ENDPOINT_HEADER} (queued {pods.server(queued)}) is ignored "
            f"by pool {pool}'s EPP",
            counts[other] == CLIENT_HEADER_REQUESTS,
            ", ".join(f"{pods.name(key)} {value}" for key, value in counts.most_common()),
        )

    def check_follow(self, target: PoolRule, pods: Any, old: str, new: str) -> None:
        interval = duration_seconds(target.pool.endpoint_picker.refresh_metrics_interval)
        bound = interval + FOLLOW_ALLOWANCE_SECONDS
        name = (
            f"{target.label}: metrics flip to {pods.server(new)} idle: traffic follows within the refresh interval "
            f"{target.pool.endpoint_picker.refresh_metrics_interval} (+{FOLLOW_ALLOWANCE_SECONDS * 1000:.0f}ms)"
        )
        pods.make_idle(new)
        flipped = time.monotonic()
        answers: list[tuple[float, Optional[str]]] = []
        while time.monotonic() - flipped < 10 and not (
            len(answers) >= FOLLOW_RUN and all(address == new for _, address in answers[-FOLLOW_RUN:])
        ):
            sent = time.monotonic() - flipped
            try:
                answers.append((sent, self.answered_by(self.completion(target))))
            except RequestFailed:
                answers.append((sent, None))
        run_start = len(answers)
        while run_start > 0 and answers[run_start - 1][1] == new:
            run_start -= 1
        if len(answers) - run_start < FOLLOW_RUN:
            self.verifier.add(name, False, f"no {FOLLOW_RUN} answers in a row from {pods.name(new)} within 10 s of the flip")
            return
        followed = answers[run_start][0]
        before = Counter(pods.name(address) if address else "failed" for _, address in answers[:run_start])
        detail = f"the first of {FOLLOW_RUN} answers in a row from {pods.name(new)} was sent {followed * 1000:.0f}ms after the flip"
        if before:
            detail += "; before: " + ", ".join(f"{key} {value}" for key, value in before.items())
        self.verifier.add(name, followed <= bound, detail)

    def check_failure_mode(self, target: PoolRule, where: str) -> None:
        pool = target.pool
        expectation = "answers 5xx" if pool.failure_mode == "FailClose" else "still serves (200)"
        name = f"{target.label}: pool {pool.name}'s EPP stopped: {pool.failure_mode} {expectation} {where}"
        control = self.environment.control
        if control is None:
            self.verifier.skip(name, "stopping the Endpoint Picker needs the local cluster (verify --state-dir)")
            return
        namespace = self.verifier.config.namespace
        control.stop(namespace, pool.name)
        try:
            time.sleep(UNREADY_GRACE_SECONDS)
            statuses = []
            for _ in range(FAILURE_MODE_REQUESTS):
                try:
                    statuses.append(self.completion(target).status)
                except RequestFailed as error:
                    statuses.append(f"failed: {error}")
        finally:
            control.start(namespace, pool.name)
        if pool.failure_mode == "FailClose":
            passed = all(isinstance(status, int) and 500 <= status < 600 for status in statuses)
        else:
            passed = all(status == 200 for status in statuses)
        recovered = self.wait_for_epp(target)
        detail = f"statuses {statuses}; started again, completions went through it {'again' if recovered else 'NOT again'}"
        self.verifier.add(name, passed and recovered, detail)

    def wait_for_epp(self, target: PoolRule) -> bool:
        deadline = time.monotonic() + RECOVERY_SECONDS
        while time.monotonic() < deadline:
            try:
                response = self.completion(target)
                if response.status == 200 and response.header_values(EPP_RESPONSE_HEADER) == ["true"]:
                    return True
            except RequestFailed:
                pass
            time.sleep(0.5)
        return False
