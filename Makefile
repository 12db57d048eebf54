# Andre: `make up` runs the whole stack, `make test` runs the suite. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
# jscpd, the JavaScript copy/paste check of `make lint`: pinned by tools/jscpd/package-lock.json,
# installed under tools/jscpd/node_modules (never globally).
JSCPD_DIR := tools/jscpd
JSCPD := $(JSCPD_DIR)/node_modules/.bin/jscpd
JSCPD_STAMP := $(JSCPD_DIR)/node_modules/.installed-$(shell cat $(JSCPD_DIR)/package-lock.json | sha256sum | cut -c1-16)

# command:debian-package pairs
RUN_DEPS := redis-server:redis-server caddy:caddy
TEST_DEPS := $(RUN_DEPS) npm:npm chromium:chromium /usr/share/fonts/truetype/liberation:fonts-liberation sshd:openssh-server fail2ban-client:fail2ban ufw:ufw cloud-init:cloud-init

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

install-test: $(STAMP) ## everything `install` does plus what the tests and lint need (Chromium, ...)
	@bash scripts/system-deps.sh $(TEST_DEPS)
	@$(MAKE) --no-print-directory $(JSCPD_STAMP)

$(JSCPD_STAMP): $(JSCPD_DIR)/package.json $(JSCPD_DIR)/package-lock.json
	@bash scripts/system-deps.sh npm:npm
	npm ci --prefix $(JSCPD_DIR) --ignore-scripts --no-audit --no-fund --loglevel=error
	@rm -f $(JSCPD_DIR)/node_modules/.installed-*; touch $@

up: install ## run the whole stack on https://localhost:8443 (Ctrl-C stops it)
	exec $(PY) scripts/stack.py

test: install-test ## install what is missing and run the test suite
	$(PY) -m pytest

# Copy/paste check: Python and JavaScript (and the templates), tests excluded; see
# docs/decisions.md "Lint" for the tools and thresholds.
DUP_PY := shared services deploy scripts bench
DUP_JS := services/web/static/js services/web/templates

# Every check runs, so one run lists every finding; the target fails if any check failed.
LINTERS := "$(VENV)/bin/ruff check ." \
	"$(VENV)/bin/ruff format --check ." \
	"$(VENV)/bin/mypy" \
	"$(VENV)/bin/lint-imports --no-logo --no-cache" \
	"$(VENV)/bin/pylint --rcfile=pyproject.toml $(DUP_PY)" \
	"$(JSCPD) --no-colors --no-tips --exit-code 1 --format javascript,markup --min-lines 5 --min-tokens 50 $(DUP_JS)"

lint: $(STAMP) $(JSCPD_STAMP) ## ruff, mypy, import contracts (lint-imports), copy/paste check
	@failed=(); for c in $(LINTERS); do echo "== $$c"; $$c || failed+=("$$c"); done; \
	if [ $${#failed[@]} -gt 0 ]; then printf 'lint: failed: %s\n' "$${failed[@]}" >&2; exit 1; fi

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
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache $(JSCPD_DIR)/node_modules
