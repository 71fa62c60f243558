"""Differential checking of the program's config validation against the real validators.

`rendering` turns any stack config, valid or not, into the objects the program emits for it;
`oracle` asks kubectl-validate (schemas and CEL rules of the pinned CRDs) and Envoy Gateway's
`egctl x translate` (status conditions) about many configs at once; `inventory` lists every
constraint those validators put on the fields the program emits, and the program's check for each.
"""
