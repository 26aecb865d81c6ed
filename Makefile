# The two commands of the README's Quick start: `make demo` and `make test`.
# Each creates .venv and installs what it needs, so both work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check bench protos clean

$(STAMP): pyproject.toml clients/python/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e clients/python -e '.[dev]'
	touch $(STAMP)

## Run the main job on the embedded default: simulator + gateway + a real client drive.
demo: $(STAMP)
	$(BIN)/dh-gateway demo

## The fast inner loop: formatting, lint, types and the pure unit tests (no sockets).
check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -p no:cacheprovider -q tests/drive tests/test_drive_is_pure.py \
		tests/test_import_graph.py tests/upstream/test_websockets_internals.py

## Run every check and test (what CI runs).
test: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/python scripts/check.py

## Regenerate the committed protobuf code.
protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

## Benchmark the gateway against the direct path and the bare prototype (not part of the
## tests; about 25 min); QUICK=1 for < 1 min.
bench: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
