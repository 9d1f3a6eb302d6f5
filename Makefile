# One entry point for the quality gates. `make` alone lists the targets.
BIN ?= .venv/bin

.DEFAULT_GOAL := help
.PHONY: help lint test check bench

help:  ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

lint:  ## ruff (lint and format check), mypy --strict, import-linter contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test:  ## the whole pytest suite (unit, integration against a real MongoDB, packaging)
	$(BIN)/pytest

check: lint test  ## everything CI runs

bench:  ## benchmarks (not part of check); see docs/performance.md
	$(BIN)/pytest tests/benchmarks -o addopts="--import-mode=importlib" --benchmark-only --benchmark-columns=mean,median,ops,rounds
