#!/usr/bin/env bash
# `make gpu-wheels`: download, on this machine, the wheels the lent GPU machine lacks (tools/gpu-wheels.txt) for
# Python 3.12 on manylinux x86_64, into .gpu-wheels/ (ignored by git; the device run carries it: carry [".gpu-wheels"]).
# Needs PyPI; the GPU machine has no network. Prints the folder's size, which must leave room for the repository in
# the 64 MiB that travel to that machine.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${GPU_WHEELS:-.gpu-wheels}
PIP=${PIP:-$([ -x .venv/bin/pip ] && echo .venv/bin/pip || echo "python3 -m pip")}
mkdir -p "$DEST"
specs=$(sed -e 's/#.*//' tools/gpu-wheels.txt | grep -v '^\s*$')
binary=$(echo "$specs" | grep -v '^rouge_score==')
# shellcheck disable=SC2086
$PIP download --quiet --no-deps --only-binary=:all: --dest "$DEST" --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 $binary
# rouge_score is an sdist only: build its (pure Python) wheel here
$PIP wheel --quiet --no-deps --wheel-dir "$DEST" "$(echo "$specs" | grep '^rouge_score==')"
# only what tools/gpu-wheels.txt names: an older download of another version would make the folder bigger
python3 - "$DEST" <<'PY'
import re, sys
from pathlib import Path
norm = lambda n: re.sub(r'[-_.]+', '_', n).lower()
want = {norm(n): v for n, v in (l.split('#')[0].strip().split('==') for l in open('tools/gpu-wheels.txt')
                                 if l.split('#')[0].strip())}
for w in Path(sys.argv[1]).glob('*.whl'):
    name, ver = w.name.split('-')[:2]
    if want.get(norm(name)) != ver: print(f'gpu-wheels: removing {w.name} (not in tools/gpu-wheels.txt)'); w.unlink()
missing = set(want) - {norm(w.name.split('-')[0]) for w in Path(sys.argv[1]).glob('*.whl')}
if missing: sys.exit(f'gpu-wheels: missing {sorted(missing)}')
PY
ls -l "$DEST"
echo "gpu-wheels: $(ls "$DEST"/*.whl | wc -l) wheels, $(du -sb "$DEST" | cut -f1) bytes in $DEST"
