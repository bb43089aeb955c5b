# `make check` is the one command that runs lint and the whole default test suite.
.PHONY: check lint test bench
check: lint test
lint:
	ruff check .
	ruff format --check opscopilot tests benchmarks
test:
	pytest
bench:
	python -m pip install -e ".[dev,bench]"
	python benchmarks/run_all.py
