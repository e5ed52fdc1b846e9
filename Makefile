# The commands the README names. Everything runs from a project-local virtualenv and node_modules.
SHELL := /bin/bash
# Python 3.13: the Lambda runtime's (stacks/lambda_packaging.py). Tests run on the interpreter Lambda runs, so a
# datetime, typing or error-message difference shows up here first. Found on PATH, else in pyenv's versions.
PYTHON ?= $(or $(shell command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'import sys' >/dev/null 2>&1 && echo python3.13),$(lastword $(sort $(wildcard $(HOME)/.pyenv/versions/3.13.*/bin/python3.13) $(wildcard $(PYENV_ROOT)/versions/3.13.*/bin/python3.13))))
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# The layer both Lambda functions deploy with (stacks/lambda_packaging.py): the Powertools release and the AWS SDK
# (boto3, botocore) the tests import, pinned in constraints.txt, with their dependencies, installed for the Lambda's
# platform (Python 3.13, arm64; all pure Python, so no Docker). The runtime's own SDK differs by region and date and
# is usually older; the handler reads botocore's service model for its limits, so it runs on the SDK it was tested
# with. Byte code is compiled with unchecked hashes: Lambda's file system is read-only, so without .pyc files every
# cold start compiles the packages again, and hash-based .pyc keep the asset hash stable from build to build.
RUNTIME_LAYER := .build/runtime-layer
LAYER_PACKAGES := aws_lambda_powertools typing_extensions boto3 botocore s3transfer jmespath python-dateutil six urllib3

# Toolchain traps (docs/design.md, "Toolchain notes"): jsii's Node EOL banner, the CDK CLI writing to ~/.cdk,
# telemetry.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export CDK_HOME := $(CURDIR)/.cdk-home
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_DEFAULT_REGION ?= us-east-1
export PYTHONDONTWRITEBYTECODE := 1
CDK := node_modules/.bin/cdk

.PHONY: install test lint typecheck unit infra integration synth deploy destroy demo bench spill-bench diagram backfill e2e clean constraints

install: $(VENV)/.stamp-installed node_modules/.stamp-installed $(RUNTIME_LAYER)/.stamp-built

# Then the project itself, editable and without dependencies (the pinned ones above are all it needs): that puts
# the publisher's `publish` command in .venv/bin (pyproject.toml, [project.scripts]).
$(VENV)/.stamp-installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.13 is needed (the Lambda runtime's): install it (e.g. 'pyenv install 3.13' or your OS's python3.13 package) or pass PYTHON=/path/to/python3.13" >&2; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || { echo "$(PYTHON) is not Python 3.13 (the Lambda runtime's); pass PYTHON=/path/to/python3.13" >&2; exit 2; }
	@test ! -x $(PY) || $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || { echo "$(VENV) was made with another Python: rebuilding it on 3.13"; rm -rf $(VENV); }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(RUNTIME_LAYER)/.stamp-built: constraints.txt $(VENV)/.stamp-installed
	rm -rf $(RUNTIME_LAYER)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
		--target $(RUNTIME_LAYER)/python --platform manylinux2014_aarch64 --implementation cp \
		--python-version 3.13 --only-binary=:all: \
		$(foreach package,$(LAYER_PACKAGES),$(shell grep -i -m1 '^$(package)==' constraints.txt))
	rm -rf $(RUNTIME_LAYER)/python/bin
	$(PY) -m compileall -q --invalidation-mode unchecked-hash $(RUNTIME_LAYER)/python
	touch $@

node_modules/.stamp-installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

## test: lint, type-check and run every test suite (the README's test command)
test: lint typecheck
	$(BIN)/pytest -n 2 -m "not e2e"

unit: install
	$(BIN)/pytest tests/unit tests/handlers

infra: install
	$(BIN)/pytest tests/infra

integration: install
	$(BIN)/pytest -m integration

## synth: synthesize the CloudFormation template offline (no AWS credentials needed)
synth: install
	$(CDK) synth --quiet
	@echo "template: cdk.out/$$(ls cdk.out | grep -m1 '.template.json$$')"

## deploy, destroy: the CDK CLI with this Makefile's settings (CDK_HOME, telemetry off, Node banners off);
## ARGS carries -c overrides, e.g. make deploy ARGS="-c queueType=fifo -c alarmEmail=oncall@example.com"
deploy: install
	$(CDK) deploy $(ARGS)

destroy: install
	$(CDK) destroy $(ARGS)

## demo: the whole pipeline end to end on this machine (moto SQS + the Personalize emulator + the real handler)
demo: install
	$(PY) -m local.demo $(ARGS)

## backfill: load files of changes (or Personalize CSV) through import jobs, e.g. make backfill ARGS="--help"
backfill: install
	$(BIN)/backfill $(ARGS)

## spill-bench: a deep backlog drained by the spill workflow (import jobs) against the Put path's ceiling; minutes
spill-bench: install
	$(PY) -m local.spill_bench $(ARGS)

## diagram: redraw docs/architecture.svg from the synthesized stack (needs Graphviz's dot; a test checks it is current)
diagram: install
	$(PY) -m tools.architecture

## bench: every scenario (quota, latency, faults, CPU, bulk) against a one-record-per-call baseline and the limit
bench: install
	$(PY) -m local.benchmark $(ARGS)

e2e: install
	$(BIN)/pytest tests/e2e -m e2e

clean:
	rm -rf $(VENV) .build node_modules cdk.out .cdk-home .pytest_cache .mypy_cache .ruff_cache

constraints: install
	$(PY) -m pip freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)==' > constraints.txt
