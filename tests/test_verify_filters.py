"""Tests of `gatestack.verify`'s filter checks (redirects, rewrites, header modifiers): each
passes on a correct fake gateway and fails on its own fault (`tests/fake_gateway.py`)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_config.models import StackConfig
from gatestack.verify import (
    CheckResult,
    format_table,
    verify,
)
from tests.fake_gateway import (
    FakeGateway,
    FakeRule,
    by_name,
    failed_names,
    stack,
)


def filter_config() -> StackConfig:
    return stack(
        [
            {
                "name": "filters",
                "hostnames": ["api.example.com"],
                "parentRefs": [{"name": "eg", "sectionName": "http"}],
                "rules": [
                    {
                        "matches": [
                            {
                                "path": {"type": "Exact", "value": "/headers"},
                                "headers": [{"name": "x-env", "value": "prod"}],
                                "queryParams": [{"name": "v", "value": "1"}],
                                "method": "POST",
                            }
                        ],
                        "filters": [
                            {
                                "type": "RequestHeaderModifier",
                                "requestHeaderModifier": {
                                    "set": [{"name": "x-set", "value": "s"}],
                                    "remove": ["x-secret"],
                                },
                            },
                            {
                                "type": "ResponseHeaderModifier",
                                "responseHeaderModifier": {
                                    "set": [{"name": "x-resp-set", "value": "r"}],
                                    "add": [{"name": "x-resp-add", "value": "a"}],
                                    "remove": ["x-resp-remove"],
                                },
                            },
                        ],
                        "backendRefs": [{"name": "backend"}],
                    },
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": "/old"}}],
                        "filters": [
                            {
                                "type": "RequestRedirect",
                                "requestRedirect": {
                                    "scheme": "https",
                                    "hostname": "new.example.com",
                                    "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"},
                                    "statusCode": 301,
                                },
                            }
                        ],
                    },
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": "/rewrite"}}],
                        "filters": [
                            {
                                "type": "URLRewrite",
                                "urlRewrite": {
                                    "hostname": "internal.example.com",
                                    "path": {"type": "ReplaceFullPath", "replaceFullPath": "/inner"},
                                },
                            }
                        ],
                        "backendRefs": [{"name": "backend-2"}],
                    },
                ],
            }
        ]
    )


def filter_table(**changes: Any) -> list[FakeRule]:
    headers_rule = FakeRule(
        "api.example.com", "/headers", kind="Exact", request_set={"x-set": "s"}, request_remove=["x-secret"],
        response_set={"x-resp-set": "r"}, response_add={"x-resp-add": "a"}, response_remove=["x-resp-remove"],
    )
    redirect_rule = FakeRule("api.example.com", "/old", redirect=(301, "https://new.example.com/new/gatestack-verify"))
    rewrite_rule = FakeRule("api.example.com", "/rewrite", backends=["backend-2"], rewrite_host="internal.example.com", rewrite_path="/inner")
    for rule in (headers_rule, redirect_rule, rewrite_rule):
        for key, value in changes.get(rule.path, {}).items():
            setattr(rule, key, value)
    return [headers_rule, redirect_rule, rewrite_rule]


FILTER_CHECKS = {
    "routing": "route filters rule 0: POST api.example.com/headers?v=1 [x-env: prod] -> backend (http)",
    "set": "route filters rule 0: X-Set: s reaches the backend (set over the client's value)",
    "remove": "route filters rule 0: X-Secret sent by the client does not reach the backend",
    "response set": "route filters rule 0: response header X-Resp-Set: r is set",
    "response add": "route filters rule 0: response header X-Resp-Add: a is added",
    "response remove": "route filters rule 0: response header X-Resp-Remove is removed",
    "redirect": "route filters rule 1: GET api.example.com/old/gatestack-verify -> 301 https://new.example.com/new/gatestack-verify (http)",
    "rewrite": "route filters rule 2: GET api.example.com/rewrite is rewritten to internal.example.com/inner",
}


def run_filters(table: list[FakeRule]) -> list[CheckResult]:
    with FakeGateway(table) as http_fake:
        return verify(filter_config(), {"http": http_fake.target}, {}, sample_size=10)


def test_filters_redirect_and_rewrite_pass_on_a_correct_fake() -> None:
    results = run_filters(filter_table())
    names = by_name(results)
    for check in FILTER_CHECKS.values():
        assert names[check].status == "PASS", format_table(results)
    assert failed_names(results) == set(), format_table(results)
    assert "api.example.com/headerster gets 404" in names
    assert "api.example.com/oldter gets 404" in names


@pytest.mark.parametrize(
    "changes,failing",
    [
        ({"/headers": {"request_set": {}}}, "set"),
        ({"/headers": {"request_remove": []}}, "remove"),
        ({"/headers": {"response_set": {"x-resp-set": "wrong"}}}, "response set"),
        ({"/headers": {"response_add": {}}}, "response add"),
        ({"/headers": {"response_remove": []}}, "response remove"),
        ({"/old": {"redirect": (302, "https://new.example.com/new/gatestack-verify")}}, "redirect"),
        ({"/old": {"redirect": (301, "http://new.example.com/new/gatestack-verify")}}, "redirect"),
        ({"/old": {"redirect": (301, "https://new.example.com/old/gatestack-verify")}}, "redirect"),
        ({"/rewrite": {"rewrite_path": None}}, "rewrite"),
        ({"/headers": {"backends": ["backend-2"]}}, "routing"),
    ],
)
def test_each_filter_check_fails_on_its_own_fault(changes: dict, failing: str) -> None:
    results = run_filters(filter_table(**changes))
    assert failed_names(results) == {FILTER_CHECKS[failing]}, format_table(results)
