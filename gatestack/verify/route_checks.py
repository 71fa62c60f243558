"""Checks of each route rule: routing, redirects, header modifiers, rewrites and splits."""

from __future__ import annotations

import urllib.parse
from typing import Any, Optional

from gateway_config.models import HeaderModifier, RouteConfig, RouteMatch, RouteRule
from gatestack.stand_ins.echo_server import canonical_header_name  # echo-basic prints names as Go does
from gatestack.verify.route_matching import (
    Listener,
    Probe,
    backend_names,
    backend_of_pod,
    concrete_host,
    attached_listeners,
    header_lookup,
    intersect_hostnames,
    modified_path,
    probes_for_match,
    rule_filter,
    rule_label,
)
from gatestack.verify.mirror_checks import check_mirror
from gatestack.verify.probes import RequestFailed, Response, without_query_parameters
from gatestack.verify.security_checks import action_for
from gatestack.verify.statistics import split_intervals

ORIGINAL_VALUE = "gatestack-verify-original"
ECHO_SET_HEADER = "X-Echo-Set-Header"

_WELL_KNOWN_PORTS = {"http": 80, "https": 443}


class RouteChecks:
    """The per-rule checks of `Verifier` (a mixin: it uses the verifier's `send`, `add`, `skip`)."""

    def check_route(self, route_index: int, route: RouteConfig, listeners: dict[str, Listener]) -> None:
        attached_configs = attached_listeners(self.config, route)
        if not attached_configs:
            self.skip(f"route {route.name}", f"attached to no listener of Gateway {self.config.gateway.name}")
            return
        attached = [listeners[l.name] for l in attached_configs if l.name in listeners]
        http = [l for l in attached if not l.https]
        https = [l for l in attached if l.https]
        for rule_index, rule in enumerate(route.rules):
            if any(ref.kind == "InferencePool" for ref in rule.backend_refs):
                continue  # inference_checks.py: OpenAI-style requests, picked by the pool's EPP
            label = rule_label(route, rule_index, rule)
            primary: Optional[tuple[Listener, Probe]] = None
            for listener in (http or https) + (https if http else []):
                for probe in self.rule_probes(route_index, route, rule_index, rule, listener, label):
                    refused = self.refusal_expected(listener, probe)
                    if refused:
                        self.skip(f"{label}: {probe.label(listener.https)} -> {self.expectation(rule)} ({listener.name})", refused)
                        continue
                    self.check_routing(label, rule, listener, probe)
                    if primary is None and (not listener.https or not http):
                        primary = (listener, probe)
            if primary is None:
                if rule.filters or len(rule.backend_refs) > 1:
                    self.skip(f"{label}: filters and split", "no request could be made that this rule takes")
                continue
            self.check_rule_details(label, rule, *primary)

    def refusal_expected(self, listener: Listener, probe: Probe) -> str:
        """Why the rule's SecurityPolicy refuses verify's plain requests (the policy's own checks
        cover that), or '' when they go through."""
        policy = self.security_policy_for(listener, probe)
        if policy is None:
            return ""
        if self.material.authentication(policy) is None:
            return f"SecurityPolicy {policy.name} asks for credentials verify was not given"
        if policy.authorization is not None and listener.target.host == "127.0.0.1":
            if action_for(policy, "127.0.0.1") == "Deny":
                return f"SecurityPolicy {policy.name} denies this client's address 127.0.0.1"
        return ""

    def rule_probes(
        self, route_index: int, route: RouteConfig, rule_index: int, rule: RouteRule, listener: Listener, label: str
    ) -> list[Probe]:
        hosts = [
            concrete_host(pattern)
            for pattern in intersect_hostnames(listener.config.hostname, list(route.hostnames))
        ]
        chosen = []
        for host in dict.fromkeys(hosts):
            for match_index, match in enumerate(rule.matches or [RouteMatch()]):
                probes, why_not = probes_for_match(match, host, rule)
                if not probes:
                    description = f"{match.path.type} path {match.path.value}" if match.path else f"match {match_index}"
                    self.skip(f"{label}: {description} -> {self.expectation(rule)}", why_not)
                    continue
                reasons = []
                for probe in probes:
                    outcome = listener.table.outcome(probe)
                    if outcome.certain and outcome.entry is not None and outcome.entry.rule_key == (route_index, rule_index):
                        chosen.append(probe)
                        break
                    if not outcome.certain:
                        reasons.append(outcome.reason)
                    elif outcome.entry is None:
                        reasons.append("no rule takes it")
                    else:
                        reasons.append(f"{rule_label(outcome.entry)} takes it (higher precedence)")
                else:
                    self.skip(
                        f"{label}: {probes[0].label(listener.https)} -> {self.expectation(rule)} ({listener.name})",
                        "; ".join(dict.fromkeys(reasons)),
                    )
        return chosen

    def expectation(self, rule: RouteRule) -> str:
        redirect = rule_filter(rule, "RequestRedirect")
        if redirect is not None:
            return f"redirect {redirect.status_code}"
        internal, external = backend_names(rule)
        if rule.backend_refs and not internal and not external:
            return "500 (every backend has weight 0)"
        return "|".join(internal + external) or "no backend"

    def check_routing(self, label: str, rule: RouteRule, listener: Listener, probe: Probe) -> None:
        redirect = rule_filter(rule, "RequestRedirect")
        if redirect is not None:
            self.check_redirect(label, rule, listener, probe)
            return
        name = f"{label}: {probe.label(listener.https)} -> {self.expectation(rule)} ({listener.name})"
        internal, external = backend_names(rule)
        if not internal and external:
            self.skip(name, f"external backend {', '.join(external)}: its answers cannot be recognised")
            return
        try:
            response = self.send(listener, probe)
        except RequestFailed as error:
            self.add(name, False, str(error))
            return
        if not internal:  # every backend has weight 0
            self.add(name, response.status == 500, f"status {response.status}")
            return
        if response.status != 200:
            self.add(name, False, f"status {response.status}, expected 200")
            return
        if probe.method == "HEAD":
            self.skip(name, "status 200, but a HEAD answer has no body to tell the backend from")
            return
        echo = response.echo()
        if echo is None:
            self.add(name, False, f"status 200 but the body is not echo JSON: {response.body[:80]!r}")
            return
        pod = str(echo.get("pod", ""))
        backend = backend_of_pod(pod)
        problems = []
        if backend not in internal:
            if external:
                self.skip(name, f"answered by pod {pod!r}, maybe external backend {', '.join(external)}")
                return
            problems.append(f"answered by pod {pod!r} (backend {backend}), not by {'|'.join(internal)}")
        echo["path"] = without_query_parameters(str(echo.get("path", "")), self.credential_parameters(listener, probe))
        if rule_filter(rule, "URLRewrite") is None:
            for key, expected in (("path", probe.path), ("host", probe.host), ("method", probe.method)):
                if echo.get(key) != expected:
                    problems.append(f"echo {key} {echo.get(key)!r}, sent {expected!r}")
        if listener.https:
            forwarded = header_lookup(echo.get("headers"), "X-Forwarded-Proto")
            if forwarded != ["https"]:
                problems.append(f"echo X-Forwarded-Proto {forwarded}, expected ['https']")
        verified = "" if not listener.https else (
            "; TLS verified" if (listener.name, probe.host) in self.tls_verified else "; TLS not verified (see certificate check)"
        )
        if problems:
            self.add(name, False, "; ".join(problems))
        else:
            extra = ", X-Forwarded-Proto https" if listener.https else ""
            self.add(name, True, f"200 from {pod}; echo path {echo.get('path')}, host {echo.get('host')}{extra}{verified}")

    def check_redirect(self, label: str, rule: RouteRule, listener: Listener, probe: Probe) -> None:
        redirect = rule_filter(rule, "RequestRedirect")
        scheme = redirect.scheme or ("https" if listener.https else "http")
        host = redirect.hostname or probe.host
        if redirect.port is not None:
            port = redirect.port
        elif redirect.scheme is not None:
            port = _WELL_KNOWN_PORTS[redirect.scheme]
        else:
            port = listener.config.port
        path = modified_path(redirect.path, probe.path_only, rule) if redirect.path else probe.path_only
        shown_port = "" if _WELL_KNOWN_PORTS.get(scheme) == port else f":{port}"
        expected = f"{scheme}://{host}{shown_port}{path}" + (f"?{probe.query}" if probe.query else "")
        name = f"{label}: {probe.label(listener.https)} -> {redirect.status_code} {expected} ({listener.name})"
        try:
            response = self.send(listener, probe)
        except RequestFailed as error:
            self.add(name, False, str(error))
            return
        locations = response.header_values("Location")
        location = locations[0] if locations else None
        problems = []
        if response.status != redirect.status_code:
            problems.append(f"status {response.status}, expected {redirect.status_code}")
        if location is None:
            problems.append("no Location header")
        else:
            parts = urllib.parse.urlsplit(location)
            try:
                actual_port = parts.port or _WELL_KNOWN_PORTS.get(parts.scheme)
            except ValueError:
                actual_port = None
            if (parts.scheme, parts.hostname, actual_port, parts.path or "/", parts.query) != (
                scheme, host, port, path, probe.query
            ):
                problems.append(f"Location {location}, expected {expected}")
        if problems:
            self.add(name, False, "; ".join(problems))
        else:
            self.add(name, True, f"{response.status}, Location {location}")

    def check_rule_details(self, label: str, rule: RouteRule, listener: Listener, probe: Probe) -> None:
        redirect = rule_filter(rule, "RequestRedirect") is not None
        for kind, check in (
            ("RequestHeaderModifier", self.check_request_headers),
            ("ResponseHeaderModifier", self.check_response_headers),
        ):
            modifier = rule_filter(rule, kind)
            if modifier is None:
                continue
            if redirect:
                self.skip(f"{label}: {kind}", "the rule answers with a redirect; no backend to check it on")
            else:
                check(label, modifier, listener, probe)
        rewrite = rule_filter(rule, "URLRewrite")
        if rewrite is not None:
            self.check_rewrite(label, rule, rewrite, listener, probe)
        if len(rule.backend_refs) > 1 and not redirect:
            self.check_split(label, rule, listener, probe)
        mirror = rule_filter(rule, "RequestMirror")
        if mirror is not None and not redirect:
            check_mirror(self, label, mirror, listener, probe)

    def echo_for(self, listener: Listener, probe: Probe, extra: list[tuple[str, str]]) -> tuple[Optional[Response], Optional[dict], str]:
        try:
            response = self.send(listener, probe, extra)
        except RequestFailed as error:
            return None, None, str(error)
        if response.status != 200:
            return response, None, f"status {response.status}, expected 200"
        echo = response.echo()
        if echo is None:
            return response, None, f"the body is not echo JSON: {response.body[:80]!r}"
        return response, echo, ""

    def check_request_headers(self, label: str, modifier: HeaderModifier, listener: Listener, probe: Probe) -> None:
        sent = {name.lower() for name, _ in probe.headers}
        extra = [(pair.name, ORIGINAL_VALUE) for pair in modifier.set if pair.name.lower() not in sent]
        extra += [(name, "gatestack-verify") for name in modifier.remove if name.lower() not in sent]
        checks = []
        for pair in modifier.add:
            checks.append((f"{canonical_header_name(pair.name)}: {pair.value} reaches the backend", "add", pair.name, pair.value))
        for pair in modifier.set:
            checks.append((f"{canonical_header_name(pair.name)}: {pair.value} reaches the backend (set over the client's value)", "set", pair.name, pair.value))
        for removed in modifier.remove:
            checks.append((f"{canonical_header_name(removed)} sent by the client does not reach the backend", "remove", removed, None))
        _, echo, error = self.echo_for(listener, probe, extra)
        for title, kind, header, value in checks:
            name = f"{label}: {title}"
            if echo is None:
                self.add(name, False, error)
                continue
            values = header_lookup(echo.get("headers"), header)
            shown = (
                f"echo headers[{canonical_header_name(header)!r}] = {values}"
                if values is not None
                else f"{canonical_header_name(header)} absent from the echo headers"
            )
            if kind == "add":
                self.add(name, values is not None and value in values, shown)
            elif kind == "set":
                self.add(name, values == [value], shown + f" (client sent {ORIGINAL_VALUE!r})")
            else:
                self.add(name, values is None, shown + " (the client sent it)")

    def check_response_headers(self, label: str, modifier: HeaderModifier, listener: Listener, probe: Probe) -> None:
        # echo-basic sets response headers named in X-Echo-Set-Header (`name:value,...`).
        asked = [f"{pair.name}:{ORIGINAL_VALUE}" for pair in modifier.set] + [f"{name}:gatestack-verify" for name in modifier.remove]
        extra = [(ECHO_SET_HEADER, ",".join(asked))] if asked else []
        try:
            response: Optional[Response] = self.send(listener, probe, extra)
            error = ""
        except RequestFailed as failure:
            response, error = None, str(failure)
        for kind, entries in (("set", modifier.set), ("add", modifier.add), ("remove", modifier.remove)):
            for entry in entries:
                header = entry if isinstance(entry, str) else entry.name
                value = None if isinstance(entry, str) else entry.value
                title = (
                    f"response header {canonical_header_name(header)} is removed"
                    if kind == "remove"
                    else f"response header {canonical_header_name(header)}: {value} is {'set' if kind == 'set' else 'added'}"
                )
                name = f"{label}: {title}"
                if response is None:
                    self.add(name, False, error)
                    continue
                values = response.header_values(header)
                split_values = [part.strip() for v in values for part in v.split(",")]
                shown = f"status {response.status}; response {canonical_header_name(header)}: {values}"
                if kind == "set":
                    self.add(name, values == [value], shown + f" (backend was asked to send {ORIGINAL_VALUE!r})")
                elif kind == "add":
                    self.add(name, value in values or value in split_values, shown)
                else:
                    self.add(name, not values, (shown if values else f"status {response.status}; absent") + " (backend was asked to send it)")

    def check_rewrite(self, label: str, rule: RouteRule, rewrite: Any, listener: Listener, probe: Probe) -> None:
        expected_host = rewrite.hostname or probe.host
        expected_path = modified_path(rewrite.path, probe.path_only, rule) if rewrite.path else probe.path_only
        if probe.query:
            expected_path += f"?{probe.query}"
        name = f"{label}: {probe.label(listener.https)} is rewritten to {expected_host}{expected_path}"
        _, echo, error = self.echo_for(listener, probe, [])
        if echo is None:
            self.add(name, False, error)
            return
        actual = (echo.get("host"), without_query_parameters(str(echo.get("path", "")), self.credential_parameters(listener, probe)))
        self.add(name, actual == (expected_host, expected_path), f"echo host {actual[0]!r}, path {actual[1]!r}")

    def check_split(self, label: str, rule: RouteRule, listener: Listener, probe: Probe) -> None:
        refs = rule.backend_refs
        n = self.sample_size
        name = f"{label}: split " + " : ".join(f"{ref.name} {ref.weight}" for ref in refs) + f" over {n} requests"
        external = [ref.name for ref in refs if ref.external]
        if external:
            self.skip(name, f"external backend {', '.join(external)}: its answers cannot be counted")
            return
        if sum(ref.weight for ref in refs) == 0:
            return  # every request gets 500: the routing check says so
        # Two refs to the same Service add up.
        weights: dict[str, int] = {}
        for ref in refs:
            weights[ref.name] = weights.get(ref.name, 0) + ref.weight
        names = list(weights)
        intervals = dict(zip(names, split_intervals(n, [weights[b] for b in names])))
        counts = {backend: 0 for backend in names}
        others: dict[str, int] = {}
        for index in range(n):
            try:
                response = self.send(listener, probe)
            except RequestFailed as error:
                self.add(name, False, f"request {index + 1} of {n} failed: {error}")
                return
            echo = response.echo() if response.status == 200 else None
            backend = backend_of_pod(str(echo.get("pod", ""))) if echo else None
            if backend in counts:
                counts[backend] += 1
            else:
                key = f"status {response.status}" if echo is None else f"pod {echo.get('pod')!r}"
                others[key] = others.get(key, 0) + 1
        passed = not others and all(intervals[b][0] <= counts[b] <= intervals[b][1] for b in names)
        detail = ", ".join(f"{b} {counts[b]}" for b in names)
        detail += " (accepted " + " / ".join(f"{lo}..{hi}" for lo, hi in (intervals[b] for b in names)) + ")"
        if others:
            detail += "; other answers: " + ", ".join(f"{key} x{count}" for key, count in others.items())
        self.add(name, passed, detail)
