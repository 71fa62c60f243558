"""Differential checking of the program's config validation against the real validators.

`rendering` (with `policy_rendering` for Envoy Gateway's policies) turns any stack config, valid or
not, into the objects the program emits for it; `oracle` asks kubectl-validate (schemas and CEL
rules of the pinned CRDs), Envoy Gateway's `egctl x translate` (status conditions) and the API
server's one-object-per-name rule about many configs at once; `compare` sets the program's verdict
beside theirs, excusing only the program's documented own rules (`program_rules`); `inventory`
lists every constraint those validators put on the fields the program emits (every policy field
through `field_catalogue`), and the program's check for each.
"""
