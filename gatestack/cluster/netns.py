"""Network namespaces made by the project: the cluster's, and one per pod; removed on `cluster down`.

Envoy Gateway's controller listens on every address, kwok hands pods 10.x addresses and the
proxies must reach backends at those pod addresses. All of that happens inside a named
network namespace (`ip netns add`) whose interfaces are its own loopback and the pods' bridge
(made by the CNI bridge plugin, `pod_network.py`): a packet to a load-balancer address goes to
`lo` of that namespace, one to a pod address over the bridge into the pod's own namespace, and
a packet to anything else has no route at all. Commands enter a namespace with
`nsenter --net=/run/netns/<name>`; a thread of this process enters one with `setns`
(`call_inside`), so a server of the node agent can listen inside a pod's namespace.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Callable, TypeVar

CLONE_NEWNET = 0x40000000
Result = TypeVar("Result")


class NetworkNamespaceError(RuntimeError):
    """The namespace could not be made, entered or removed; the message is one sentence."""


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip().splitlines()
        raise NetworkNamespaceError(
            f"`{' '.join(command)}` failed (exit {completed.returncode}): {detail[-1] if detail else 'no output'}"
        )


def require_tools() -> None:
    """`ip` (iproute2) and `nsenter` (util-linux) must exist, and we must be root."""
    missing = [tool for tool in ("ip", "nsenter") if shutil.which(tool) is None]
    if missing:
        raise NetworkNamespaceError(
            f"the local cluster needs {' and '.join(missing)} on PATH (Debian: apt-get install iproute2 util-linux)"
        )
    if os.geteuid() != 0:
        raise NetworkNamespaceError("the local cluster makes a network namespace, which needs root")


def exists(name: str) -> bool:
    return (Path("/run/netns") / name).exists()


def create(name: str) -> None:
    """Make namespace `name` with only its loopback up (a no-op if it already exists)."""
    require_tools()
    if not exists(name):
        _run(["ip", "netns", "add", name])
    _run(["ip", "-n", name, "link", "set", "lo", "up"])
    interfaces = subprocess.run(["ip", "-n", name, "-o", "link", "show"], capture_output=True, text=True).stdout
    others = [line.split(":")[1].strip() for line in interfaces.splitlines() if line.split(":")[1].strip() != "lo"]
    if others:
        raise NetworkNamespaceError(f"network namespace {name} has interfaces other than lo: {', '.join(others)}")


def delete(name: str) -> None:
    """Remove namespace `name` if it exists."""
    if exists(name):
        _run(["ip", "netns", "delete", name])


def names_with_prefix(prefix: str) -> list[str]:
    """The named namespaces whose name starts with `prefix` (a cluster's pods: `<cluster>-`)."""
    directory = Path("/run/netns")
    return sorted(path.name for path in directory.iterdir() if path.name.startswith(prefix)) if directory.is_dir() else []


def create_empty(name: str) -> None:
    """Make namespace `name` with nothing in it (its `lo` down, as a runtime's sandbox starts)."""
    require_tools()
    if not exists(name):
        _run(["ip", "netns", "add", name])


def call_inside(name: str, function: Callable[[], Result]) -> Result:
    """Run `function` on a thread of this process that has entered namespace `name` (setns
    applies to the calling thread only); sockets it makes belong to that namespace for good.
    Threads it starts begin inside the namespace too. Returns its result or raises its error."""
    outcome: dict[str, object] = {}

    def enter_and_call() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            descriptor = os.open(Path("/run/netns") / name, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(descriptor, CLONE_NEWNET) != 0:
                    error = ctypes.get_errno()
                    raise NetworkNamespaceError(f"could not enter network namespace {name}: {os.strerror(error)}")
            finally:
                os.close(descriptor)
            outcome["result"] = function()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=enter_and_call, name=f"enter-{name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def command_inside(name: str, command: list[str]) -> list[str]:
    """`command` prefixed so that it runs inside namespace `name` (network only)."""
    return ["nsenter", f"--net=/run/netns/{name}", "--", *command]


def is_inside(name: str) -> bool:
    """True when this process already runs in namespace `name`."""
    try:
        return os.stat("/proc/self/ns/net").st_ino == os.stat(Path("/run/netns") / name).st_ino
    except FileNotFoundError:
        return False


def add_loopback_address(address: str, namespace: str | None = None) -> None:
    """Give `lo` of `namespace` (default: this one) one more address; idempotent."""
    where = ["-n", namespace] if namespace else []
    completed = subprocess.run(["ip", *where, "addr", "add", f"{address}/32", "dev", "lo"], capture_output=True, text=True)
    if completed.returncode != 0 and not any(text in completed.stderr for text in ("File exists", "already assigned")):
        raise NetworkNamespaceError(f"could not add {address} to lo: {completed.stderr.strip()}")


def route_through(network: str, gateway: str) -> None:
    """Route `network` via `gateway` in this namespace (replacing an earlier route)."""
    _run(["ip", "route", "replace", network, "via", gateway])


def remove_loopback_address(address: str) -> None:
    subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], capture_output=True, text=True)
