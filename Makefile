# The two set-up commands of the README:
#   make conformance   the main job: prove the dev stack (the seed) with the real data plane
#   make test          the test suite, including conformance of every stack
# Both install what they need: a virtualenv from the pinned requirements, then the pinned
# tools (egctl, kubectl-validate, actionlint) built with `go install` into .tools/.

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
STACK ?= dev

.PHONY: conformance test tools render clean

$(VENV)/installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --disable-pip-version-check --quiet --requirement requirements-dev.txt
	touch $@

tools: $(VENV)/installed
	$(VENV_PYTHON) -m gatestack tools

conformance: tools
	$(VENV_PYTHON) -m gatestack conformance --stack $(STACK)

render: $(VENV)/installed
	$(VENV_PYTHON) -m gatestack render --stack $(STACK)

test: tools
	$(VENV_PYTHON) -m pytest

clean:
	rm -rf $(VENV) .tools .pytest_cache
