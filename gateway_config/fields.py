"""Single-value field types for the stack config, each with the rule it enforces.

Every type here checks one value on its own; rules that relate several values (a
listener and its certificate, a route and the backends it names) live in
`semantics.py`. Messages follow one pattern: what is wrong, then what is allowed.
The limits are Gateway API's own (v1 CRD schemas), so a config that passes here is
not refused later by the API server.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

import re2
from pydantic import AfterValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

# Kubernetes' DNS-1123 label: names of Services, Namespaces and Gateway listeners.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Kubernetes' DNS-1123 subdomain: names of most other objects.
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# The name part of a Kubernetes qualified name (label keys; Envoy Gateway's JWT provider names).
_QUALIFIED_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# HTTP header field name (RFC 9110 token), as Gateway API's HTTPHeaderName pattern.
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
# Gateway API's Duration: up to four number+unit pairs, e.g. "10s", "1m30s", "500ms".
_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
# A chart version as Helm accepts it: semantic version, optionally with a leading "v".
_VERSION = re.compile(
    r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
# An OCI image reference: [registry[:port]/]repository[:tag][@sha256:digest].
_IMAGE = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)
# A Kubernetes resource quantity such as "100m", "256Mi", "1": the API's own pattern (as the CRDs state it).
_QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# Gateway API's HTTP header value: printable ASCII, words separated by one space or tab.
_HEADER_VALUE = re.compile(r"^[!-~]+([\t ]?[!-~]+)*$")
# Gateway API's GatewayController: a domain-prefixed path, e.g. gateway.envoyproxy.io/gatewayclass-controller.
# Gateway API's characters of an Exact or PathPrefix path match: RFC 3986's path characters and
# percent-escapes (the HTTPRoute CRD's CEL rule on `path`, in ECMA-262 and RE2 syntax alike; a test
# reads it from the CRD Envoy Gateway ships and compares, so a CRD that changes it is noticed).
PATH_MATCH_CHARACTERS = r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$"
_PATH_MATCH_CHARACTERS = re.compile(PATH_MATCH_CHARACTERS)
_CONTROLLER_NAME = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$"
)

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is reported to the user, not to stderr


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise _fail(
            "dns_label",
            f"'{value}' is not a valid Kubernetes name; use at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit (DNS-1123 label)",
        )
    return value


def _dns_subdomain(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise _fail(
            "dns_subdomain",
            f"'{value}' is not a valid Kubernetes name; use at most 253 lowercase letters, digits, "
            "'-' and '.', each part starting and ending with a letter or digit (DNS-1123 subdomain)",
        )
    return value


def _qualified_name(value: str) -> str:
    """Kubernetes' qualified name (validation.IsQualifiedName), as Envoy Gateway checks a JWT provider's
    name: an optional DNS-1123 subdomain and '/', then at most 63 letters, digits, '-', '_' and '.',
    starting and ending with a letter or digit."""
    prefix, slash, name = value.rpartition("/")
    valid_prefix = not slash or (len(prefix) <= 253 and _DNS_SUBDOMAIN.match(prefix) is not None)
    if not valid_prefix or len(name) > 63 or not _QUALIFIED_NAME_PART.match(name):
        raise _fail(
            "qualified_name",
            f"'{value}' is not a valid qualified name; use at most 63 letters, digits, '-', '_' and '.', starting and "
            "ending with a letter or digit, optionally after a DNS subdomain and '/' (such as 'example.com/idp')",
        )
    return value


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _hostname(value: str, allow_wildcard: bool = True) -> str:
    allowed = (
        "a lowercase DNS name such as 'www.example.com'"
        + (" or a wildcard '*.example.com' (the '*' only as the whole first label)" if allow_wildcard else "")
        + ", at most 253 characters, each label at most 63"
    )
    if _is_ip_address(value):
        raise _fail("hostname", f"'{value}' is an IP address; a hostname is required: {allowed}")
    if len(value) > 253:
        raise _fail("hostname", f"hostname is {len(value)} characters long; allowed: {allowed}")
    labels = value.split(".")
    if labels[0] == "*" and allow_wildcard and len(labels) > 1:
        labels = labels[1:]
    for label in labels:
        if len(label) > 63:
            raise _fail("hostname", f"label '{label[:20]}…' of '{value}' is {len(label)} characters long; allowed: {allowed}")
        if not _DNS_LABEL.match(label):
            raise _fail("hostname", f"'{value}' is not a valid hostname; allowed: {allowed}")
    return value


def _precise_hostname(value: str) -> str:
    return _hostname(value, allow_wildcard=False)


def validate_http_path(value: str) -> str:
    allowed = (
        "an absolute path starting with '/', without '//', '/./', '/../', '%2f', '%5c' or '#', "
        "at most 1024 characters"
    )
    lowered = value.lower()
    if not value.startswith("/"):
        raise _fail("http_path", f"path '{value}' does not start with '/'; allowed: {allowed}")
    for forbidden in ("//", "/./", "/../", "%2f", "%5c", "#"):
        if forbidden in lowered:
            raise _fail("http_path", f"path '{value}' contains '{forbidden}'; allowed: {allowed}")
    if value.endswith("/..") or value.endswith("/."):
        raise _fail("http_path", f"path '{value}' ends with a dot segment; allowed: {allowed}")
    if len(value) > 1024:
        raise _fail("http_path", f"path is {len(value)} characters long; allowed: {allowed}")
    return value


def validate_path_match_characters(value: str) -> str:
    """An Exact or PathPrefix match's characters, as the HTTPRoute CRD allows them (fullmatch: `$` alone
    would let a final newline through, which RE2 in the API server does not)."""
    if _PATH_MATCH_CHARACTERS.fullmatch(value) is None:
        outside = next((c for c in value if not _PATH_MATCH_CHARACTERS.fullmatch(c) and c != "%"), None)
        what = f"the character {outside!r}" if outside is not None else "a '%' not followed by two hex digits"
        raise _fail(
            "path_characters",
            f"path {value!r} contains {what}; allowed in an Exact or PathPrefix path: letters, digits, "
            "-/._~!$&'()*+,;=:@ and %XX escapes (Gateway API's pattern; a space is written %20)",
        )
    return value


def validate_regular_expression(value: str) -> str:
    if len(value) > 1024:
        raise _fail("regex", f"regular expression is {len(value)} characters long; at most 1024 are allowed")
    try:
        re2.compile(value, _RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        raise _fail(
            "regex",
            f"'{value}' is not a valid regular expression ({reason}); Envoy uses RE2 syntax, "
            "which has no look-around or back-references",
        ) from None
    return value


def _header_name(value: str) -> str:
    if len(value) > 256 or not _HEADER_NAME.match(value):
        raise _fail(
            "header_name",
            f"'{value}' is not a valid HTTP header name; use 1 to 256 letters, digits or any of "
            "!#$%&'*+-.^_`|~ (no spaces or ':')",
        )
    return value


def _header_value(value: str) -> str:
    allowed = (
        "use 1 to 4096 printable ASCII characters, words separated by one space or tab, "
        "no space or tab at either end"
    )
    for character in value:
        if (ord(character) < 0x20 and character != "\t") or ord(character) == 0x7F:
            raise _fail(
                "header_value",
                f"header value {value!r} contains the control character {character!r}; {allowed}",
            )
    if len(value) > 4096:
        raise _fail("header_value", f"header value is {len(value)} characters long; {allowed}")
    if not _HEADER_VALUE.match(value):
        raise _fail("header_value", f"header value {value!r} is not allowed by Gateway API; {allowed}")
    return value


def _controller_name(value: str) -> str:
    if len(value) > 253 or not _CONTROLLER_NAME.match(value):
        raise _fail(
            "controller_name",
            f"'{value}' is not a controller name; use a domain, '/' and a path, at most 253 characters, "
            "such as 'gateway.envoyproxy.io/gatewayclass-controller'",
        )
    return value


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise _fail(
            "duration",
            f"'{value}' is not a duration; use a number and a unit h, m, s or ms, such as '10s' or '1m30s'",
        )
    return value


def _version(value: str) -> str:
    if not _VERSION.match(value):
        raise _fail("version", f"'{value}' is not a version; use a semantic version such as 'v1.9.0'")
    return value


def _image(value: str) -> str:
    if not _IMAGE.match(value):
        raise _fail(
            "image",
            f"'{value}' is not a container image reference; use 'registry/repository:tag' "
            "(optionally '@sha256:<digest>')",
        )
    return value


def _quantity(value: Any) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _QUANTITY.match(text):
        raise _fail("quantity", f"{value!r} is not a Kubernetes quantity; use e.g. '100m', '1', '256Mi', '1Gi'")
    return text


# What an editor and check-jsonschema see of each type (stacks/stack-file.schema.json): the
# rule as an ECMA-262 pattern (no `\Z`, no named groups) where one regex states it, else the
# closest honest one. Given with WithJsonSchema, not Field(pattern=...), so pydantic does not
# check the value a second time with messages of its own.
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
# A dotted-decimal IPv4 address as ipaddress.ip_address reads it (no leading zeros): not a hostname.
_IPV4 = r"((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"


def _string_schema(description: str, pattern: str | None = None, max_length: int | None = None) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern
    if max_length is not None:
        schema["maxLength"] = max_length
    schema["description"] = description
    return WithJsonSchema(schema)


DnsLabel = Annotated[
    str,
    AfterValidator(_dns_label),
    _string_schema(
        "A DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit.",
        r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        63,
    ),
]
_SUBDOMAIN_SCHEMA = _string_schema(
    "A DNS-1123 subdomain: lowercase letters, digits, '-' and '.', "
    "each part starting and ending with a letter or digit.",
    f"^{_SUBDOMAIN}$",
    253,
)
# Gateway API's SectionName (listener names, rule names, parentRef sectionName): a DNS-1123 subdomain.
SectionName = Annotated[str, AfterValidator(_dns_subdomain), _SUBDOMAIN_SCHEMA]
ControllerName = Annotated[
    str,
    AfterValidator(_controller_name),
    _string_schema(
        "A controller name: a domain, '/' and a path, such as 'gateway.envoyproxy.io/gatewayclass-controller'.",
        rf"^{_SUBDOMAIN}/[A-Za-z0-9/._~%!$&'()*+,;=:-]+$",
        253,
    ),
]
KubernetesName = Annotated[str, AfterValidator(_dns_subdomain), _SUBDOMAIN_SCHEMA]
QualifiedName = Annotated[
    str,
    AfterValidator(_qualified_name),
    _string_schema(
        "A Kubernetes qualified name: at most 63 letters, digits, '-', '_' and '.', starting and ending with a "
        "letter or digit, optionally after a DNS subdomain (at most 253 characters) and '/', "
        "such as 'example.com/idp'.",
        rf"^({_SUBDOMAIN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?$",
        253 + 1 + 63,
    ),
]
Hostname = Annotated[
    str,
    AfterValidator(_hostname),
    _string_schema(
        "A lowercase DNS name such as 'www.example.com', or a wildcard '*.example.com' ('*' only as the whole "
        "first label); each label at most 63 characters; not an IP address.",
        rf"^(?!{_IPV4}$)(\*\.)?{_LABEL}(\.{_LABEL})*$",
        253,
    ),
]
PreciseHostname = Annotated[
    str,
    AfterValidator(_precise_hostname),
    _string_schema(
        "A lowercase DNS name such as 'www.example.com' (no wildcard); each label at most 63 characters; "
        "not an IP address.",
        rf"^(?!{_IPV4}$){_LABEL}(\.{_LABEL})*$",
        253,
    ),
]
HttpPath = Annotated[
    str,
    AfterValidator(validate_http_path),
    _string_schema(
        "An absolute path starting with '/', without '//', '/./', '/../', '%2f', '%5c' or '#', "
        "not ending with '/.' or '/..'.",
        r"^(?![\s\S]*(//|/\./|/\.\./|%2[fF]|%5[cC]|#))(?![\s\S]*/\.\.?$)/[\s\S]*$",
        1024,
    ),
]
# Whether a value is valid RE2 no pattern can say: the program compiles it.
RegularExpression = Annotated[
    str,
    AfterValidator(validate_regular_expression),
    _string_schema("A regular expression in RE2 syntax (Envoy's): no look-around, no back-references.", None, 1024),
]
# An HTTP token (RFC 9110): Gateway API's HTTPHeaderName, also the type of query parameter names.
HeaderName = Annotated[
    str,
    AfterValidator(_header_name),
    _string_schema(
        "An HTTP header name (RFC 9110 token): letters, digits and !#$%&'*+-.^_|~ or a backtick; no spaces or ':'.",
        # The backtick as \x60: the pattern is shown in Markdown, where a backtick ends code.
        r"^[A-Za-z0-9!#$%&'*+.^_\x60|~-]+$",
        256,
    ),
]
HeaderValue = Annotated[
    str,
    AfterValidator(_header_value),
    _string_schema(
        "An HTTP header value: printable ASCII, words separated by one space or tab, none at either end.",
        # The same language as _HEADER_VALUE, written so a backtracking engine stays linear.
        r"^[!-~]+([\t ][!-~]+)*$",
        4096,
    ),
]
Duration = Annotated[
    str,
    AfterValidator(_duration),
    _string_schema(
        "A Gateway API duration: up to four number+unit pairs, units h, m, s or ms, such as '10s' or '1m30s'.",
        _DURATION.pattern,
    ),
]
ChartVersion = Annotated[
    str,
    AfterValidator(_version),
    _string_schema("A semantic version, optionally with a leading 'v', such as 'v1.9.0'.", _VERSION.pattern),
]
Image = Annotated[
    str,
    AfterValidator(_image),
    _string_schema(
        "A container image reference such as 'docker.io/envoyproxy/envoy:v1.31.0': an optional registry "
        "(and port), the repository, an optional ':tag' and an optional '@sha256:' digest.",
        _IMAGE.pattern,
    ),
]
Quantity = Annotated[
    Any,
    AfterValidator(_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": _QUANTITY.pattern}, {"type": "integer"}],
            "description": "A Kubernetes resource quantity, such as '100m', '1', '256Mi' or '1Gi'.",
        }
    ),
]
Port = Annotated[int, Field(ge=1, le=65535)]
Replicas = Annotated[int, Field(ge=0)]
# Gateway API caps a backendRef weight at 1,000,000.
Weight = Annotated[int, Field(ge=0, le=1_000_000)]


def is_valid_path(value: str) -> bool:
    """True when `value` passes the same check as an `HttpPath` field."""
    try:
        validate_http_path(value)
    except PydanticCustomError:
        return False
    return True


def image_tag(image: str) -> str | None:
    """The tag of an image reference, or None when it has none (a digest alone is not a tag)."""
    without_digest = image.split("@", 1)[0]
    last_part = without_digest.rsplit("/", 1)[-1]
    return last_part.split(":", 1)[1] if ":" in last_part else None


def duration_milliseconds(value: str) -> int:
    """A Gateway API duration (as `Duration` accepts it) in milliseconds: '1m30s' -> 90000."""
    units = {"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
    return sum(int(number) * units[unit] for number, unit in re.findall(r"([0-9]+)(ms|h|m|s)", value))


# Where Envoy Gateway's charts come from (`controller.chartRepository`): a registry, a Helm repository,
# or a local directory (air-gapped and vendored installs). A local path is written as one, so a
# registry reference missing its `oci://` is refused rather than looked for on disk.
_CHART_REPOSITORY = re.compile(r"^(oci://[^\s/]+(/[^\s]*)?|https://[^\s/]+(/[^\s]*)?|(/|\./|\.\./)[^\s]*|\.|\.\.)$")
CHART_REPOSITORY_ALLOWED = (
    "allowed: an oci:// registry such as 'oci://docker.io/envoyproxy', an https:// Helm repository, "
    "or a local directory ('./…', '../…' or '/…') holding gateway-helm and gateway-crds-helm "
    "as `gatestack charts` writes them or `helm pull` saves them"
)


def _chart_repository(value: str) -> str:
    if value.endswith(".tgz"):
        raise _fail(
            "chart_repository",
            f"'{value}' is one chart archive, and both gateway-helm and gateway-crds-helm are installed: "
            f"name the directory that holds them; {CHART_REPOSITORY_ALLOWED}",
        )
    if not _CHART_REPOSITORY.match(value):
        raise _fail("chart_repository", f"'{value}' is not a chart repository; {CHART_REPOSITORY_ALLOWED}")
    return value


ChartRepository = Annotated[
    str,
    AfterValidator(_chart_repository),
    _string_schema(
        "Where Envoy Gateway's charts come from: an oci:// registry, an https:// Helm repository, or a local "
        "directory ('./…', '../…' or '/…') holding gateway-helm and gateway-crds-helm as directories or "
        "<chart>-<version>.tgz archives.",
        r"^(?![\s\S]*\.tgz$)(oci://[^\s/]+(/\S*)?|https://[^\s/]+(/\S*)?|(/|\./|\.\./)\S*|\.|\.\.)$",
    ),
]
