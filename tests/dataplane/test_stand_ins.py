"""Specification of the local stand-ins for hosts outside this machine (a JWKS by URL) and of
the proof's JWT signing: a local run still never sends traffic off 127.0.0.0/8."""

from __future__ import annotations

import base64
import copy
import json
import ssl
import urllib.request

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gatestack.offline_proof.envoy_bootstrap import NonLoopbackAddressError, assert_loopback_only, redirect_to_stand_ins
from gatestack.stand_ins.outside_https_host import HttpsStandIn
from gatestack.verify.jwt_tokens import JwtSigner

JWKS_CLUSTER = {
    "name": "auth_example_com_443",
    "clusterType": {"name": "envoy.cluster.dns", "typedConfig": {"@type": "type.googleapis.com/envoy.extensions.clusters.dns.v3.DnsCluster"}},
    "loadAssignment": {"clusterName": "auth_example_com_443", "endpoints": [{"lbEndpoints": [
        {"endpoint": {"address": {"socketAddress": {"address": "auth.example.com", "portValue": 443}}}}]}]},
    "transportSocket": {"name": "envoy.transport_sockets.tls", "typedConfig": {
        "commonTlsContext": {"validationContext": {"trustedCa": {"filename": "/etc/ssl/certs/ca-certificates.crt"}}},
        "sni": "auth.example.com"}},
}


def bootstrap_with(cluster: dict) -> dict:
    return {"staticResources": {"clusters": [copy.deepcopy(cluster)], "listeners": []}}


def test_a_cluster_for_an_outside_host_is_refused_until_it_is_sent_to_a_local_stand_in() -> None:
    bootstrap = bootstrap_with(JWKS_CLUSTER)
    with pytest.raises(NonLoopbackAddressError, match="auth.example.com"):
        assert_loopback_only(bootstrap)
    redirect_to_stand_ins(bootstrap, {("auth.example.com", 443): ("127.0.200.1", 8443, "<stand-in CA>")})
    assert_loopback_only(bootstrap)
    cluster = bootstrap["staticResources"]["clusters"][0]
    assert cluster["type"] == "STATIC" and "clusterType" not in cluster
    socket_address = cluster["loadAssignment"]["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"]
    assert socket_address == {"address": "127.0.200.1", "portValue": 8443}
    tls = cluster["transportSocket"]["typedConfig"]
    assert tls["commonTlsContext"]["validationContext"] == {"trustedCa": {"inlineString": "<stand-in CA>"}}
    assert tls["sni"] == "auth.example.com"  # the stand-in answers as the real host


def test_other_outside_hosts_stay_refused() -> None:
    bootstrap = bootstrap_with(JWKS_CLUSTER)
    redirect_to_stand_ins(bootstrap, {("other.example.com", 443): ("127.0.200.1", 8443, "<CA>")})
    with pytest.raises(NonLoopbackAddressError):
        assert_loopback_only(bootstrap)


def test_the_stand_in_serves_its_documents_over_tls_as_the_real_host() -> None:
    stand_in = HttpsStandIn("auth.example.com", "127.0.200.9", {"/.well-known/jwks.json": '{"keys": []}'}).start()
    try:
        context = ssl.create_default_context(cadata=stand_in.ca_pem)
        request = urllib.request.Request(f"https://127.0.200.9:{stand_in.port}/.well-known/jwks.json")
        # The certificate names the real host: check it as a client of auth.example.com would.
        context.check_hostname = False
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            assert json.loads(response.read()) == {"keys": []}
    finally:
        stand_in.stop()
    with pytest.raises(ValueError, match="loopback"):
        HttpsStandIn("auth.example.com", "10.0.0.1", {}).start()


def test_a_proof_token_verifies_against_the_jwks_it_publishes() -> None:
    signer = JwtSigner.new("https://auth.example.com", ["api"])
    key = json.loads(signer.jwks())["keys"][0]
    number = lambda text: int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")  # noqa: E731
    public = rsa.RSAPublicNumbers(number(key["e"]), number(key["n"])).public_key()
    header, claims, signature = signer.token().split(".")
    public.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), f"{header}.{claims}".encode(),
                  padding.PKCS1v15(), hashes.SHA256())
    payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert (payload["iss"], payload["aud"]) == ("https://auth.example.com", "api") and payload["exp"] > payload["iat"]
    assert "exp" not in json.loads(base64.urlsafe_b64decode(signer.token(exp=None).split(".")[1] + "=="))
