"""Tests of `gatestack.verify`: its checks against small in-process fake gateways
(`tests/fake_gateway.py`); the filter checks are in `test_verify_filters.py`."""

from __future__ import annotations

import re
import socket
from fractions import Fraction
from math import comb
from typing import Any, Iterator, Optional

import pytest

from gateway_config.loader import parse_stack_config, raw_config_from_stack_file
from gateway_config.models import StackConfig
from gatestack.verify import (
    FALSE_FAILURE_BOUND,
    CheckResult,
    Target,
    backend_of_pod,
    binomial_interval,
    binomial_outside_probability,
    canonical_header_name,
    format_table,
    split_intervals,
    verify,
)
from tests.fake_gateway import (
    ADDED_HEADER,
    CERTIFICATE,
    FakeGateway,
    FakeRule,
    GETTER,
    LOOPBACK,
    NO_SUCH_PATH,
    REPO,
    ROUTE_HTTP,
    ROUTE_HTTPS,
    SEED_RULE,
    SEED_TABLE,
    SPLIT,
    UNKNOWN_HOST,
    by_name,
    failed_names,
    make_ca,
    seed_config,
    stack,
    write_server_files,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("pki")
    ca = make_ca("example.com")
    other_ca = make_ca("example.com")  # same name, different key: only the signature tells them apart
    return {
        "ca": ca,
        "good": write_server_files(base / "good", ca, "www.example.com"),
        "wrong-host": write_server_files(base / "wrong-host", ca, "other.example.com"),
        "other-ca": write_server_files(base / "other-ca", other_ca, "www.example.com"),
    }


@pytest.fixture
def run_seed(pki: dict[str, Any]) -> Iterator[Any]:
    """Run verify(seed) against an HTTP and an HTTPS fake built from keyword arguments."""

    def run(
        table: Optional[list[FakeRule]] = None,
        tls: str = "good",
        config: Optional[StackConfig] = None,
        sample_size: int = 200,
        **fake_options: Any,
    ) -> list[CheckResult]:
        with FakeGateway(table or SEED_TABLE(), **fake_options) as http_fake, FakeGateway(
            table or SEED_TABLE(), tls_files=pki[tls], **fake_options
        ) as https_fake:
            return verify(
                config or seed_config(),
                {"http": http_fake.target, "https": https_fake.target},
                {"example-cert": pki["ca"].ca_pem},
                sample_size=sample_size,
            )

    yield run


# --- the binomial acceptance interval -------------------------------------------------------


def exact_outside(n: int, p: Fraction, lo: int, hi: int) -> Fraction:
    return sum((comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1) if k < lo or k > hi), Fraction(0))


def test_binomial_interval_for_8_to_2_over_200() -> None:
    alpha = FALSE_FAILURE_BOUND / 2  # two uncertain backends share the 1e-6
    lo, hi = binomial_interval(200, Fraction(8, 10), alpha)
    assert lo <= 160 <= hi
    assert not lo <= 100 <= hi  # a 50/50 split is caught
    assert (lo, hi) == (130, 186)  # the numbers the module docstring states
    outside = exact_outside(200, Fraction(8, 10), lo, hi)
    assert outside == binomial_outside_probability(200, Fraction(8, 10), lo, hi)
    assert outside <= alpha <= Fraction(1, 10**6)
    # Shortest: dropping either end pushes the false-failure probability over the bound.
    assert exact_outside(200, Fraction(8, 10), lo + 1, hi) > alpha
    assert exact_outside(200, Fraction(8, 10), lo, hi - 1) > alpha


def test_split_intervals_union_bound_and_edge_weights() -> None:
    assert split_intervals(200, [8, 2]) == [(130, 186), (14, 70)]
    intervals = split_intervals(200, [1, 1, 2])
    total_outside = sum(
        exact_outside(200, Fraction(w, 4), lo, hi) for w, (lo, hi) in zip([1, 1, 2], intervals)
    )
    assert total_outside <= FALSE_FAILURE_BOUND
    # weight 0 must get nothing; a lone positive weight gets everything
    assert split_intervals(50, [3, 0]) == [(50, 50), (0, 0)]
    assert binomial_interval(10, Fraction(0), Fraction(1, 100)) == (0, 0)
    assert binomial_interval(10, Fraction(1), Fraction(1, 100)) == (10, 10)
    with pytest.raises(ValueError):
        split_intervals(10, [0, 0])


@pytest.mark.parametrize("n,p", [(20, Fraction(8, 10)), (200, Fraction(1, 2)), (333, Fraction(1, 7)), (1000, Fraction(3, 4))])
def test_binomial_interval_bound_holds(n: int, p: Fraction) -> None:
    alpha = Fraction(1, 10**6)
    lo, hi = binomial_interval(n, p, alpha)
    assert 0 <= lo <= n * p <= hi <= n
    assert exact_outside(n, p, lo, hi) <= alpha


def test_names_of_pods_and_headers() -> None:
    assert backend_of_pod("backend-7c9d8f6b5d-x7k2p") == "backend"
    assert backend_of_pod("backend-2-7c9d8f6b5d-x7k2p") == "backend-2"
    assert backend_of_pod("backend") is None
    assert canonical_header_name("added-header") == "Added-Header"
    assert canonical_header_name("x-forwarded-proto") == "X-Forwarded-Proto"


# --- verify against fakes -------------------------------------------------------------------


def test_correct_fake_passes_every_seed_check(run_seed: Any) -> None:
    results = run_seed()
    table = format_table(results)
    assert all(result.status == "PASS" for result in results), table
    names = by_name(results)
    for expected in (ROUTE_HTTP, ROUTE_HTTPS, ADDED_HEADER, SPLIT, CERTIFICATE, UNKNOWN_HOST, GETTER, NO_SUCH_PATH):
        assert expected in names, table
    assert names[SPLIT].detail == "backend 160, backend-2 40 (accepted 130..186 / 14..70)"
    assert "X-Forwarded-Proto https" in names[ROUTE_HTTPS].detail
    assert "TLS verified" in names[ROUTE_HTTPS].detail
    assert table.splitlines()[-1] == f"{len(results)} passed, 0 failed"


def test_wrong_split_fails_the_split_check(run_seed: Any) -> None:
    table = [FakeRule("www.example.com", "/get", backends=["backend", "backend-2"], request_add={"added-header": "foo"})]
    results = run_seed(table)
    assert failed_names(results) == {SPLIT}
    assert by_name(results)[SPLIT].detail.startswith("backend 100, backend-2 100 (accepted 130..186 / 14..70)")


def test_weight_zero_backend_must_get_nothing(run_seed: Any) -> None:
    rule = {**SEED_RULE, "backendRefs": [{"name": "backend", "weight": 1}, {"name": "backend-2", "weight": 0}]}
    config = stack([{"name": "backend", "hostnames": ["www.example.com"], "rules": [rule]}])
    split = "route backend rule 0: split backend 1 : backend-2 0 over 50 requests"
    one_stray = ["backend"] * 49 + ["backend-2"]
    results = run_seed(
        [FakeRule("www.example.com", "/get", backends=one_stray, request_add={"added-header": "foo"})],
        config=config,
        sample_size=50,
    )
    assert failed_names(results) == {split}
    assert by_name(results)[split].detail == "backend 49, backend-2 1 (accepted 50..50 / 0..0)"
    # and the routing check no longer accepts backend-2
    assert "route backend rule 0: GET www.example.com/get -> backend (http)" in by_name(results)


def test_missing_added_header_fails_that_check(run_seed: Any) -> None:
    table = [FakeRule("www.example.com", "/get", backends=["backend"] * 8 + ["backend-2"] * 2)]
    results = run_seed(table)
    assert failed_names(results) == {ADDED_HEADER}
    assert by_name(results)[ADDED_HEADER].detail == "Added-Header absent from the echo headers"


def test_certificate_for_the_wrong_hostname_fails_the_certificate_check(run_seed: Any) -> None:
    results = run_seed(tls="wrong-host")
    assert failed_names(results) == {CERTIFICATE}
    detail = by_name(results)[CERTIFICATE].detail.lower()
    assert "hostname mismatch" in detail or "not valid for" in detail, detail
    # routing over TLS is still checked, on an unverified connection, and says so
    assert "TLS not verified" in by_name(results)[ROUTE_HTTPS].detail


def test_certificate_from_another_ca_fails_the_certificate_check(run_seed: Any) -> None:
    results = run_seed(tls="other-ca")
    assert failed_names(results) == {CERTIFICATE}
    assert "verification failed" in by_name(results)[CERTIFICATE].detail


def test_unknown_host_answered_with_200_fails(run_seed: Any) -> None:
    results = run_seed(unknown_host_status=200)
    assert failed_names(results) == {UNKNOWN_HOST}
    assert "-> 200 from pod backend-" in by_name(results)[UNKNOWN_HOST].detail


def test_prefix_that_is_not_segment_aware_fails_getter(run_seed: Any) -> None:
    results = run_seed(segment_aware=False)
    assert failed_names(results) == {GETTER}


def test_without_ca_the_certificate_is_not_checked_and_not_passed(pki: dict[str, Any]) -> None:
    with FakeGateway(SEED_TABLE()) as http_fake, FakeGateway(SEED_TABLE(), tls_files=pki["good"]) as https_fake:
        results = verify(seed_config(), {"http": http_fake.target, "https": https_fake.target}, None, sample_size=20)
    certificate = by_name(results)[CERTIFICATE]
    assert certificate.status == "SKIP" and not certificate.passed
    assert certificate.detail == "not checked: no CA PEM given for secret example-cert"
    table = format_table(results)
    assert table.splitlines()[-2] == "1 not checked"
    assert table.splitlines()[-1] == f"{len(results) - 1} passed, 0 failed"


def test_unreachable_gateway_fails_without_traceback() -> None:
    closed = socket.socket()
    closed.bind((LOOPBACK, 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens here now
    results = verify(seed_config(), {"http": Target(LOOPBACK, port), "https": Target(LOOPBACK, port)}, {}, sample_size=5)
    assert results and all(result.status in ("FAIL", "SKIP") for result in results)
    assert f"{LOOPBACK}:{port}" in by_name(results)[ROUTE_HTTP].detail
    assert "Refused" in by_name(results)[ROUTE_HTTP].detail
    assert by_name(results)[SPLIT.replace("200", "5")].detail.startswith("request 1 of 5 failed")


def test_silent_gateway_times_out_as_a_failure() -> None:
    silent = socket.socket()
    silent.bind((LOOPBACK, 0))
    silent.listen(16)  # accepts connections (backlog) but never answers
    try:
        config = stack([{"name": "backend", "hostnames": ["www.example.com"], "rules": [{"backendRefs": [{"name": "backend"}]}]}])
        target = Target(LOOPBACK, silent.getsockname()[1])
        results = verify(config, {"http": target}, {}, sample_size=1, timeout=0.3)
    finally:
        silent.close()
    routing = by_name(results)["route backend rule 0: GET www.example.com/ -> backend (http)"]
    assert routing.status == "FAIL" and "timed out" in routing.detail
    assert by_name(results)["listener https"].status == "SKIP"


def test_regex_path_is_reported_not_checked(run_seed: Any) -> None:
    regex_rule = {"matches": [{"path": {"type": "RegularExpression", "value": "/api/v[0-9]+"}}], "backendRefs": [{"name": "backend"}]}
    config = stack([{"name": "backend", "hostnames": ["www.example.com"], "rules": [SEED_RULE, regex_rule]}])
    results = run_seed(config=config)
    regex = by_name(results)["route backend rule 1: RegularExpression path /api/v[0-9]+ -> backend"]
    assert regex.status == "SKIP" and not regex.passed
    assert regex.detail == "not checked: regular-expression path"
    # /no-such-path cannot match /api/v[0-9]+, so it is still checked; everything else passes
    assert by_name(results)[NO_SUCH_PATH].status == "PASS"
    assert failed_names(results) == set()


def test_catch_all_prefix_suppresses_the_unmatched_path_checks(run_seed: Any) -> None:
    catch_all = {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [{"name": "backend"}]}
    config = stack([{"name": "backend", "hostnames": ["www.example.com"], "rules": [SEED_RULE, catch_all]}])
    table = SEED_TABLE() + [FakeRule("www.example.com", "/")]
    results = run_seed(table, config=config)
    names = by_name(results)
    assert GETTER not in names and NO_SUCH_PATH not in names
    # "/" itself is taken by rule 1; rule 0's /get keeps precedence (longer prefix)
    assert names["route backend rule 1: GET www.example.com/ -> backend (http)"].status == "PASS"
    assert failed_names(results) == set()


def test_format_table_aligns_and_counts() -> None:
    results = [
        CheckResult("a short check", True, "fine"),
        CheckResult("a much longer check name", False, "broken"),
        CheckResult("skipped one", False, "not checked: because", skipped=True),
    ]
    lines = format_table(results).splitlines()
    assert lines[0].split("|")[0].strip() == "check"
    assert len({line.index("|") for line in lines[:-2] if "|" in line}) == 1
    assert [line.split("|")[1].strip() for line in lines[2:5]] == ["PASS", "FAIL", "SKIP"]
    assert lines[-2] == "1 not checked"
    assert re.fullmatch(r"\d+ passed, \d+ failed", lines[-1]) and lines[-1] == "1 passed, 1 failed"


def test_the_dev_stack_file_yields_the_seed_checks(run_seed: Any) -> None:
    path = REPO / "stacks" / "Pulumi.dev.yaml"
    config = parse_stack_config(raw_config_from_stack_file(path), "stacks/Pulumi.dev.yaml")
    results = run_seed(config=config)
    assert {ROUTE_HTTP, ROUTE_HTTPS, ADDED_HEADER, SPLIT, CERTIFICATE, UNKNOWN_HOST, GETTER} <= set(by_name(results))
    assert failed_names(results) == set(), format_table(results)


def test_a_match_shadowed_by_a_more_specific_rule_is_probed_below_it(run_seed: Any) -> None:
    rules = [
        {"matches": [{"path": {"type": "Exact", "value": "/get"}}], "backendRefs": [{"name": "backend-2"}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/get"}}], "backendRefs": [{"name": "backend"}]},
    ]
    config = stack([{"name": "shadow", "hostnames": ["www.example.com"], "parentRefs": [{"name": "eg", "sectionName": "http"}], "rules": rules}])
    table = [FakeRule("www.example.com", "/get", kind="Exact", backends=["backend-2"]), FakeRule("www.example.com", "/get")]
    results = run_seed(table, config=config)
    names = by_name(results)
    assert names["route shadow rule 0: GET www.example.com/get -> backend-2 (http)"].status == "PASS"
    assert names["route shadow rule 1: GET www.example.com/get/gatestack-verify -> backend (http)"].status == "PASS"
    assert failed_names(results) == set(), format_table(results)
    # a fake that ignores the Exact rule sends /get to backend: rule 0's check fails
    results = run_seed([FakeRule("www.example.com", "/get")], config=config)
    assert failed_names(results) == {"route shadow rule 0: GET www.example.com/get -> backend-2 (http)"}


def test_equal_precedence_across_routes_is_not_guessed(run_seed: Any) -> None:
    rule = {"matches": [{"path": {"type": "PathPrefix", "value": "/get"}}], "backendRefs": [{"name": "backend"}]}
    other = {"matches": [{"path": {"type": "PathPrefix", "value": "/get"}}], "backendRefs": [{"name": "backend-2"}]}
    config = stack(
        [
            {"name": "first", "hostnames": ["www.example.com"], "rules": [rule]},
            {"name": "second", "hostnames": ["www.example.com"], "rules": [other]},
        ]
    )
    results = run_seed([FakeRule("www.example.com", "/get")], config=config)
    skipped = {r.name: r.detail for r in results if r.status == "SKIP"}
    assert "route second rule 0: GET www.example.com/get -> backend-2 (http)" in skipped
    assert "equal precedence" in skipped["route second rule 0: GET www.example.com/get -> backend-2 (http)"]
    assert failed_names(results) == set(), format_table(results)


def test_wildcard_and_https_only_routes(run_seed: Any, pki: dict[str, Any]) -> None:
    config = stack(
        [
            {"name": "backend", "hostnames": ["www.example.com"], "rules": [SEED_RULE]},
            {
                "name": "secure",
                "hostnames": ["*.example.com"],
                "parentRefs": [{"name": "eg", "sectionName": "https"}],
                "rules": [{"matches": [{"path": {"type": "Exact", "value": "/secure"}}], "backendRefs": [{"name": "backend-2"}]}],
            },
        ]
    )
    table = SEED_TABLE() + [FakeRule("gatestack-verify.example.com", "/secure", kind="Exact", backends=["backend-2"])]
    results = run_seed(table, config=config)
    names = by_name(results)
    # the wildcard is asked for as gatestack-verify.example.com, over TLS only (the route's only listener)
    secure = names["route secure rule 0: GET https://gatestack-verify.example.com/secure -> backend-2 (https)"]
    assert secure.status == "PASS"
    assert "route secure rule 0: GET gatestack-verify.example.com/secure -> backend-2 (http)" not in names
    # the certificate only covers www.example.com: the wildcard host's handshake fails, as a client's would
    wildcard_certificate = "listener https: certificate for gatestack-verify.example.com verifies against CA of example-cert"
    assert failed_names(results) == {wildcard_certificate}
