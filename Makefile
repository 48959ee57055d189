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

.PHONY: help install setup-dirs demo process style test test-slow readme clean render train

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

demo: install setup-dirs data/raw/intents.jsonl  ## the whole pipeline on the sample data and a tiny model, offline, on CPU
	$(BIN)/sftplay-tiny --config $(CONFIG)
	$(BIN)/sftplay-config --config $(CONFIG) > /dev/null && echo "config $(CONFIG) is valid"

process: install  ## raw data (data.raw) -> data/processed/{train,val,test}.jsonl + rejects.jsonl + report.json
	$(BIN)/sftplay-process --config $(CONFIG)

style: install  ## inject the system/style instruction into every split; STYLE="..." overrides style.text
	STYLE='$(subst ','\'',$(value STYLE))'; $(BIN)/sftplay-style --config $(CONFIG) $${STYLE:+--style "$$STYLE"}

test: install  ## export/clean/README checks, then every notebook's tests (nbdev-test)
	$(BIN)/python tools/check_repo.py
	$(BIN)/nbdev-test --n-workers 2 --timing

test-slow: install  ## the slow tests too (cells flagged #| slow)
	$(BIN)/nbdev-test --n-workers 2 --flags slow --timing

train: install  ## fine-tune per $(CONFIG) (QLoRA / LoRA / full; logs to the configured dashboard)
	$(BIN)/sftplay-train --config $(CONFIG)

render: install  ## write data/rendered/{train,val,test}.jsonl: each row's rendered prompt and gold answer (template audit)
	$(BIN)/sftplay-render --config $(CONFIG)

readme:  ## regenerate README.md from nbs/index.ipynb
	$(BIN)/python tools/readme.py

clean:  ## remove generated data, runs and tiny models (never data/raw)
	rm -rf data/processed/*.jsonl data/processed/*.json data/processed_with_style/*.jsonl data/rendered/*.jsonl outputs/* adapters/* models/*
