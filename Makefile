# Two entry points for a fresh machine: `make demo` and `make test`. The demo installs the core only
# (~0.7 GB: no torch, no Ray); the tests install every extra plus the dev tools into the same .venv.
# scripts/setup.sh is idempotent and returns in a second when nothing changed.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-core demo adapt-demo loop-demo test test-fast lint bench install-size clean

setup:
	@bash scripts/setup.sh all

setup-core:
	@bash scripts/setup.sh core

demo: setup-core
	@bash scripts/demo.sh

# Advise, fine-tune (LoRA), export, serve through llama.cpp, compare the strategies: docs/FINETUNE.md.
adapt-demo: setup
	@bash scripts/adapt_demo.sh

# The monitoring loop against a running server: correction → review → eval set → re-optimize → shadow →
# promote (docs/MONITORING.md). Offline, no model.
loop-demo: setup-core
	@bash scripts/loop_demo.sh

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy src/llmpilot

bench: setup
	$(PY) benchmarks/retrieval.py --json benchmarks/results/retrieval.json
	$(PY) benchmarks/ingest_throughput.py --json benchmarks/results/ingest_throughput.json

# Fresh venvs under /tmp: the core's size and each extra's (README, "Install size and extras").
install-size:
	python3.11 benchmarks/install_size.py --json benchmarks/results/install_size.json

clean:
	rm -rf demo-project adapt-demo loop-demo .llmpilot-bench .pytest_cache
