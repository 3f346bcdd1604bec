# Two entry points for a fresh machine: `make demo` and `make test`. Both install everything first
# (scripts/setup.sh is idempotent and returns in a second when nothing changed).
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy src/llmpilot

bench: setup
	$(PY) benchmarks/retrieval.py --json benchmarks/results/retrieval.json
	$(PY) benchmarks/ingest_throughput.py --json benchmarks/results/ingest_throughput.json

clean:
	rm -rf demo-project .llmpilot-bench .pytest_cache
