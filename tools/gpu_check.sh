#!/usr/bin/env bash
# `make gpu-check`: everything a lent GPU machine can tell about sftplay, as one command held to a time budget.
#   1. stops with one line unless torch sees a CUDA device;
#   2. installs, offline, what that machine lacks from .gpu-wheels/ (`make gpu-wheels` fills it here; the run carries
#      it) into a venv that sees the machine's own packages (.gpu-venv/; or into $PYTHON's venv if it is one), and
#      sftplay itself (editable, no dependencies);
#   3. bench/gpu.py (its sections: modes, llama2-7b, packed, trl, budget, eval-merge) with the time left but a reserve;
#   4. the notebooks' #| gpu cells and what they need (tools/gpu_cells.py).
# Everything it writes goes to $OUT when set (the device tool brings that folder back), else bench/results/gpu-check/:
# gpu_check.log, pip.txt, gpu.json, README_gpu_table.md, gpu_cells.json.
#   GPU_CHECK_SECONDS=480   the whole budget (default 480 s)
#   GPU_CHECK_SMOKE=1       a rehearsal on a machine without a GPU: the same steps, bench/gpu.py --cpu-smoke and the
#                           cells' setup only (`make gpu-smoke`)
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s); BUDGET=${GPU_CHECK_SECONDS:-480}; SMOKE=${GPU_CHECK_SMOKE:-0}
RES=${OUT:-bench/results/gpu-check}
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
say() { echo "gpu-check [$(( $(date +%s) - START )) s]: $*"; }
PY=${PYTHON:-python3}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_DISABLE_TELEMETRY=1

# 1. a CUDA device, or one line and exit status 1
read -r -d '' PREFLIGHT <<'EOF'
import sys
try: import torch
except ImportError: sys.exit(f'gpu-check: no torch for {sys.executable}; set PYTHON to the interpreter that has it')
if not torch.cuda.is_available():
    sys.exit(f'gpu-check: no CUDA device here (torch {torch.__version__}: torch.cuda.is_available() is False); '
             'run it on the lent GPU machine, or `make gpu-smoke` to rehearse it on CPU')
p = torch.cuda.get_device_properties(0)
print(f'gpu-check: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__} (CUDA {torch.version.cuda}), '
      f'Python {sys.version.split()[0]}')
EOF
if [ "$SMOKE" != 1 ]; then GPU_LINE=$("$PY" -c "$PREFLIGHT") || exit 1; fi
mkdir -p "$RES"; exec > >(tee -a "$RES/gpu_check.log") 2>&1
[ "$SMOKE" = 1 ] && say "rehearsal on CPU (GPU_CHECK_SMOKE=1): nothing here measures a GPU" || echo "${GPU_LINE:-}"

# 2. install what the machine lacks, offline
[ -d .gpu-wheels ] || { say "no .gpu-wheels/: run \`make gpu-wheels\` where PyPI is reachable, carry it"; exit 1; }
if "$PY" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then V=$PY  # already a venv: install into it
elif "$PY" -m venv --system-site-packages .gpu-venv 2> "$RES/venv.txt"; then V=.gpu-venv/bin/python
else say "no venv here ($(tail -1 "$RES/venv.txt")): installing into $PY itself"; V=$PY; fi
PIP=("$V" -m pip install --no-index --find-links .gpu-wheels --disable-pip-version-check --quiet)
say "installing into $V"
"${PIP[@]}" bitsandbytes==0.50.2 fastcore==2.2.41 rouge_score==0.1.2 >> "$RES/pip.txt" 2>&1 \
  || { say "installing bitsandbytes, fastcore, rouge_score FAILED (see pip.txt)"; tail -5 "$RES/pip.txt"; exit 1; }
"${PIP[@]}" --no-deps -e . >> "$RES/pip.txt" 2>&1 \
  || { say "installing sftplay FAILED (see pip.txt)"; tail -5 "$RES/pip.txt"; exit 1; }
"${PIP[@]}" trl==1.16.0 datasets==5.2.0 >> "$RES/pip.txt" 2>&1 \
  || say "installing trl and datasets FAILED (see pip.txt): bench/gpu.py's trl section will fail, not the rest"
"$V" -m pip freeze --disable-pip-version-check >> "$RES/pip.txt" 2>&1
"$V" -c 'import sftplay, bitsandbytes, fastcore, rouge_score' || { say "sftplay does not import (see above)"; exit 1; }
say "installed; $(left) s left"

# 3. bench/gpu.py, keeping a reserve for the #| gpu cells
RESERVE=${GPU_CHECK_CELLS_SECONDS:-90}
SMOKE_ARG=(); [ "$SMOKE" = 1 ] && SMOKE_ARG=(--cpu-smoke)
"$V" bench/gpu.py --out "$RES" --budget $(( $(left) - RESERVE )) "${SMOKE_ARG[@]}"; BENCH_RC=$?
say "bench/gpu.py exit status $BENCH_RC; $(left) s left"

# 4. the notebooks' #| gpu cells, with what is left
CELLS_ARG=(); [ "$SMOKE" = 1 ] && CELLS_ARG=(--setup-only)
timeout --kill-after 10 $(( $(left) > 30 ? $(left) : 30 )) \
  "$V" tools/gpu_cells.py nbs/00_config.ipynb nbs/03_train.ipynb \
  --out "$RES/gpu_cells.json" "${CELLS_ARG[@]}"; CELLS_RC=$?
say "#| gpu cells exit status $CELLS_RC; done in $(( $(date +%s) - START )) s; results in $RES"
[ "$BENCH_RC" = 0 ] && [ "$CELLS_RC" = 0 ]
