# The two commands of the README: `make demo` (build the whole deployment on the local target)
# and `make test` (linters, unit and integration tests, Molecule). Both work on a fresh Debian 12
# machine as root with only python3 and make, and on a laptop with Docker and Python 3.11+.
# `make help` lists every target.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# deps (apt) and venv (may apt-get python3-venv) must never run at the same time.
.NOTPARALLEL:

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.requirements-installed
PYTEST_ARGS ?=

# Every recipe finds the venv's ansible-playbook, molecule, ruff, ... first.
export PATH := $(BIN):$(PATH)
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

.PHONY: help venv deps test-deps up stop demo outputs teardown lint test test-faults test-gpu bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

venv: $(STAMP) ## .venv with the pinned Python packages (reruns only when the requirements change)

$(STAMP): requirements.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (ansible-core 2.19); set PYTHON=python3.11 or newer")'
	@if ! $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "python3 has no venv/ensurepip: installing python3-venv"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	  else \
	    echo "python3 cannot make a virtualenv: install python3-venv (Debian/Ubuntu) and rerun" >&2; exit 1; \
	  fi; \
	fi
	@if [ ! -x $(VENV)/bin/pip ]; then rm -rf $(VENV); $(PYTHON) -m venv $(VENV); fi
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements.txt -c constraints.txt
	@touch $@

deps: ## System packages of the local target (docker.io, docker-registry, openssh-server, debootstrap)
	bash scripts/install-system-deps.sh

test-deps: ## deps, and what the tests need besides (chromium, chromium-driver)
	bash scripts/install-system-deps.sh --tests

up: venv ## Start the local target's services (moto, dockerd, registry, sshd, base image)
	ansible-playbook playbooks/local_stack.yml

stop: venv ## Stop the local target's services
	ansible-playbook playbooks/local_stack.yml -e local_stack_state=absent

demo: deps venv ## Build the whole deployment on the local target (site.yml starts the services)
	ansible-playbook site.yml

outputs: venv ## Print the deployment's outputs again, read from the live deployment (changes nothing)
	ansible-playbook playbooks/outputs.yml

teardown: venv ## Remove everything site.yml made
	ansible-playbook teardown.yml

lint: venv ## ruff and ansible-lint (production profile, offline)
	ruff check .
	ansible-lint

# pytest runs last so that its summary line is the last line of the output; its exit code is
# the target's (non-zero when anything failed).
test: test-deps venv lint ## Linters, then unit and integration tests (including Molecule)
	pytest $(PYTEST_ARGS) tests --ignore=tests/gpu

test-faults: test-deps venv ## The whole interruption matrix: every point, SIGINT and a failing task, both chains (about an hour and a half)
	ECS_DL_FAULT_MATRIX=full pytest $(PYTEST_ARGS) tests/integration/test_interruptions.py

# The GPU image (MXNET_PACKAGE=mxnet-cu112==1.9.1 with NVIDIA's CUDA 11 wheels): built once and
# checked without a GPU (tests/gpu: ldd finds every library, `import mxnet` works, the stand-in
# libcuda.so.1 never shadows a driver). A few GB to download and store: not part of `make test`.
# Needs a Docker engine (`make up` starts one) and the local target's base image or
# debian:bookworm-slim; the build host's extra CA certificates go into a copy of the context.
GPU_IMAGE ?= ecsdl/mxnet:gpu-test
GPU_MXNET_PACKAGE ?= mxnet-cu112==1.9.1
GPU_BASE_IMAGE ?=
EXTRA_CA_DIR ?= /usr/local/share/ca-certificates

test-gpu: venv ## Build the GPU image (mxnet-cu112 + CUDA 11 wheels, a few GB) and check it without a GPU
	@mkdir -p .cache
	@docker info >/dev/null 2>&1 || { echo "no Docker engine answers: start one (make up)" >&2; exit 1; }
	@base="$(GPU_BASE_IMAGE)"; \
	if [ -z "$$base" ]; then \
	  for candidate in ecs-dl/debian:bookworm-minbase debian:bookworm-slim; do \
	    if docker image inspect "$$candidate" >/dev/null 2>&1; then base=$$candidate; break; fi; \
	  done; \
	fi; \
	[ -n "$$base" ] || { echo "no base image: make up builds ecs-dl/debian:bookworm-minbase (or set GPU_BASE_IMAGE)" >&2; exit 1; }; \
	context=$$(mktemp -d); trap 'rm -rf "$$context"' EXIT; \
	tar -C docker --exclude='./certs/*.crt' --exclude=__pycache__ --exclude=.pytest_cache -cf - . | tar -C "$$context" -xf -; \
	if compgen -G "$(EXTRA_CA_DIR)/*.crt" >/dev/null; then cp $(EXTRA_CA_DIR)/*.crt "$$context/certs/"; fi; \
	echo "building $(GPU_IMAGE) (MXNET_PACKAGE=$(GPU_MXNET_PACKAGE), BASE_IMAGE=$$base)"; \
	start=$$(date +%s); \
	DOCKER_BUILDKIT=0 docker build --force-rm --target runtime --build-arg BASE_IMAGE="$$base" --build-arg MXNET_PACKAGE="$(GPU_MXNET_PACKAGE)" \
	  -t $(GPU_IMAGE) "$$context" > .cache/test-gpu-build.log 2>&1 || { tail -40 .cache/test-gpu-build.log >&2; exit 1; }; \
	echo "built in $$(( $$(date +%s) - start )) s, $$(docker image inspect -f '{{.Size}}' $(GPU_IMAGE) | awk '{printf "%.2f GB", $$1 / 1e9}') (log: .cache/test-gpu-build.log)"; \
	echo "the package's tests in the GPU image (its test stage)"; \
	DOCKER_BUILDKIT=0 docker build --force-rm --target test --build-arg BASE_IMAGE="$$base" --build-arg MXNET_PACKAGE="$(GPU_MXNET_PACKAGE)" \
	  -t $(GPU_IMAGE)-stage "$$context" > .cache/test-gpu-stage.log 2>&1 || { tail -40 .cache/test-gpu-stage.log >&2; exit 1; }; \
	grep -E '[0-9]+ passed' .cache/test-gpu-stage.log || true
	ECSDL_GPU_IMAGE=$(GPU_IMAGE) pytest $(PYTEST_ARGS) tests/gpu

bench: venv ## Benchmarks: infrastructure (create, rerun, teardown), image build and push, image size and classify speed, import-tflite against the TFLite runtime, distributed training, uploads and batches
	python benchmarks/infra.py
	python benchmarks/image_build.py
	python benchmarks/image.py
	python benchmarks/importer.py
	python benchmarks/tasks.py
	python benchmarks/distributed.py
	python benchmarks/classify.py
