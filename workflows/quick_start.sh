#!/usr/bin/env bash
# sftplay quick start: set up, make sample data if there is none, and walk through the pipeline step by step.
#   workflows/quick_start.sh            asks before each step
#   workflows/quick_start.sh --yes      runs everything unattended
#   workflows/quick_start.sh --yes -- --set train.max_steps=50   extra arguments go to every sftplay command
# Runs offline on the embedded default (configs/config_run.yaml: tiny model, sample data, CPU) unless CONFIG=... says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
YES=0; EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    -y|--yes) YES=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "quick_start: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
CONFIG=${CONFIG:-configs/config_run.yaml}
RUN=${RUN:-quickstart-$(date +%Y%m%d-%H%M%S)}
BIN=.venv/bin
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1} TOKENIZERS_PARALLELISM=false
T0=$(date +%s)

step() {  # step "what it does" command...
  local what=$1; shift
  echo; echo "== $what"; echo "   \$ $*"
  if [ "$YES" = 0 ]; then
    read -r -p "   run it? [Y/n/q] " a < /dev/tty || a=y
    case "$a" in n|N) echo "   skipped"; return 0 ;; q|Q) echo "bye"; exit 0 ;; esac
  fi
  "$@"
}

step "create the data/, outputs/, adapters/ and models/ folders" make --no-print-directory setup-dirs
step "install sftplay and its tested dependencies into .venv (once; ~2 min)" make --no-print-directory install
if [ ! -e data/raw/intents.jsonl ]; then
  step "make the sample intent -> JSON data (data/raw is never overwritten)" $BIN/sftplay-sample --out data/raw
else
  echo; echo "== data/raw/intents.jsonl exists: using it"
fi
step "build the tiny offline model the config names" $BIN/sftplay-tiny --config "$CONFIG" "${EXTRA[@]}"
step "raw rows -> structured chat rows, split train/val/test" $BIN/sftplay-process --config "$CONFIG" "${EXTRA[@]}"
step "inject the style/system instruction (originals kept)" $BIN/sftplay-style --config "$CONFIG" "${EXTRA[@]}"
step "render prompts for auditing (data/rendered/)" $BIN/sftplay-render --config "$CONFIG" "${EXTRA[@]}"
step "train (run $RUN)" $BIN/sftplay-train --config "$CONFIG" --set logging.run_name="$RUN" "${EXTRA[@]}"
step "evaluate before/after on the test split" $BIN/sftplay-eval --config "$CONFIG" --set logging.run_name="$RUN" --base "${EXTRA[@]}"
step "answer demo_inputs.txt" $BIN/sftplay-infer --config "$CONFIG" --set logging.run_name="$RUN" --input demo_inputs.txt --out "outputs/$RUN/preds.txt" "${EXTRA[@]}"

echo
echo "== done in $(( $(date +%s) - T0 ))s. Next steps:"
PROJECT=$($BIN/python -c "from sftplay.config import load_config; print(load_config('$CONFIG').logging.project)")
echo "   trackio show --project $PROJECT        # the run's curves (logging.backend: trackio)"
echo "   cat outputs/$RUN/metrics.json outputs/$RUN/samples.jsonl                # scores and examples"
echo "   $BIN/sftplay-infer --config $CONFIG --set logging.run_name=$RUN        # chat with it (stdin)"
echo "   $BIN/sftplay-merge --config $CONFIG --set logging.run_name=$RUN        # one fp16 model for serving"
echo "   jupyter lab nbs/                                                          # the notebooks: PromptPreview, ConfigPanel, plots"
echo "   edit $CONFIG (or copy configs/examples/*.yaml) to train your own model on your data"
