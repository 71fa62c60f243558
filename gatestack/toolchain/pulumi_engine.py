"""The real Pulumi engine's binaries, built from the Go module proxy into .tools/.

Three pieces run a stack with nothing downloaded at run time (put their directories on PATH and
set ``PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true``):
- ``pulumi``, the CLI/engine, at ``PULUMI_VERSION`` (v3.274.1, the oldest the proxy here serves
  that runs the Python SDK pinned in requirements.txt);
- ``pulumi-language-python``, the Python language host, which exists as a Go package only inside
  ``github.com/pulumi/pulumi/sdk/v3`` up to ``PULUMI_LANGUAGE_PYTHON_SDK_VERSION`` (v3.79.0), with
  the ``pulumi-language-python-exec`` shim it starts programs through copied beside it;
- ``pulumi-resource-kubernetes``, the Kubernetes provider plugin, from the only provider module
  version the proxy serves (``KUBERNETES_PROVIDER_MODULE_VERSION``), reporting itself as the
  pulumi-kubernetes SDK version of requirements.txt (``KUBERNETES_PROVIDER_PLUGIN_VERSION``).

None can be built with ``go install <package>@<version>``: upstream's go.mod files carry replace
directives (``sdk => ../sdk``, a clipboard fork, an old golang.org/x/text), and the provider's
``main`` embeds two JSON files that upstream generates before building. Each is built from a
generated wrapper module under ``.tools/src/`` that states those choices explicitly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gatestack.toolchain.go_build import (
    ToolchainError,
    check_version,
    ensure_built,
    go_build,
    linker_flags,
    module_directory,
    prepare_wrapper_module,
)

PULUMI_VERSION = "v3.274.1"
PULUMI_LANGUAGE_PYTHON_SDK_VERSION = "v3.79.0"
KUBERNETES_PROVIDER_MODULE_VERSION = "v4.0.0-20260115033456-f47bc2d6f199"
# The provider's sdk/v4 module: upstream replaces it with ../sdk; v4.24.0 is the version its go.mod
# names (a later one, e.g. v4.32.0, lifts the pulumi sdk past pkg and no longer compiles).
KUBERNETES_PROVIDER_SDK_VERSION = "v4.24.0"
# The version the plugin reports: the pulumi-kubernetes Python SDK pinned in requirements.txt
# (tests/dataplane/test_toolchain.py checks the two agree).
KUBERNETES_PROVIDER_PLUGIN_VERSION = "4.34.2"

PULUMI_PKG_MODULE = "github.com/pulumi/pulumi/pkg/v3"
PULUMI_SDK_MODULE = "github.com/pulumi/pulumi/sdk/v3"
KUBERNETES_PROVIDER_MODULE = "github.com/pulumi/pulumi-kubernetes/provider/v4"
KUBERNETES_PROVIDER_SDK_MODULE = "github.com/pulumi/pulumi-kubernetes/sdk/v4"

# Replace directives apply only in the main module, so those of upstream's go.mod that the build
# needs are restated in the wrappers: pkg/v3 v3.274.1 swaps github.com/atotto/clipboard for a fork,
CLIPBOARD_REPLACEMENT = "github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"
# and sdk/v3 v3.79.0 holds golang.org/x/text at v0.3.6.
LANGUAGE_HOST_TEXT_REPLACEMENT = "golang.org/x/text => golang.org/x/text v0.3.6"

LANGUAGE_HOST_EXEC_SHIM = "pulumi-language-python-exec"
LANGUAGE_HOST_DIRECTORY_IN_MODULE = Path("python/cmd")
PROVIDER_COMMAND_IN_MODULE = Path("cmd/pulumi-resource-kubernetes")


def pulumi_wrapper_files(version: str = PULUMI_VERSION) -> dict[str, str]:
    """go.mod of the module that builds the Pulumi CLI at ``version``."""
    check_version(version, "Pulumi")
    return {
        "go.mod": (
            "module localbuild/pulumi\n\ngo 1.26.6\n\n"
            f"require (\n\t{PULUMI_PKG_MODULE} {version}\n\t{PULUMI_SDK_MODULE} {version}\n)\n\n"
            f"replace {CLIPBOARD_REPLACEMENT}\n"
        )
    }


def ensure_pulumi(version: str = PULUMI_VERSION) -> Path:
    """Path of the Pulumi CLI at ``version`` (default v3.274.1), built from ``.tools/src/pulumi-<version>`` if absent."""

    def build_steps(staging: Path, log_path: Path) -> None:
        wrapper = prepare_wrapper_module("pulumi", version, pulumi_wrapper_files(version))
        go_build(
            f"{PULUMI_PKG_MODULE}/cmd/pulumi",
            name="pulumi",
            version=version,
            wrapper=wrapper,
            output=staging / "pulumi",
            log_path=log_path,
            ldflags=linker_flags((f"{PULUMI_SDK_MODULE}/go/common/version.Version", version)),
        )

    return ensure_built("pulumi", version, build_steps, how="go build of a wrapper module")


def language_host_wrapper_files(sdk_version: str = PULUMI_LANGUAGE_PYTHON_SDK_VERSION) -> dict[str, str]:
    """go.mod of the module that builds the Python language host from the Pulumi Go SDK at ``sdk_version``."""
    check_version(sdk_version, "Pulumi SDK")
    return {
        "go.mod": (
            "module localbuild/pulumi-language-python\n\ngo 1.26\n\n"
            f"require {PULUMI_SDK_MODULE} {sdk_version}\n\nreplace {LANGUAGE_HOST_TEXT_REPLACEMENT}\n"
        )
    }


def ensure_pulumi_language_python(sdk_version: str = PULUMI_LANGUAGE_PYTHON_SDK_VERSION) -> Path:
    """Path of ``pulumi-language-python`` from SDK ``sdk_version`` (default v3.79.0), built if absent.

    The ``pulumi-language-python-exec`` shim it runs programs through is installed beside it.
    """

    def build_steps(staging: Path, log_path: Path) -> None:
        wrapper = prepare_wrapper_module(
            "pulumi-language-python", sdk_version, language_host_wrapper_files(sdk_version)
        )
        go_build(
            f"{PULUMI_SDK_MODULE}/python/cmd/pulumi-language-python",
            name="pulumi-language-python",
            version=sdk_version,
            wrapper=wrapper,
            output=staging / "pulumi-language-python",
            log_path=log_path,
        )
        shim = module_directory(PULUMI_SDK_MODULE, sdk_version) / LANGUAGE_HOST_DIRECTORY_IN_MODULE / LANGUAGE_HOST_EXEC_SHIM
        if not shim.is_file():
            raise ToolchainError(f"the Pulumi SDK {sdk_version} module has no {LANGUAGE_HOST_EXEC_SHIM} at {shim}")
        copied = staging / LANGUAGE_HOST_EXEC_SHIM
        shutil.copyfile(shim, copied)  # copyfile, not copy: the module cache's files are read-only
        copied.chmod(0o755)

    return ensure_built("pulumi-language-python", sdk_version, build_steps, how="go build of a wrapper module")


def kubernetes_provider_embed_files(schema_json: str, terraform_mapping_json: str, plugin_version: str) -> dict[str, str]:
    """The two files the provider's ``main`` embeds, as upstream's ``generate.go`` makes them.

    ``schema-embed.json`` is the package schema with its top-level ``version`` set to
    ``plugin_version``; both are minified (the schema goes from 7.4 MB to 5.2 MB).
    """
    schema = json.loads(schema_json)
    schema["version"] = plugin_version
    mapping = json.loads(terraform_mapping_json)
    return {
        "schema-embed.json": json.dumps(schema, separators=(",", ":")),
        "terraform-mapping-embed.json": json.dumps(mapping, separators=(",", ":")),
    }


KUBERNETES_PROVIDER_MAIN = """package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
"""


def kubernetes_provider_wrapper_files(
    provider_command_directory: Path,
    module_version: str = KUBERNETES_PROVIDER_MODULE_VERSION,
    plugin_version: str = KUBERNETES_PROVIDER_PLUGIN_VERSION,
) -> dict[str, str]:
    """go.mod, main.go and the embedded JSON of the module that builds the Kubernetes provider.

    ``provider_command_directory`` is the module's ``cmd/pulumi-resource-kubernetes``, holding the
    ``schema.json`` and ``terraform-mapping.json`` the embedded files are made from.
    """
    check_version(module_version, "pulumi-kubernetes provider")
    try:
        schema_json = (provider_command_directory / "schema.json").read_text()
        terraform_mapping_json = (provider_command_directory / "terraform-mapping.json").read_text()
    except OSError as error:
        raise ToolchainError(f"the pulumi-kubernetes provider module lacks a file its build needs: {error}") from None
    return {
        "go.mod": (
            "module localbuild/pulumi-resource-kubernetes\n\ngo 1.26\n\n"
            f"require (\n\t{KUBERNETES_PROVIDER_MODULE} {module_version}\n"
            f"\t{KUBERNETES_PROVIDER_SDK_MODULE} {KUBERNETES_PROVIDER_SDK_VERSION}\n)\n"
        ),
        "main.go": KUBERNETES_PROVIDER_MAIN,
        **kubernetes_provider_embed_files(schema_json, terraform_mapping_json, plugin_version),
    }


def ensure_pulumi_resource_kubernetes(module_version: str = KUBERNETES_PROVIDER_MODULE_VERSION) -> Path:
    """Path of the ``pulumi-resource-kubernetes`` plugin built from the provider module at ``module_version``.

    Installed as ``.tools/pulumi-resource-kubernetes-<module_version>/``; it reports
    ``KUBERNETES_PROVIDER_PLUGIN_VERSION`` (4.34.2, the SDK of requirements.txt).
    """

    def build_steps(staging: Path, log_path: Path) -> None:
        provider_command_directory = module_directory(KUBERNETES_PROVIDER_MODULE, module_version) / PROVIDER_COMMAND_IN_MODULE
        wrapper = prepare_wrapper_module(
            "pulumi-resource-kubernetes",
            module_version,
            kubernetes_provider_wrapper_files(provider_command_directory, module_version),
        )
        go_build(
            ".",
            name="pulumi-resource-kubernetes",
            version=module_version,
            wrapper=wrapper,
            output=staging / "pulumi-resource-kubernetes",
            log_path=log_path,
            ldflags=linker_flags((f"{KUBERNETES_PROVIDER_MODULE}/pkg/version.Version", KUBERNETES_PROVIDER_PLUGIN_VERSION)),
        )

    return ensure_built("pulumi-resource-kubernetes", module_version, build_steps, how="go build of a wrapper module")


def ensure_pulumi_engine() -> dict[str, Path]:
    """Install the Pulumi CLI, the Python language host (and its shim) and the Kubernetes provider.

    Returns their paths by name; the pulumi-tls provider cannot be built here (its module is refused
    by the proxy at every version), so a real-engine run cannot create ``tls:`` resources.
    """
    language_host = ensure_pulumi_language_python()
    return {
        "pulumi": ensure_pulumi(),
        "pulumi-language-python": language_host,
        LANGUAGE_HOST_EXEC_SHIM: language_host.parent / LANGUAGE_HOST_EXEC_SHIM,
        "pulumi-resource-kubernetes": ensure_pulumi_resource_kubernetes(),
    }

