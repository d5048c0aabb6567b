# Two commands for users: `make lab` and `make test`. Both set up .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8888
NOTEBOOKS := notebooks
# -mno-amx-int8 only where the compiler knows it (GCC >= 11, clang >= 12)
LLAMA_CMAKE_ARGS := $(shell echo 'int main(void){return 0;}' | $${CC:-cc} -mno-amx-int8 -x c -o /dev/null - >/dev/null 2>&1 \
	&& echo "-DCMAKE_C_FLAGS=-mno-amx-int8 -DCMAKE_CXX_FLAGS=-mno-amx-int8")
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export HF_HUB_DISABLE_PROGRESS_BARS=1
export TOKENIZERS_PARALLELISM=false

.PHONY: lab test lint test-unit test-notebooks e2e browser setup models doctor bench train-cache-guard record clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# torch==2.13.0 (CPU build) is pinned in pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	@# The local chat models' runtime compiles llama-cpp-python once (~10 min); without it the kit
	@# still works and its local backend answers with the extractive fallback.
	@# Built for this CPU minus AMX: llama.cpp's AMX kernels can SIGILL on the first prompt (llama.cpp PR 26954).
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS) $${CMAKE_ARGS:-}" $(BIN)/python -m pip install -q -e '.[local-llm]' || \
		echo "WARNING: llama-cpp-python did not install; the local backend will use its extractive fallback."
	@# redis-server (Debian package): the classroom tests and bench_classroom.py start their own on a loopback port
	command -v redis-server >/dev/null || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server; \
		else echo "WARNING: redis-server is missing and only root can install it: sudo apt-get install -y redis-server (or set GLWORK_SKIP_REDIS=1 to skip the classroom tests)"; fi; }
	touch $(STAMP)

# The local chat models (0.5B and 1.5B GGUFs, 1.6 GB, see glwork/local/models.py): downloaded,
# joined and sha256-checked once into the user cache; a second run only checks they are there.
models: $(STAMP)
	$(BIN)/glwork models install || \
		echo "WARNING: the local chat models did not install; the local backend will use its extractive fallback. Retry: $(BIN)/glwork models install"

# JupyterLab's own settings for this kit (the venv's, not the user's): no news prompt, no update checks.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_SETTINGS): binder/lab-settings/overrides.json $(STAMP)
	mkdir -p $(dir $@) && cp $< $@

setup: $(STAMP) models $(LAB_SETTINGS)

lab: $(STAMP) models $(LAB_SETTINGS)
	cd $(NOTEBOOKS) && ../$(BIN)/jupyter lab --no-browser --ip=$(HOST) --port=$(PORT) \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root )

test: lint test-unit test-notebooks e2e

# ruff (style, imports, likely bugs) and mypy (types; its cache makes a second run take seconds),
# configured in pyproject.toml
lint: $(STAMP)
	$(BIN)/ruff check glwork tests benchmarks
	$(BIN)/mypy

# Both suites run on every core (pytest-xdist; worksteal evens out the minutes-long notebook tests).
test-unit: $(STAMP) models
	$(BIN)/python -m pytest -p no:cacheprovider -n auto --dist worksteal --durations=15 tests --ignore=tests/e2e

# Stored outputs of every notebook, replayed from its cassette (no key, no network). Strict: a request
# the cassette does not hold fails here instead of being answered by the local model.
test-notebooks: $(STAMP) models
	env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u AZURE_OPENAI_API_KEY GLWORK_MODE=replay GLWORK_REPLAY_STRICT=1 \
		$(BIN)/python -m pytest -p no:cacheprovider -n auto --dist loadfile --nbval --nbval-sanitize-with $(NOTEBOOKS)/sanitize.cfg \
		$(NOTEBOOKS) --ignore=$(NOTEBOOKS)/.ipynb_checkpoints

# Browser test: JupyterLab on 127.0.0.1 with a token, the playground run in headless Chromium driven
# by Playwright; screenshots in build/screenshots/. Chromium is Debian's package: nothing downloads
# a browser (never `playwright install`).
E2E_STAMP := $(VENV)/.e2e-installed
$(E2E_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q 'playwright>=1.49,<2'
	touch $(E2E_STAMP)

browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
		else echo "The browser test needs Debian's chromium: run 'apt-get install chromium' as root."; exit 1; fi; \
		$$SUDO apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }

e2e: $(E2E_STAMP) models browser $(LAB_SETTINGS)
	mkdir -p build/screenshots
	env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u AZURE_OPENAI_API_KEY GLWORK_CHROMIUM=$$(command -v chromium) \
		$(BIN)/python -m pytest -p no:cacheprovider -m e2e tests/e2e

doctor: $(STAMP) models
	$(BIN)/glwork doctor

bench: $(STAMP) models
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# Re-train the semantic cache guard's pair model on the QQP training pairs (seeded; minutes on 2 cores).
train-cache-guard: $(STAMP)
	nice -n 10 $(BIN)/python benchmarks/train_cache_guard.py

# Instructors: re-record every cassette against the local model (or BACKEND=live with keys).
BACKEND ?= local
record: $(STAMP) models
	$(BIN)/glwork record --backend $(BACKEND)

clean:
	rm -rf $(VENV) build .pytest_cache
