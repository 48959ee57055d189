#!/usr/bin/env python3
"""The checks `make test` runs before the notebooks: exported modules in sync with the notebooks, notebooks clean
(no outputs, execution counts or widget state; none over 200 kB), README.md in sync with nbs/index.ipynb.
A check that fails says what to run; it never edits what it found out of date without saying so."""
import hashlib, json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def digest(paths):
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(paths)}


def changed(before, after): return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def main():
    problems = []
    mods = lambda: digest((ROOT/'sftplay').glob('**/*.py'))
    before = mods()
    subprocess.run([str(BIN/'nbdev-export')], cwd=ROOT, check=True)
    if d := changed(before, mods()):
        problems.append(f'exported modules were out of date with the notebooks (re-exported now; commit them): {", ".join(d)}')
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        size, j = nb.stat().st_size, json.loads(nb.read_text())
        if size > 200_000: problems.append(f'{nb.relative_to(ROOT)} is {size // 1000} kB (> 200 kB)')
        dirty = [i for i, c in enumerate(j['cells']) if c.get('outputs') or c.get('execution_count') is not None]
        if dirty or 'widgets' in j.get('metadata', {}):
            problems.append(f'{nb.relative_to(ROOT)} is not clean (outputs in cells {dirty[:5]}); run `nbdev-clean` and commit it')
    r = subprocess.run([sys.executable, str(ROOT/'tools/base_config.py'), '--check'], cwd=ROOT)
    if r.returncode: problems.append('configs/config_base.yaml differs from the schema; run `python tools/base_config.py`')
    r = subprocess.run([sys.executable, str(ROOT/'tools/readme.py'), '--check'], cwd=ROOT)
    if r.returncode: problems.append('README.md differs from nbs/index.ipynb; run `make readme` and commit README.md')
    for p in problems: print(f'check_repo: {p}', file=sys.stderr)
    if not problems: print('check_repo: exports, clean notebooks and README are in sync')
    return 1 if problems else 0


if __name__ == '__main__': sys.exit(main())
