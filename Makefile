# The two set-up commands of the README:
#   make up            the main job: deploy the dev stack (the seed) with the real Pulumi engine
#                      into the embedded local cluster and prove it; it keeps running until
#                      `make down`
#   make test          the test suite: unit tests, conformance of every stack, and every stack
#                      deployed for real into a local cluster of its own
# Both install what they need: a virtualenv from the pinned requirements, then the pinned
# tools built from the Go module proxy into .tools/ (egctl, kubectl-validate, actionlint;
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, envoy-gateway; the
# Pulumi CLI, its Python language host and the Kubernetes provider).

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
STACK ?= dev

.PHONY: up down preview destroy cluster conformance test differential tools render clean

# requirements.txt ends with the project itself, editable, so the program, the tests and
# `gatestack` import `pulumi_envoy_gateway` as a user's program does.
$(VENV)/installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --disable-pip-version-check --quiet --requirement requirements-dev.txt
	touch $@

tools: $(VENV)/installed
	$(VENV_PYTHON) -m gatestack tools

up: $(VENV)/installed
	$(VENV_PYTHON) -m gatestack up --stack $(STACK)

preview: $(VENV)/installed
	$(VENV_PYTHON) -m gatestack preview --stack $(STACK)

destroy: $(VENV)/installed
	$(VENV_PYTHON) -m gatestack destroy --stack $(STACK)

cluster: $(VENV)/installed
	$(VENV_PYTHON) -m gatestack cluster up

down: $(VENV)/installed
	$(VENV_PYTHON) -m gatestack cluster down

conformance: tools
	$(VENV_PYTHON) -m gatestack conformance --stack $(STACK)

render: $(VENV)/installed
	$(VENV_PYTHON) -m gatestack render --stack $(STACK)

test: tools
	$(VENV_PYTHON) -m gatestack tools --cluster --engine
	$(VENV_PYTHON) -m pytest

# The differential test on new configs (it runs on its fixed seed in `make test`): a random seed unless
# DIFFERENTIAL_SEED says which; DIFFERENTIAL_EXAMPLES for more than 500 configs.
differential: tools
	DIFFERENTIAL_SEED=$${DIFFERENTIAL_SEED:-random} $(VENV_PYTHON) -m pytest tests/differential/test_differential.py -s

clean:
	-$(VENV_PYTHON) -m gatestack cluster down
	rm -rf $(VENV) .tools .pytest_cache .local
