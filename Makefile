# sftplay: `make demo` and `make test` are the two commands; `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/config_run.yaml
# Nothing is fetched from the Hugging Face Hub unless a config names a Hub id and you unset these.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_DISABLE_TELEMETRY ?= 1

.PHONY: help install setup-dirs demo process style test test-slow install-browser test-client test-browser readme clean render train

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  make %-16s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/pip install -q -r requirements.txt
	touch $@

install: $(VENV)/.installed  ## create .venv and install sftplay with the tested set (requirements.txt)

setup-dirs:  ## create the data/, outputs/, adapters/ and models/ folders
	mkdir -p data/raw data/processed data/processed_with_style data/rendered outputs adapters models

data/raw/intents.jsonl: | $(VENV)/.installed
	$(BIN)/sftplay-sample --out data/raw

# `make demo` runs the whole chain on the embedded default; each run gets its own name, so a second demo never
# touches the first one's folders. DEMO_RUN=... names it.
DEMO_RUN ?= demo-$(shell date +%Y%m%d-%H%M%S)
override DEMO_RUN := $(DEMO_RUN)
RUNSET := --set logging.run_name=$(DEMO_RUN)

demo: install setup-dirs data/raw/intents.jsonl  ## the whole chain on the sample data and a tiny model, offline, on CPU (~10 min)
	@echo "== sftplay demo: run $(DEMO_RUN) =="
	$(BIN)/sftplay-tiny --config $(CONFIG)
	$(BIN)/sftplay-process --config $(CONFIG)
	$(BIN)/sftplay-style --config $(CONFIG)
	$(BIN)/sftplay-render --config $(CONFIG)
	$(BIN)/sftplay-train --config $(CONFIG) $(RUNSET)
	$(BIN)/sftplay-eval --config $(CONFIG) $(RUNSET) --split train --max-rows 400
	$(BIN)/sftplay-infer --config $(CONFIG) $(RUNSET) --input demo_inputs.txt --out outputs/$(DEMO_RUN)/preds.txt
	paste -d '\t' demo_inputs.txt outputs/$(DEMO_RUN)/preds.txt | sed 's/\t/\n    -> /'
	$(BIN)/sftplay-merge --config $(CONFIG) $(RUNSET)
	@echo "== before (untrained base) / after (trained), test split: every slot value unseen in training =="
	$(BIN)/sftplay-eval --config $(CONFIG) $(RUNSET) --base
	@echo "== look at it: trackio show --project $$($(BIN)/python -c "from sftplay.config import load_config; print(load_config('$(CONFIG)').logging.project)"), or nbs/03_train.ipynb and nbs/04_eval.ipynb =="

process: install  ## raw data (data.raw) -> data/processed/{train,val,test}.jsonl + rejects.jsonl + report.json
	$(BIN)/sftplay-process --config $(CONFIG)

style: install  ## inject the system/style instruction into every split; STYLE="..." overrides style.text
	STYLE='$(subst ','\'',$(value STYLE))'; $(BIN)/sftplay-style --config $(CONFIG) $${STYLE:+--style "$$STYLE"}

test: install  ## export/clean/README checks, then every notebook's tests (nbdev-test)
	$(BIN)/python tools/check_repo.py
	$(BIN)/nbdev-test --n-workers 2 --timing

test-slow: install  ## the slow tests too (cells flagged #| slow)
	$(BIN)/nbdev-test --n-workers 2 --flags slow --timing

# The optional Unsloth backend (tuning.backend: unsloth) lives in its own venv: Unsloth pins transformers <= 5.17.
UVENV ?= .venv-unsloth
UBIN := $(UVENV)/bin
.PHONY: install-unsloth test-unsloth

$(UVENV)/.installed: requirements-unsloth.txt pyproject.toml
	[ -x $(UBIN)/python ] || $(PY) -m venv $(UVENV)
	$(UBIN)/pip install -q --upgrade pip
	$(UBIN)/pip install -q -r requirements-unsloth.txt
	@# PyPI's torchvision is built against PyPI's CUDA torch: beside a CPU-only torch its operators do not load and
	@# `import unsloth` fails. Text training does not use it, so it goes (it stays where it loads, e.g. with CUDA torch).
	$(UBIN)/python -c 'import torchvision' 2> /dev/null || $(UBIN)/pip uninstall -y -q torchvision
	set -o pipefail; $(UBIN)/python -c 'import unsloth, transformers; print(f"unsloth {unsloth.__version__} on transformers {transformers.__version__}")' 2>&1 | tail -n 1
	touch $@

install-unsloth: $(UVENV)/.installed  ## optional: .venv-unsloth with Unsloth + sftplay; then train with .venv-unsloth/bin/sftplay-train
	@echo 'Unsloth backend ready: set tuning.backend=unsloth and run $(UBIN)/sftplay-train --config $(CONFIG)'

UNSLOTH_FLAGS ?= unsloth
test-unsloth: install-unsloth  ## 03_train's tests with the #| unsloth cells, in .venv-unsloth (on a GPU: UNSLOTH_FLAGS="unsloth gpu")
	$(UBIN)/nbdev-test --flags "$(UNSLOTH_FLAGS)" nbs/03_train.ipynb

# The benchmark against TRL's SFTTrainer (bench/) runs in its own venv: TRL is the `bench` extra, never a core dependency.
BVENV ?= .venv-bench
BBIN := $(BVENV)/bin
BENCH_ARGS ?=
.PHONY: install-bench bench bench-gpu

$(BVENV)/.installed: requirements-bench.txt requirements.txt pyproject.toml
	[ -x $(BBIN)/python ] || $(PY) -m venv $(BVENV)
	$(BBIN)/pip install -q --upgrade pip
	$(BBIN)/pip install -q torch==2.13.0
	$(BBIN)/pip install -q -r requirements-bench.txt
	touch $@

install-bench: $(BVENV)/.installed  ## .venv-bench: the tested set + TRL 1.16 (pip install -e .[bench]) for make bench

bench: install-bench  ## sftplay vs TRL SFTTrainer on CPU, interleaved runs (~13 min): bench/results/*.json + README_table.md
	$(BBIN)/python bench/bench.py $(BENCH_ARGS)

bench-gpu: install-bench  ## bench/gpu.py on a CUDA machine: modes, 7B QLoRA in 8 GiB, planner, packed attention, vs TRL
	$(BBIN)/python bench/gpu.py $(BENCH_ARGS)

# The optional GGUF export (nbs/07_gguf.ipynb): llama-cpp-python's wheel is built once from its sdist (PyPI has no
# wheel) into .gguf/wheels and reused; llama.cpp's converter and gguf-py come from the same sdist into .gguf/llama.cpp.
GGUF_DIR := .gguf
LLAMA_CPP_VERSION := $(shell sed -n 's/^llama-cpp-python==//p' requirements-gguf.txt)
GGUF_SDIST := $(GGUF_DIR)/sdist/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz
GGUF_TYPE ?= f16
.PHONY: install-gguf test-gguf gguf

$(GGUF_SDIST):
	$(BIN)/pip download -q --no-deps --no-binary :all: llama-cpp-python==$(LLAMA_CPP_VERSION) -d $(GGUF_DIR)/sdist

# llava (multimodal) is not needed; 2 parallel jobs keep the build at ~0.7 GB on a 2-core machine.
$(GGUF_DIR)/wheels/.built-$(LLAMA_CPP_VERSION): $(GGUF_SDIST) | $(VENV)/.installed
	CMAKE_ARGS="-DLLAVA_BUILD=OFF $(GGUF_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	  $(BIN)/pip wheel -q --no-deps $(GGUF_SDIST) -w $(GGUF_DIR)/wheels
	touch $@

$(GGUF_DIR)/llama.cpp/.extracted-$(LLAMA_CPP_VERSION): $(GGUF_SDIST)
	rm -rf $(GGUF_DIR)/llama.cpp && mkdir -p $(GGUF_DIR)/llama.cpp
	tar -xzf $(GGUF_SDIST) -C $(GGUF_DIR)/llama.cpp --strip-components=3 --wildcards \
	  'llama_cpp_python-$(LLAMA_CPP_VERSION)/vendor/llama.cpp/convert_hf_to_gguf.py' \
	  'llama_cpp_python-$(LLAMA_CPP_VERSION)/vendor/llama.cpp/conversion' \
	  'llama_cpp_python-$(LLAMA_CPP_VERSION)/vendor/llama.cpp/gguf-py' \
	  'llama_cpp_python-$(LLAMA_CPP_VERSION)/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf*'
	echo $(LLAMA_CPP_VERSION) > $(GGUF_DIR)/llama.cpp/VERSION
	touch $@

GGUF_BUILT := $(GGUF_DIR)/wheels/.built-$(LLAMA_CPP_VERSION) $(GGUF_DIR)/llama.cpp/.extracted-$(LLAMA_CPP_VERSION)
$(VENV)/.installed-gguf: $(GGUF_BUILT) requirements-gguf.txt
	$(BIN)/pip install -q --find-links $(GGUF_DIR)/wheels --only-binary llama-cpp-python -r requirements-gguf.txt
	$(BIN)/python -c 'import llama_cpp; print("llama-cpp-python", llama_cpp.__version__, "in $(VENV), converter in $(GGUF_DIR)")'
	touch $@

# `rm -rf .gguf` forces a rebuild; GGUF_CMAKE_ARGS=... adds cmake options to it (only the default CPU build is tested).
install-gguf: install $(VENV)/.installed-gguf  ## optional: build llama-cpp-python once (~4 min on 2 cores, kept in .gguf/) for sftplay-gguf

test-gguf: install-gguf  ## 07_gguf's #| gguf and #| slow cells: llama.cpp's converter, quantizer and runtime (~5 min)
	$(BIN)/nbdev-test --flags "gguf slow" --timing nbs/07_gguf.ipynb

gguf: install-gguf  ## GGUF of the run logging.run_name (or RUN=) names: outputs/<run>/gguf_<type>/ (GGUF_TYPE=q8_0...)
	$(BIN)/sftplay-gguf --config $(CONFIG) --type $(GGUF_TYPE) $(if $(RUN),--set logging.run_name=$(RUN))

# The lent GPU machine (Python 3.12, torch, transformers 5.17... preinstalled, no network) gets what it lacks as wheels
# from here, and runs everything as one command: see README "Testing".
.PHONY: gpu-wheels gpu-check gpu-smoke
gpu-wheels:  ## download the wheels the lent GPU machine lacks (tools/gpu-wheels.txt, Python 3.12) into .gpu-wheels/
	bash tools/gpu_wheels.sh

gpu-check:  ## on a GPU machine: .gpu-wheels installed offline, bench/gpu.py, the #| gpu cells, in 8 min
	PYTHON=$(if $(wildcard $(BIN)/python),$(BIN)/python,python3) bash tools/gpu_check.sh

gpu-smoke: install-bench gpu-wheels  ## rehearse gpu-check on CPU: the same steps, tiny shapes (checks the scripts only)
	GPU_CHECK_SMOKE=1 GPU_CHECK_SECONDS=1800 PYTHON=$(BBIN)/python OUT=bench/work/gpu-smoke bash tools/gpu_check.sh

# The real-client tests (nbs/90_client_tests.ipynb): a Jupyter kernel per notebook, and JupyterLab in headless Chromium.
BROWSER_DIR := .browser
PLAYWRIGHT_VERSION := 1.65.1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

install-browser:  ## Debian's chromium (apt, if /usr/bin/chromium is missing) and playwright-core (npm, into .browser/)
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }
	@command -v npm > /dev/null || { echo 'install-browser: npm not found; install Node.js (>= 18) with npm' >&2; exit 1; }
	@[ "$$(node -p "require('./$(BROWSER_DIR)/node_modules/playwright-core/package.json').version" 2> /dev/null)" = $(PLAYWRIGHT_VERSION) ] || \
	  npm install --prefix $(BROWSER_DIR) --no-audit --no-fund --save-exact playwright-core@$(PLAYWRIGHT_VERSION)

test-client: install  ## run every numbered notebook top to bottom in a real Jupyter kernel (nbclient)
	$(BIN)/nbdev-test --flags client --cell-timeout 3600 --verbose nbs/90_client_tests.ipynb

test-browser: install install-browser  ## JupyterLab + headless Chromium: drive PromptPreview (02_templating) and ConfigPanel (00d_panel)
	$(BIN)/nbdev-test --flags browser --cell-timeout 1200 --verbose nbs/90_client_tests.ipynb

full-pipeline: process style render  ## process -> style -> render: the data steps, ready to train

train: install  ## fine-tune per $(CONFIG) (QLoRA / LoRA / full; logs to the configured dashboard)
	$(BIN)/sftplay-train --config $(CONFIG)

render: install  ## write data/rendered/{train,val,test}.jsonl: each row's rendered prompt and gold answer (template audit)
	$(BIN)/sftplay-render --config $(CONFIG)

eval: install  ## score the run logging.run_name names: outputs/<run>/metrics.json + samples.jsonl, before/after table
	$(BIN)/sftplay-eval --config $(CONFIG) --base

INPUT ?= demo_inputs.txt
infer: install  ## answer the prompts in INPUT (default demo_inputs.txt) with the run; writes outputs/preds.txt
	$(BIN)/sftplay-infer --config $(CONFIG) --input $(INPUT) --out outputs/preds.txt

merge: install  ## merge the run's adapter into its base (fp16 by default): outputs/<run>/merged_<dtype>/
	$(BIN)/sftplay-merge --config $(CONFIG)

readme:  ## regenerate README.md from nbs/index.ipynb
	$(BIN)/python tools/readme.py

clean:  ## remove generated data (processed, styled, rendered) and tiny models; never data/raw, runs in outputs/ or adapters/
	rm -rf data/processed/*.jsonl data/processed/*.json data/processed_with_style/*.jsonl data/rendered/*.jsonl models/*
