# Andre: `make up` runs the whole stack, `make test` runs the suite. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)

# command:debian-package pairs
RUN_DEPS := redis-server:redis-server caddy:caddy
TEST_DEPS := $(RUN_DEPS) chromium:chromium /usr/share/fonts/truetype/liberation:fonts-liberation sshd:openssh-server fail2ban-client:fail2ban ufw:ufw cloud-init:cloud-init

BENCH_DEPS := wrk:wrk
# make deploy-test: an engine of its own (Debian's docker.io; its service is never started), the
# base images from debootstrap, the firewall snapshot it restores afterwards.
DEPLOY_TEST_DEPS := dockerd:docker.io debootstrap:debootstrap iptables-save:iptables

.PHONY: help install install-test up test lint check bench verify deploy-test repin lock clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	bash scripts/venv.sh $(VENV)
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP) ## create the venv from the lock file and install system packages for running
	@bash scripts/system-deps.sh $(RUN_DEPS)

install-test: $(STAMP) ## everything `install` does plus what the tests need (Chromium, ...)
	@bash scripts/system-deps.sh $(TEST_DEPS)

up: install ## run the whole stack on https://localhost:8443 (Ctrl-C stops it)
	exec $(PY) scripts/stack.py

test: install-test ## install what is missing and run the test suite
	$(PY) -m pytest

lint: $(STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

check: lint test ## lint and test

bench: install-test ## run the benchmarks in bench/ and print their figures
	@bash scripts/system-deps.sh $(BENCH_DEPS)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

verify: $(STAMP) ## check a live deployment's hardening (ANDRE_VERIFY_* settings)
	$(PY) -m deploy.verify

deploy-test: $(STAMP) ## build and run deploy/ on a private dockerd, make verify, mutants; leaves nothing (root)
	@bash scripts/system-deps.sh $(DEPLOY_TEST_DEPS)
	$(PY) -m deploy.deploy_test

repin: ## re-pin the base images of deploy/ to the digests their tags serve now (needs Docker)
	$(PY) -m deploy.repin

lock: ## re-resolve requirements*.lock from pyproject.toml (needs network to PyPI)
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements-runtime.lock

clean: ## remove the venv and local state (keeps nothing)
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
