# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ASL_VALIDATOR := .tools/node_modules/.bin/asl-validator
# checkov lives in a venv of its own: its pins clash with the project's.
CHECKOV_VERSION := 3.3.30
CHECKOV := .tools/checkov/bin/checkov
export SAM_CLI_TELEMETRY := 0
# Independent steps run side by side: the three tool installs (project venv, checkov venv, npm), then
# lint and sam build. pytest (the last step of `make test`) waits for both.
MAKEFLAGS += --jobs=3
ifneq ($(filter clean,$(MAKECMDGOALS)),)
.NOTPARALLEL:  # `make clean test`: clean must finish before anything is built
endif
# pytest workers (pytest-xdist): the suite mostly waits (workflow loops, servers), so more than the cores.
PYTEST_WORKERS ?= 4

.PHONY: help install demo local-stack test lint checkov format build unit bench lock docs figures clean

help:
	@echo "make demo   - run sample music tasks through the whole pipeline locally (moto + vendor emulator)"
	@echo "make local-stack - serve the stack locally for sam local and your app (Ctrl-C stops it)"
	@echo "make test   - lint (ruff, mypy, cfn-lint, ASL, checkov), sam build, and the whole test suite"
	@echo "make build  - sam build for python3.13/arm64 into .aws-sam/build (no Docker; downloads the layer's wheels)"
	@echo "make unit   - the unit tests (rules on in-memory fakes, no moto, no sockets): seconds"
	@echo "make bench  - performance figures (one table; JSON in bench/results/)"
	@echo "make format - apply ruff's formatter and fixes"
	@echo "make checkov - security scan of template.yaml and of the template as CloudFormation gets it"
	@echo "make lock   - re-resolve each layer's requirements.lock (layers/*/: pins + hashes) from its requirements.txt"
	@echo "make docs   - regenerate docs/configuration.md's parameter table and docs/design.md's diagrams (template, ASL)"
	@echo "make figures - docs/performance.md's tables and plots from the newest make bench run (installs matplotlib)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,build]'
	@touch $(STAMP)

install: $(STAMP)

$(ASL_VALIDATOR):
	@mkdir -p .tools
	cd .tools && npm install --no-audit --no-fund --silent --no-save asl-validator@4.0.0

demo: $(STAMP)
	$(BIN)/covers demo

# moto's server, the vendor emulator and a local HTTP API, plus .aws-sam/local-env.json for sam local.
local-stack: $(STAMP)
	$(BIN)/covers local-stack

$(CHECKOV):
	@mkdir -p .tools
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)

# Offline (BC_SKIP_MAPPING, --skip-download). Three scans: the SAM file itself, and the template as
# CloudFormation gets it (IAM roles, API stage, versions only exist after the SAM transform), with the
# default parameters and with every conditional resource (checkov skips a resource whose condition the
# defaults make false: the archive bucket, the CloudFront distribution, the upstream rule).
# Every finding is fixed or skipped on its resource (Metadata: checkov: skip) with a reason.
ALL_RESOURCES := ArchiveImages=true ArchiveDelivery=true UpstreamEventBusName=music-events
checkov: $(STAMP) $(CHECKOV)
	@mkdir -p .aws-sam/checkov
	$(BIN)/python -m covers_local.stack > .aws-sam/checkov/template.json
	$(BIN)/python -m covers_local.stack $(ALL_RESOURCES) > .aws-sam/checkov/all-resources.json
	BC_SKIP_MAPPING=TRUE $(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml
	BC_SKIP_MAPPING=TRUE $(CHECKOV) --quiet --compact --skip-download --framework cloudformation \
		-f .aws-sam/checkov/template.json
	BC_SKIP_MAPPING=TRUE $(CHECKOV) --quiet --compact --skip-download --framework cloudformation \
		-f .aws-sam/checkov/all-resources.json

lint: $(STAMP) $(ASL_VALIDATOR) checkov
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/shared/covers_core covers_local covers_ops tests bench docs/generate.py
	@for fn in functions/*/app.py; do $(BIN)/mypy $$fn || exit 1; done
	$(BIN)/cfn-lint template.yaml
	$(ASL_VALIDATOR) --json-path statemachine/cover_workflow.asl.json
	$(ASL_VALIDATOR) --json-path statemachine/backfill.asl.json

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

build: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam build --build-dir .aws-sam/build

# pytest exits 5 when it collected no test: that must fail too, and it does (any non-zero exit).
test: lint build
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

# Rules on in-memory fakes: no moto, no sockets; seconds, not minutes (tests/unit).
unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# Deliberate dependency updates only: change a pin in a layer's requirements.txt (layers/shared/ or
# layers/imaging/; and pyproject.toml), run this, review the diff of its requirements.lock, commit both.
lock: $(STAMP)
	$(BIN)/python layers/lock.py

# (after `make build`: the cold start section imports the built layer). bench.storage is a calculation from
# bench/prices.py: docs/figures/storage.json and its table in docs/performance.md ("Storage").
bench: $(STAMP) build
	$(BIN)/python -m bench
	$(BIN)/python -m bench.storage

# The parameter reference (docs/configuration.md) and the diagrams of docs/design.md, from template.yaml and the
# ASL; tests/infra/test_docs.py and test_diagrams.py fail when they are stale.
docs: $(STAMP)
	$(BIN)/python docs/generate.py

# docs/performance.md's figures (tables and plots) from the newest `make bench` run (docs/figures/bench.json is
# their source; without a run, redrawn from it). matplotlib (the `plots` extra) is installed here, on demand only.
figures: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[plots]'
	$(BIN)/python -m bench.figures

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache .hypothesis .covers-local.log
