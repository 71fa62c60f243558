"""Inference routing as typed config: model servers, and the InferencePools in front of them.

What ACK's "Gateway with Inference Extension" adds to a gateway: a route rule whose backend is an
`InferencePool` (Gateway API Inference Extension, `inference.networking.k8s.io/v1`) sends each
request to the model-server pod that the pool's Endpoint Picker (EPP) chooses from live metrics
(queue depth, KV-cache use, prefix cache), instead of round robin.

- `modelServers`: vLLM-style Deployments (OpenAI-compatible API on port 8000), the workloads a
  pool selects by their pod labels.
- `inferencePools`: each pool's `selector` (pod labels), `targetPorts`, `failureMode` and its
  EPP (`endpointPicker`: image, replicas, resources, scorer weights or a whole plugins config,
  metrics refresh interval). The objects declared for them are built in
  `inference_manifests.py`; the rules relating them to the rest of the stack are in
  `inference_semantics.py`.

Field names follow the InferencePool CRD (`selector`, `targetPorts[].number`, `appProtocol`,
`failureMode`) and the upstream `inferencepool` Helm chart's values (the EPP's).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from gateway_config.base import ConfigModel, ResourceRequirements
from gateway_config.fields import Duration, Image, Port, Replicas

# The Endpoint Picker release the stacks run (the upstream image of the release whose `epp`
# the local cluster builds, gatestack/toolchain/inference_extension.py).
DEFAULT_EPP_IMAGE = "registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0"
# A vLLM release with the OpenAI-compatible server (`vllm/vllm-openai`), pinned.
DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.11.0"
# The inferencepool chart truncates a release name to 40 characters before adding `-epp`.
MAX_POOL_NAME_LENGTH = 40

# The API group of InferencePool: a route's backendRef names it as `group` with `kind: InferencePool`.
INFERENCE_GROUP = "inference.networking.k8s.io"
# Model-server pods: labelled so a pool's Service and the local cluster's node agent find them.
MODEL_SERVER_NAME_LABEL = "app.kubernetes.io/name"
MODEL_SERVER_COMPONENT_LABEL = "app.kubernetes.io/component"
MODEL_SERVER_COMPONENT = "model-server"
RESERVED_MODEL_SERVER_LABELS = (MODEL_SERVER_NAME_LABEL, MODEL_SERVER_COMPONENT_LABEL)

# Kubernetes' DNS-1035 label: Service names (a pool names a Service, and so does its EPP).
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# A label key: an optional DNS-subdomain prefix and '/', then a name of at most 63 characters.
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# A label value, as the InferencePool CRD and Kubernetes both state it.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _service_name(limit: int):
    def check(value: str) -> str:
        if len(value) > limit or not _DNS_1035_LABEL.match(value):
            raise _fail(
                "dns_1035_label",
                f"'{value}' is not a valid name here; use at most {limit} lowercase letters, digits and '-', "
                "starting with a letter and ending with a letter or digit (it names a Service)",
            )
        return value

    return check


def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (
        len(name) > 63
        or not _LABEL_NAME.match(name)
        or (prefix and (len(prefix) > 253 or not _LABEL_PREFIX.match(prefix)))
        or value.startswith("/")
    ):
        raise _fail(
            "label_key",
            f"'{value}' is not a label key; use a name of at most 63 letters, digits, '-', '_' or '.' (starting and "
            "ending with a letter or digit), optionally after a DNS prefix and '/', such as 'app' or 'example.com/model'",
        )
    return value


def _label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise _fail(
            "label_value",
            f"'{value}' is not a label value; use at most 63 letters, digits, '-', '_' or '.', starting and ending "
            "with a letter or digit",
        )
    return value


# What the JSON Schema says of each (ECMA-262 patterns; WithJsonSchema, so pydantic checks nothing twice).
_DNS_1035_SCHEMA = {
    "type": "string",
    "pattern": _DNS_1035_LABEL.pattern,
    "description": (
        "A DNS-1035 label: lowercase letters, digits and '-', starting with a letter, ending with a letter or digit."
    ),
}
PoolName = Annotated[
    str,
    AfterValidator(_service_name(MAX_POOL_NAME_LENGTH)),
    WithJsonSchema({**_DNS_1035_SCHEMA, "maxLength": MAX_POOL_NAME_LENGTH}),
]
ModelServerName = Annotated[
    str, AfterValidator(_service_name(63)), WithJsonSchema({**_DNS_1035_SCHEMA, "maxLength": 63})
]
LabelKey = Annotated[
    str,
    AfterValidator(_label_key),
    WithJsonSchema(
        {
            "type": "string",
            # An optional DNS-subdomain prefix and '/', then a name of at most 63 characters.
            "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
            "maxLength": 253 + 1 + 63,
            "description": "A label key such as 'app' or 'example.com/model'.",
        }
    ),
]
LabelValue = Annotated[
    str,
    AfterValidator(_label_value),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _LABEL_VALUE.pattern,
            "maxLength": 63,
            "description": (
                "A label value: letters, digits, '-', '_' and '.', starting and ending with a letter or digit."
            ),
        }
    ),
]
Labels = dict[LabelKey, LabelValue]


class ModelServerConfig(ConfigModel):
    """A vLLM-style model server: a Deployment whose pods serve an OpenAI-compatible API
    (`POST /v1/completions`, `GET /v1/models`, Prometheus `/metrics` with vLLM's names) on `port`.

    Defaults: the pinned vLLM image, 1 replica, port 8000, one GPU (`nvidia.com/gpu`), the pod
    labels `app.kubernetes.io/name: <name>` and `app.kubernetes.io/component: model-server`
    plus `labels` (what a pool's `selector` matches).
    """

    name: ModelServerName
    """The Deployment's name (a DNS-1035 label, unique among backends and model servers); its pods are labelled
    `app.kubernetes.io/name: <name>` and `app.kubernetes.io/component: model-server`."""
    model: str = Field(min_length=1, max_length=256)
    """The model vLLM serves (`--model`), e.g. `meta-llama/Llama-3.1-8B-Instruct`."""
    image: Image = DEFAULT_VLLM_IMAGE
    """The vLLM OpenAI-compatible server image; pin it in production."""
    replicas: Replicas = 1
    """Replicas of the Deployment."""
    port: Port = 8000
    """The OpenAI API and `/metrics` port; must be one of the selecting pool's `targetPorts`."""
    labels: Labels = Field(default_factory=dict, max_length=32)
    """More pod labels (up to 32): what a pool's `selector` matches, e.g. `{model: llama}` (not the two reserved
    ones)."""
    gpus: int = Field(default=1, ge=0, le=16)
    """`nvidia.com/gpu` requested and limited (`0`: none)."""
    resources: Optional[ResourceRequirements] = None
    """The container's `requests`/`limits` of `cpu`, `memory`, `ephemeral-storage`; default: none."""
    args: list[str] = Field(default_factory=list, max_length=64)
    """More vLLM arguments, after `--model <model> --port <port>`, e.g. `[--max-model-len, "4096"]`."""


class TargetPort(ConfigModel):
    number: Port
    """A port the pool's model servers serve on."""


class ScorerWeights(ConfigModel):
    """Weights of the EPP's scorers (the upstream chart's defaults: queue 2, KV cache 2, prefix
    cache 3). A scorer at weight 0 is left out; at least one must be positive."""

    queue: int = Field(default=2, ge=0, le=100)
    """The weight of the queue-depth scorer (0 leaves it out)."""
    kv_cache_utilization: int = Field(default=2, ge=0, le=100)
    """The weight of the KV-cache-utilization scorer (0 leaves it out)."""
    prefix_cache: int = Field(default=3, ge=0, le=100)
    """The weight of the prefix-cache scorer (0 leaves it out)."""


def _default_epp_resources() -> ResourceRequirements:
    # The upstream chart's: sized for high request rates; no CPU limit so scheduling can burst.
    return ResourceRequirements.model_validate({"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"memory": "16Gi"}})


class EndpointPicker(ConfigModel):
    """The pool's Endpoint Picker, run as upstream's `inferencepool` chart runs it.

    Defaults: the v1.5.0 image, 1 replica (more turn on leader election), the chart's resources
    (requests 4 CPU / 8Gi, limit 16Gi), ext_proc on port 9002, metrics refreshed every 50ms and
    stale after 2s, the chart's scorers (`scorerWeights`), log verbosity 1, and Envoy waiting
    up to 10s for each ext_proc message. `pluginsConfig` replaces the generated
    EndpointPickerConfig with one of your own (YAML text), instead of `scorerWeights`.
    """

    image: Image = DEFAULT_EPP_IMAGE
    """The EPP image; pin it in production."""
    replicas: int = Field(default=1, ge=1, le=10)
    """Replicas of the EPP; more than one turns on leader election (and its Role)."""
    resources: ResourceRequirements = Field(default_factory=_default_epp_resources)
    """The EPP container's `requests`/`limits`; default: the chart's (requests 4 CPU / 8Gi, limit 16Gi)."""
    port: Port = 9002
    """The ext_proc port (`grpc-ext-proc`) Envoy calls; not 9003 or 9090 (health, metrics)."""
    refresh_metrics_interval: Duration = "50ms"
    """How often the EPP scrapes each pod's `/metrics`, e.g. `50ms`."""
    metrics_staleness_threshold: Duration = "2s"
    """Metrics older than this are not trusted, e.g. `2s`."""
    scorer_weights: Optional[ScorerWeights] = None
    """The weights of the chart's queue, KV-cache and prefix-cache scorers; default: 2, 2, 3."""
    plugins_config: Optional[str] = Field(default=None, min_length=1, max_length=65536)
    """A whole `EndpointPickerConfig` (YAML text) instead of the generated one and `scorerWeights`."""
    log_verbosity: int = Field(default=1, ge=0, le=10)
    """The EPP's log verbosity (`--v`)."""
    message_timeout: Duration = "10s"
    """How long Envoy waits for each ext_proc message (the EPP answers once it has the whole body)."""

    @property
    def effective_scorer_weights(self) -> ScorerWeights:
        return self.scorer_weights or ScorerWeights()


class InferencePoolConfig(ConfigModel):
    """An InferencePool: the model-server pods `selector` picks (same namespace), served on
    `targetPorts`, with an Endpoint Picker choosing one per request.

    `failureMode` (the CRD's default, `FailClose`): what the gateway does when the EPP cannot be
    reached. FailClose answers 5xx; FailOpen forwards to a pod of the pool chosen by the gateway.
    """

    name: PoolName
    """The InferencePool and the Service routes forward to (a DNS-1035 label of at most 40 characters); the EPP is
    `<name>-epp`, as upstream's chart names it."""
    selector: Labels = Field(min_length=1, max_length=64)
    """Pod labels of the pool's model servers (1-64, same namespace); must select at least one of `modelServers`."""
    target_ports: list[TargetPort] = Field(default_factory=lambda: [TargetPort(number=8000)], min_length=1, max_length=8)
    """The ports (1-8, unique) the model servers serve on; every selected model server's `port` must be one, and a
    pool a route uses has exactly one."""
    app_protocol: Literal["http", "kubernetes.io/h2c"] = "http"
    """How the gateway speaks to the model servers: `http` or `kubernetes.io/h2c`."""
    failure_mode: Literal["FailOpen", "FailClose"] = "FailClose"
    """When the EPP cannot be reached: `FailClose` answers 5xx; `FailOpen` forwards to a pod of the pool chosen
    round robin (it needs Envoy Gateway's `extensionApis.enableEnvoyPatchPolicy`)."""
    endpoint_picker: EndpointPicker = Field(default_factory=EndpointPicker)
    """The pool's Endpoint Picker (EPP), which chooses a pod per request from live metrics."""

    @property
    def epp_name(self) -> str:
        """The EPP's Deployment, Service, ServiceAccount and ConfigMap (the chart's `<release>-epp`)."""
        return f"{self.name}-epp"

    @property
    def port_numbers(self) -> list[int]:
        return [port.number for port in self.target_ports]


def model_server_pod_labels(server: ModelServerConfig) -> dict[str, str]:
    """The labels of a model server's pods: its name and component (reserved), then its own `labels`."""
    return {
        MODEL_SERVER_NAME_LABEL: server.name,
        MODEL_SERVER_COMPONENT_LABEL: MODEL_SERVER_COMPONENT,
        **server.labels,
    }


# Names of the Envoy Gateway policies the stack declares for a pool (`inference_wiring.py`); the
# rules refuse a stack policy of the same name.


def extension_policy_name(pool: InferencePoolConfig) -> str:
    return f"{pool.name}-endpoint-picker"


def traffic_policy_name(pool: InferencePoolConfig) -> str:
    return f"{pool.name}-endpoint-override"


def fail_open_patch_policy_name(pool: InferencePoolConfig) -> str:
    return f"{pool.name}-fail-open"
