# The two commands: `make demo` and `make test`. Both install what is missing first.
VENV := .venv
STRATA := $(VENV)/bin/strata

.PHONY: setup demo test unit bench clean

setup:
	@./scripts/setup.sh

demo: setup
	$(STRATA) demo

test: setup
	$(VENV)/bin/pytest -q

unit: setup
	$(VENV)/bin/pytest -q tests/unit

bench: setup
	$(VENV)/bin/python bench/placement.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
