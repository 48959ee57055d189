#!/usr/bin/env bash
# Several experiments in one go: each line of an experiments file names a run, its config and a style prompt;
# each is processed, styled, trained and evaluated as its own run, then one table compares their metrics.
#   workflows/batch_process.sh [workflows/experiments.tsv] [-- extra sftplay arguments, e.g. --set train.max_steps=50]
# experiments.tsv: tab-separated `run_name<TAB>config<TAB>style prompt` (the style may be empty); # starts a comment.
# Each experiment processes into its own folders (data/batch/<run>/), so they never overwrite each other's data.
set -euo pipefail
cd "$(dirname "$0")/.."
LIST=workflows/experiments.tsv; EXTRA=()
if [ $# -gt 0 ] && [ "$1" != -- ]; then LIST=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" = -- ]; then shift; EXTRA=("$@"); fi
[ -f "$LIST" ] || { echo "batch_process: $LIST: no such experiments file" >&2; exit 2; }
BIN=.venv/bin
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1} TOKENIZERS_PARALLELISM=false
RUNS=()
while IFS=$'\t' read -r run config style || [ -n "$run" ]; do
  case "$run" in ''|'#'*) continue ;; esac
  [ -f "$config" ] || { echo "batch_process: $LIST: run $run: config $config not found" >&2; exit 2; }
  d="data/batch/$run"
  S=(--set "data.processed_dir=$d/processed" --set "data.style_dir=$d/styled" --set "data.rendered_dir=$d/rendered"
     --set "data.train_path=$d/styled/train.jsonl" --set "data.val_path=$d/styled/val.jsonl" --set "data.test_path=$d/styled/test.jsonl"
     --set "logging.run_name=$run")
  echo "== $run: $config${style:+, style \"$style\"}"
  $BIN/sftplay-tiny --config "$config" "${S[@]}" "${EXTRA[@]}" > /dev/null
  $BIN/sftplay-process --config "$config" "${S[@]}" "${EXTRA[@]}"
  if [ -n "$style" ]; then $BIN/sftplay-style --config "$config" "${S[@]}" "${EXTRA[@]}" --style "$style"
  else $BIN/sftplay-style --config "$config" "${S[@]}" "${EXTRA[@]}"; fi
  $BIN/sftplay-train --config "$config" "${S[@]}" "${EXTRA[@]}"
  $BIN/sftplay-eval --config "$config" "${S[@]}" "${EXTRA[@]}" > /dev/null
  RUNS+=("$run"); LAST=$config
done < "$LIST"
echo; echo "== summary (test split)"
IFS=,; $BIN/sftplay-eval --config "$LAST" "${EXTRA[@]}" --summary "${RUNS[*]}"
