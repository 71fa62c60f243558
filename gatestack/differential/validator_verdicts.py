"""The real validators' verdict on many configs at once: kubectl-validate, egctl and the API server's naming rule.

One process per batch of configs, not per config (each tool needs about a second to start,
and kubectl-validate about 80 ms per HTTPRoute it checks):

1. kubectl-validate, offline, against the CRDs of the pinned Envoy Gateway release (OpenAPI
   schema and `x-kubernetes-validations` CEL rules) and Kubernetes' built-in schemas: every
   object of every config in its own file, so each problem names its config.
2. `egctl x translate` on the configs kubectl-validate accepted (egctl itself refuses a whole
   input that fails its own schema check). egctl translates one GatewayClass per run, so a batch
   shares one: each config's Gateway points at it and takes the config's EnvoyProxy through
   `spec.infrastructure.parametersRef` (validated the same way, and failing the Gateway with
   `InvalidParameters`), and each config's namespaces get short unique names. A config's
   own GatewayClass is judged by kubectl-validate alone; egctl checks nothing more of it.
   A batch egctl cannot translate at all is split until the config that breaks it is found.
3. The API server's one rule no file-by-file check sees: a cluster holds one object per kind,
   namespace and name, so two objects of the program's with the same ones are a problem (the
   later apply would overwrite the earlier; Pulumi refuses two resources of one name).

A verdict is the list of problems, empty when every validator accepts.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from gatestack.toolchain import DEFAULT_ENVOY_GATEWAY_VERSION, ensure_egctl, ensure_kubectl_validate, envoy_gateway_crd_directory
from gatestack.offline_proof.egctl_translate import (
    KINDS_EGCTL_READS,
    TranslationError,
    TranslationResult,
    condition_failures,
    prepare_objects,
    run_egctl_translate,
)
from gatestack.offline_proof.schema_validation import (
    DEFAULT_KUBERNETES_VERSION,
    VALIDATION_TIMEOUT_SECONDS,
    ValidationToolError,
    describe_object,
    kubectl_validate_environment,
    problems_from_status,
)

SHARED_GATEWAY_CLASS = "differential"
# Keys of egctl's output holding the Envoy Gateway policies the program emits.
POLICY_KEYS = {"BackendTrafficPolicy": "backendTrafficPolicies", "ClientTrafficPolicy": "clientTrafficPolicies",
               "SecurityPolicy": "securityPolicies"}
ENVOY_GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
# Configs per tool process: large enough that start-up costs little, small enough that both
# cores stay busy.
CONFIGS_PER_BATCH = 50


@dataclass
class Case:
    """One config's objects: those the program emits and those `external: true` promises."""

    objects: list[dict[str, Any]]
    external: list[dict[str, Any]] = field(default_factory=list)
    # Gateways (namespace, name) routes attach to that are managed elsewhere: judged there, not here.
    external_parents: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.problems


# --- kubectl-validate ----------------------------------------------------------------------


# kubectl-validate's results by object text: the same object gets the same answer, and many
# generated configs share most objects (an EnvoyProxy costs it 100 ms, an HTTPRoute 40 ms).
_SCHEMA_RESULTS: dict[str, list[str]] = {}


def kubectl_validate(cases: Sequence[Case], version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> list[list[str]]:
    """Problems kubectl-validate finds in each case's objects (external ones included)."""
    crd_directory = envoy_gateway_crd_directory(version)
    problems: list[list[str]] = [[] for _ in cases]
    with tempfile.TemporaryDirectory(prefix="gatestack-differential-") as scratch:
        scratch_path = Path(scratch)
        (scratch_path / "kubeconfig").write_text("")
        owner: dict[str, tuple[str, str]] = {}
        pending: set[str] = set()
        texts_of_case: list[list[str]] = []
        for case in cases:
            texts = [f"{version}\n{yaml.safe_dump(manifest, sort_keys=False)}" for manifest in [*case.objects, *case.external]]
            texts_of_case.append(texts)
            for text, manifest in zip(texts, [*case.objects, *case.external]):
                if text in _SCHEMA_RESULTS or text in pending:
                    continue
                pending.add(text)
                path = scratch_path / f"object-{len(owner):05d}.yaml"
                path.write_text(text.split("\n", 1)[1])
                owner[str(path)] = (text, describe_object(manifest))
        if owner:
            _SCHEMA_RESULTS.update(_run_kubectl_validate(owner, crd_directory, scratch_path))
    for case_index, texts in enumerate(texts_of_case):
        for text in texts:
            problems[case_index].extend(_SCHEMA_RESULTS[text])
    return problems


def _run_kubectl_validate(owner: dict[str, tuple[str, str]], crd_directory: Path, scratch_path: Path) -> dict[str, list[str]]:
    completed = subprocess.run(
        [str(ensure_kubectl_validate()),
         "--local-crds", str(crd_directory), "--local-crds", str(crd_directory / "generated"),
         "--version", DEFAULT_KUBERNETES_VERSION, "--output", "json", *owner],
        capture_output=True, text=True, timeout=VALIDATION_TIMEOUT_SECONDS,
        env=kubectl_validate_environment(scratch_path / "kubeconfig"),
    )
    if completed.returncode not in (0, 1):
        raise ValidationToolError(f"kubectl-validate could not run (exit {completed.returncode}): {completed.stderr[-500:]}")
    results = json.loads(completed.stdout)
    return {
        text: [f"kubectl-validate: {line}" for status in results.get(path, []) for line in problems_from_status(subject, status)]
        for path, (text, subject) in owner.items()
    }


# --- egctl -------------------------------------------------------------------------------


def _renamed_namespaces(objects: list[dict[str, Any]], prefix: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for manifest in objects:
        namespaces = [manifest.get("metadata", {}).get("namespace")]
        if manifest.get("kind") == "Namespace":
            namespaces.append(manifest.get("metadata", {}).get("name"))
        for namespace in namespaces:
            if isinstance(namespace, str) and namespace not in names:
                names[namespace] = f"{prefix}-{len(names)}"
    return names


def _rename(value: Any, names: dict[str, str], key: str = "") -> Any:
    """`value` with every namespace (a `namespace` key, or a Namespace object's name) renamed."""
    if isinstance(value, dict):
        renamed = {k: _rename(v, names, k) for k, v in value.items()}
        if value.get("kind") == "Namespace" and isinstance(value.get("metadata"), dict):
            renamed["metadata"]["name"] = names.get(value["metadata"].get("name"), value["metadata"].get("name"))
        return renamed
    if isinstance(value, list):
        return [_rename(item, names, key) for item in value]
    if key == "namespace" and isinstance(value, str):
        return names.get(value, value)
    return value


# egctl's verdict on an EnvoyProxy spec (ValidateEnvoyProxy is a function of the spec alone), by
# spec: a spec it has judged is not given to it again (it costs egctl's own schema check 100 ms).
_PROXY_VERDICTS: dict[str, list[str]] = {}


def _proxy_of(case: Case) -> dict[str, Any] | None:
    return next((item for item in case.objects if item.get("kind") == "EnvoyProxy"), None)


def _proxy_key(case: Case) -> str:
    proxy = _proxy_of(case)
    return json.dumps(proxy.get("spec") if proxy else None, sort_keys=True)


def batch_input(cases: Sequence[Case], attach_proxy: Sequence[bool]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """One egctl input for several cases, and each case's namespace renaming."""
    objects: list[dict[str, Any]] = [{
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": SHARED_GATEWAY_CLASS},
        "spec": {"controllerName": ENVOY_GATEWAY_CONTROLLER},
    }]
    renamings = []
    for index, (case, attach) in enumerate(zip(cases, attach_proxy)):
        everything = [item for item in [*case.objects, *case.external] if attach or item.get("kind") != "EnvoyProxy"]
        names = _renamed_namespaces(everything, f"case{index}")
        renamings.append(names)
        for manifest in everything:
            if manifest.get("kind") == "GatewayClass":
                continue
            manifest = _rename(copy.deepcopy(manifest), names)
            if manifest.get("kind") == "Gateway":
                spec = manifest.setdefault("spec", {})
                spec["gatewayClassName"] = SHARED_GATEWAY_CLASS
                proxy = _proxy_of(case)
                if proxy is not None and attach:
                    spec["infrastructure"] = {"parametersRef": {
                        "group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": proxy["metadata"]["name"]}}
            objects.append(manifest)
    return objects, renamings


def _namespace_of(item: dict[str, Any]) -> str:
    return (item.get("metadata") or {}).get("namespace", "default")


def _parent_key(route: dict[str, Any], reference: dict[str, Any]) -> tuple[str, str]:
    return reference.get("namespace", _namespace_of(route)), reference.get("name", "")


def _without_external_parents(route: dict[str, Any], external: set[tuple[str, str]]) -> dict[str, Any]:
    route = copy.deepcopy(route)
    status = route.setdefault("status", {})
    status["parents"] = [
        parent for parent in status.get("parents") or []
        if _parent_key(route, parent.get("parentRef") or {}) not in external
    ]
    return route


def case_failures(output: dict[str, Any], case: Case, names: dict[str, str]) -> list[str]:
    """The condition failures egctl reported for one case of a batch, in the case's own namespaces."""
    own = set(names.values())
    gateways = [item for item in output.get("gateways") or [] if _namespace_of(item) in own]
    external = {(names.get(namespace, namespace), name) for namespace, name in case.external_parents}
    translated = {(_namespace_of(route), route["metadata"]["name"]): route for route in output.get("httpRoutes") or []}
    routes = []
    for declared in case.objects:
        if declared.get("kind") != "HTTPRoute":
            continue
        # egctl leaves out a route whose parents it does not know: that is a route with no parent status.
        declared = _rename(copy.deepcopy(declared), names)
        route = translated.get((_namespace_of(declared), declared["metadata"]["name"]), declared)
        if any(_parent_key(route, ref) not in external for ref in route.get("spec", {}).get("parentRefs") or []):
            routes.append(_without_external_parents(route, external))
    statuses: dict[str, Any] = {"gatewayClass": output.get("gatewayClass"), "gateways": gateways, "httpRoutes": routes}
    failures: list[str] = []
    for kind, key in POLICY_KEYS.items():
        statuses[key] = [item for item in output.get(key) or [] if _namespace_of(item) in own]
        translated_policies = {(_namespace_of(item), item["metadata"]["name"]): item for item in statuses[key]}
        for declared in case.objects:
            if declared.get("kind") != kind:
                continue
            declared = _rename(copy.deepcopy(declared), names)
            policy = translated_policies.get((_namespace_of(declared), declared["metadata"]["name"]), declared)
            # Envoy Gateway gives no status to a policy whose targets it does not find: it is in effect nowhere.
            if not (policy.get("status") or {}).get("ancestors"):
                failures.append(f"{kind} {_namespace_of(declared)}/{declared['metadata']['name']} has no ancestor status: "
                                "it attaches to nothing.")
    result = TranslationResult(statuses=statuses, config_dumps={}, service_cluster_ips={})
    failures += condition_failures(result)
    back = {renamed: original for original, renamed in names.items()}
    readable = []
    for failure in failures:
        for renamed in sorted(back, key=len, reverse=True):
            failure = failure.replace(f"{renamed}/", f"{back[renamed]}/").replace(f"{renamed} ", f"{back[renamed]} ")
        readable.append(f"egctl: {failure}")
    return readable


def egctl_translate(cases: Sequence[Case], version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> list[list[str]]:
    """Condition failures egctl reports for each case; a case egctl cannot load at all fails with its error."""
    if not cases:
        return []
    keys = [_proxy_key(case) for case in cases]
    attach = [key not in _PROXY_VERDICTS for key in keys]
    objects, renamings = batch_input(cases, attach)
    prepared, _ = prepare_objects(objects)
    try:
        output = run_egctl_translate(ensure_egctl(version), [item for item in prepared if item.get("kind") in KINDS_EGCTL_READS])
    except (TranslationError, subprocess.TimeoutExpired) as error:
        # A batch egctl cannot translate (or not in time, on a loaded machine): halves, down to the one case.
        if len(cases) == 1:
            return [[f"egctl: {error}"]]
        middle = len(cases) // 2
        return egctl_translate(cases[:middle], version) + egctl_translate(cases[middle:], version)
    failures = [case_failures(output, case, names) for case, names in zip(cases, renamings)]
    for key, attached, case_lines in zip(keys, attach, failures):
        if attached:
            _PROXY_VERDICTS[key] = [line for line in case_lines if "(InvalidParameters)" in line]
        else:
            case_lines.extend(_PROXY_VERDICTS[key])
    return failures


# --- the API server: one object per name ---------------------------------------------------------


def duplicate_objects(case: Case) -> list[str]:
    """Objects of the program's that share kind, namespace and name (a cluster holds only one)."""
    counts: dict[tuple[str, str, str], int] = {}
    for manifest in case.objects:
        metadata = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
        key = (str(manifest.get("kind")), str(metadata.get("namespace") or ""), str(metadata.get("name")))
        counts[key] = counts.get(key, 0) + 1
    return [
        f"cluster: {kind} {namespace + '/' if namespace else ''}{name} is declared {count} times; the API server "
        "holds one object per kind, namespace and name"
        for (kind, namespace, name), count in counts.items() if count > 1
    ]


# --- all three, in parallel batches ----------------------------------------------------------------


def judge_batch(cases: Sequence[Case], version: str) -> list[Verdict]:
    schema_problems = kubectl_validate(cases, version)
    for problems, case in zip(schema_problems, cases):
        problems.extend(duplicate_objects(case))
    valid = [index for index, problems in enumerate(schema_problems) if not problems]
    translated = egctl_translate([cases[index] for index in valid], version)
    for index, failures in zip(valid, translated):
        schema_problems[index].extend(failures)
    return [Verdict(problems) for problems in schema_problems]


def judge(cases: Sequence[Case], version: str = DEFAULT_ENVOY_GATEWAY_VERSION,
          batch_size: int = CONFIGS_PER_BATCH, workers: int | None = None) -> list[Verdict]:
    """Every case's verdict; batches run in parallel, one per core."""
    batches = [list(cases[start:start + batch_size]) for start in range(0, len(cases), batch_size)]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda batch: judge_batch(batch, version), batches))
    return [verdict for batch in results for verdict in batch]

