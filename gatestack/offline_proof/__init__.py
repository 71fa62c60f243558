"""The offline proof (`gatestack conformance`, `gatestack local`): the stack's objects with real
certificates, checked by the upstream validators, translated by Envoy Gateway's egctl and
served by a real Envoy on 127.0.0.1, then `verify`."""
