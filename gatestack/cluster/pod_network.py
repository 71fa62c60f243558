"""A network namespace per pod, made and removed through real CNI plugins, as a runtime does.

The plugins run inside the cluster's network namespace (where the node agent runs too). For
each pod the node agent makes a namespace
(`ClusterLayout.pod_network_namespace`) and calls the CNI reference plugins from Debian's
`containernetworking-plugins` with the CNI protocol (CNI spec 1.0: `CNI_COMMAND`,
`CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_PATH`, `CNI_ARGS` in the environment, the
network configuration on stdin, the result on stdout):

- `loopback` brings up the pod's `lo`;
- `bridge` makes a veth pair, puts one end in the pod's namespace as `eth0` and attaches the
  other to the bridge `BRIDGE_NAME` in the cluster's namespace (made on the first ADD, with
  `BRIDGE_ADDRESS` as the pods' gateway), and its IPAM plugin `host-local` gives `eth0` an
  address from `POD_CIDR`, which the node agent writes into the pod's status as the kubelet
  does (a pod that already has one asks for it: `CNI_ARGS=IP=<pod IP>`).

No masquerading, no port mapping, nothing in the machine's own namespace: the bridge lives
in the cluster's namespace, whose only other interface is `lo`, and the pods' default route
leads to the bridge, where only the cluster's own addresses answer. DEL undoes it all.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from gatestack.cluster import netns
from gatestack.cluster.layout import BRIDGE_ADDRESS, BRIDGE_NAME, CNI_NETWORK_NAME, ClusterLayout
from gatestack.network_addresses import POD_CIDR

CNI_VERSION = "1.0.0"
POD_INTERFACE = "eth0"
PLUGIN_TIMEOUT_SECONDS = 30


class PodNetworkError(RuntimeError):
    """A CNI plugin refused or failed; the message names the plugin, the pod and the plugin's error."""


def bridge_configuration(layout: ClusterLayout) -> dict:
    """The network configuration the bridge plugin reads on stdin."""
    first, last = "10.244.0.1", "10.244.255.253"  # POD_CIDR without the bridge's own address
    return {
        "cniVersion": CNI_VERSION,
        "name": CNI_NETWORK_NAME,
        "type": "bridge",
        "bridge": BRIDGE_NAME,
        "isGateway": True,
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": POD_CIDR, "rangeStart": first, "rangeEnd": last, "gateway": BRIDGE_ADDRESS}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": str(layout.cni_directory / "host-local"),
        },
    }


def loopback_configuration() -> dict:
    return {"cniVersion": CNI_VERSION, "name": "loopback", "type": "loopback"}


@dataclass(frozen=True)
class PodSandbox:
    """A pod's network: its namespace's name and the address CNI gave its `eth0`."""

    namespace: str
    address: str

    @property
    def path(self) -> Path:
        return Path("/run/netns") / self.namespace


class PodNetwork:
    """Makes and removes pod namespaces with the CNI plugins in `plugin_directory` (`CNI_PATH`)."""

    def __init__(self, layout: ClusterLayout, plugin_directory: Path):
        self.layout = layout
        self.plugin_directory = plugin_directory

    def _call(self, plugin: str, command: str, container_id: str, namespace: str, configuration: dict, arguments: str = "") -> dict:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": str(Path("/run/netns") / namespace),
            "CNI_IFNAME": POD_INTERFACE if plugin != "loopback" else "lo",
            "CNI_PATH": str(self.plugin_directory),
        }
        if arguments:
            environment["CNI_ARGS"] = arguments
        # Run in the cluster's namespace (where the node agent already is): the bridge and the
        # host ends of the veth pairs are made where the plugin runs.
        completed = subprocess.run(
            netns.command_inside(self.layout.network_namespace, [str(self.plugin_directory / plugin)]),
            input=json.dumps(configuration),
            capture_output=True,
            text=True,
            env=environment,
            timeout=PLUGIN_TIMEOUT_SECONDS,
        )
        if completed.returncode != 0:
            # A plugin reports errors as a JSON object on stdout: {"code", "msg", "details"}.
            try:
                error = json.loads(completed.stdout)
                detail = error.get("msg", "") + (f": {error['details']}" if error.get("details") else "")
            except ValueError:
                detail = (completed.stderr or completed.stdout).strip()
            raise PodNetworkError(f"CNI {plugin} {command} for {namespace} failed (exit {completed.returncode}): {detail}")
        return json.loads(completed.stdout) if completed.stdout.strip() else {}

    def add(self, pod_uid: str, pod_ip: Optional[str] = None) -> PodSandbox:
        """The pod's namespace with `lo` up and `eth0` on the bridge, at `pod_ip` when given
        (a pod whose address is already in its status), else at the address host-local picks."""
        namespace = self.layout.pod_network_namespace(pod_uid)
        netns.create_empty(namespace)
        try:
            self._call("loopback", "ADD", pod_uid, namespace, loopback_configuration())
            arguments = f"IgnoreUnknown=1;IP={pod_ip}" if pod_ip else ""
            result = self._call("bridge", "ADD", pod_uid, namespace, bridge_configuration(self.layout), arguments)
        except BaseException:
            self.remove(pod_uid)
            raise
        addresses = [item["address"].split("/")[0] for item in result.get("ips") or []]
        if len(addresses) != 1 or (pod_ip and addresses != [pod_ip]):
            self.remove(pod_uid)
            raise PodNetworkError(f"CNI bridge gave pod {pod_uid} the addresses {addresses}, not one address{f' ({pod_ip})' if pod_ip else ''}")
        return PodSandbox(namespace, addresses[0])

    def remove(self, pod_uid: str) -> None:
        """DEL through both plugins (they succeed on what is already gone), then the namespace."""
        namespace = self.layout.pod_network_namespace(pod_uid)
        errors = []
        for plugin, configuration in (("bridge", bridge_configuration(self.layout)), ("loopback", loopback_configuration())):
            try:
                self._call(plugin, "DEL", pod_uid, namespace if netns.exists(namespace) else "", configuration)
            except (PodNetworkError, subprocess.TimeoutExpired) as error:
                errors.append(str(error))
        netns.delete(namespace)
        if errors:
            raise PodNetworkError("; ".join(errors))


def remove_all_pod_namespaces(layout: ClusterLayout) -> list[str]:
    """Remove every pod namespace of the cluster (for `cluster down` after a crash): their names."""
    names = netns.names_with_prefix(f"{layout.network_namespace}-")
    for name in names:
        netns.delete(name)
    return names
