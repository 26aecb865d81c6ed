# The two commands of the README's Quick start: `make demo` and `make test`.
# Each creates .venv and installs what it needs, so both work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check unit fuzz bench protos clean

$(STAMP): pyproject.toml setup.py scripts/build_backend.py clients/python/pyproject.toml \
		integrations/livekit/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e clients/python -e integrations/livekit \
		-e '.[dev]'
	touch $(STAMP)

## Run the main job on the embedded default: simulator + gateway + a real client drive.
demo: $(STAMP)
	$(BIN)/dh-gateway demo

# The unit tests: no server, simulator, Redis or build, seconds in all (make test runs them too).
UNIT_TESTS := tests/drive tests/test_drive_is_pure.py tests/test_import_graph.py \
	tests/upstream/test_websockets_internals.py tests/test_build_backend.py tests/test_config.py \
	tests/test_config_docs.py tests/test_deploy.py tests/simulator/test_units.py \
	tests/bench/test_metrics.py tests/admission

## The fast inner loop: formatting, lint, types and the pure unit tests (no sockets).
check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	@$(MAKE) --no-print-directory unit

## The unit tests alone (make check's last step; the pre-commit hook's too). NO_TOOL_BUILDS: the
## manifest tests skip until make test has built kustomize (a minute cold), rather than build it.
unit: $(STAMP)
	NO_TOOL_BUILDS=1 $(BIN)/python -m pytest -p no:cacheprovider -q $(UNIT_TESTS)

## Run every check and test (what CI runs).
test: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/python scripts/check.py

## Fuzz the Drive request stream over the real gateway and simulator with more cases than the
## test command's 100 (FUZZ_EXAMPLES, default 3000: about 5 min); prints the outcomes by status
## and reason (FUZZ_REPORT=file also writes them as JSON).
FUZZ_EXAMPLES ?= 3000
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:cacheprovider -q -s \
		--timeout=0 tests/fuzz

## Regenerate the committed protobuf code.
protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

## Rewrite constraints.txt (the dev venv's pins) and requirements/runtime.txt (the image's, with
## hashes) from pyproject.toml; tests/test_lock.py fails while either is behind it.
.PHONY: lock
lock: $(STAMP)
	$(BIN)/python scripts/lock.py

## Benchmark the gateway against the direct path and the bare prototype (not part of the
## tests; about 25 min); QUICK=1 for < 1 min.
bench: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

## Soak the gateway for SOAK_S seconds (default 3600) under a realistic mix: short and long drives
## at real-time pace, cancels, preempts, bad configs, vendor faults. Prints the slope per hour of
## its RSS, fds, asyncio tasks and set-up latency; writes bench/results/soak.{json,csv,png}.
.PHONY: soak
SOAK_S ?= 3600
soak: $(STAMP)
	$(BIN)/python -m bench.soak --seconds $(SOAK_S)

## Measure how far the vendor's playback callbacks are from the gateway's estimate, and how long
## a stream stays open after the half-close for the avatar: a run without callbacks, then with
## the simulator's at render latencies of 0 and 250 ms, PLAYBACK_DRIVES each (default 50; about
## a minute). Writes bench/results/playback-skew.{json,md}.
.PHONY: bench-playback
PLAYBACK_DRIVES ?= 50
bench-playback: $(STAMP)
	$(BIN)/python -m bench.playback_skew --drives $(PLAYBACK_DRIVES)

## Measure how long the avatar speaks once a client wants silence: cancel, StopDrive FINISH,
## the in-stream interrupt and StopDrive INTERRUPT side by side, SILENCE_DRIVES each (default 30;
## about a minute). Writes bench/results/stop-to-silence.{json,md}.
.PHONY: bench-silence
SILENCE_DRIVES ?= 30
bench-silence: $(STAMP)
	$(BIN)/python -m bench.stop_to_silence --drives $(SILENCE_DRIVES)

## Measure how soon the avatar speaks after a turn's config, the API warm-up off and on, side by
## side behind a proxy with a 20 ms round trip, SPEAK_TURNS each (default 20; about a minute).
## Writes bench/results/time-to-speak.{json,md}.
.PHONY: bench-speak
SPEAK_TURNS ?= 20
bench-speak: $(STAMP)
	$(BIN)/python -m bench.time_to_speak --turns $(SPEAK_TURNS)

## Measure what the LiveKit and pipecat plugins add to a turn's first frame (TTS frame in, first
## frame at the simulator) against the Python client driving the same frames, interleaved,
## PLUGIN_TURNS each (default 30; about 15 s, plus .venv-pipecat's creation when missing).
## Writes bench/results/plugin-latency.{json,md}.
.PHONY: bench-plugins
PLUGIN_TURNS ?= 30
bench-plugins: $(STAMP)
	$(BIN)/python -m bench.plugin_latency --turns $(PLUGIN_TURNS)

## Measure what OpenTelemetry tracing costs per chunk and per drive: two gateways side by side,
## tracing on (exporting to a local OTLP receiver) and off, at the same load, TRACING_ROUNDS
## rounds (default 5; about 3 min). Writes bench/results/tracing-cost.{json,md}.
.PHONY: bench-tracing
TRACING_ROUNDS ?= 5
bench-tracing: $(STAMP)
	$(BIN)/python -m bench.tracing_cost --rounds $(TRACING_ROUNDS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
