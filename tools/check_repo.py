#!/usr/bin/env python3
"""The checks `make test` runs before the notebooks: exported modules in sync with the notebooks, notebooks clean
(no outputs, execution counts or widget state; none over 200 kB), README.md in sync with nbs/index.ipynb, every module
importing only from the modules of earlier chapters (the pipeline order of nbs/), and no code line over 120 characters
(notebook code cells and exported modules; markdown cells are prose), and a Colab setup cell in every chapter that
takes the project from SFTPLAY_SOURCE. A check that fails says what to run; it never
edits what it found out of date without saying so."""
import ast, hashlib, json, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MAX_LINE = 120


def digest(paths):
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(paths)}


def changed(before, after): return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def chapters() -> list:
    "The module each numbered notebook exports, in notebook (pipeline) order"
    out = []
    for nb in sorted((ROOT/'nbs').glob('[0-9]*.ipynb')):
        src = '\n'.join(''.join(c['source']) for c in json.loads(nb.read_text())['cells'])
        if m := re.search(r'^#\|\s*default_exp\s+(\S+)', src, re.M): out.append(m[1])
    return out


def later_imports(mods) -> list:
    "Imports (at any depth, lazy ones included) of a module from a later chapter: the pipeline runs one way"
    bad = []
    for i, m in enumerate(mods):
        for node in ast.walk(ast.parse((ROOT/'sftplay'/f'{m}.py').read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module: continue
            name = (node.module if node.level else node.module.removeprefix('sftplay.')
                    if node.module.startswith('sftplay.') else None)
            if name and (dep := name.split('.')[0]) in mods and mods.index(dep) >= i:
                bad.append(f'sftplay/{m}.py imports {dep}')
    return bad


def _nbdev_lines(tree) -> set:
    "Line numbers nbdev writes itself in a module: the docstring (the title cell's summary, prose) and `__all__`"
    out = set()
    for node in tree.body:
        if ((node is tree.body[0] and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
            or (isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets))):
            out.update(range(node.lineno, node.end_lineno + 1))
    return out


def long_lines(limit:int=MAX_LINE) -> list:
    "Code lines over `limit` characters, as `nbs/x.ipynb:cell-id/line (length)` and `sftplay/x.py:line (length)`"
    bad = []
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            if c['cell_type'] != 'code': continue
            for i, l in enumerate(''.join(c['source']).splitlines(), 1):
                if len(l) > limit: bad.append(f'{nb.relative_to(ROOT)}:{c.get("id")}/{i} ({len(l)})')
    for p in sorted((ROOT/'sftplay').glob('**/*.py')):
        if p.name == '_modidx.py': continue
        text = p.read_text()
        skip = _nbdev_lines(ast.parse(text))
        bad += [f'{p.relative_to(ROOT)}:{i} ({len(l)})' for i, l in enumerate(text.splitlines(), 1)
                if len(l) > limit and i not in skip]
    return bad


def setup_cells() -> list:
    "Chapters without the Colab setup cell that takes the project from SFTPLAY_SOURCE, or that clone a fixed address"
    bad = []
    for nb in sorted((ROOT/'nbs').glob('0*.ipynb')):
        code = [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
        if not any("SFTPLAY_SOURCE = ''" in c for c in code): bad.append(f'{nb.relative_to(ROOT)} has no setup cell')
        if any(re.search(r'git clone\S*\s[^\n]*https?://', c) for c in code):
            bad.append(f'{nb.relative_to(ROOT)} clones a fixed address')
    return bad


def main():
    problems = []
    mods = lambda: digest((ROOT/'sftplay').glob('**/*.py'))
    before = mods()
    subprocess.run([str(BIN/'nbdev-export')], cwd=ROOT, check=True)
    if d := changed(before, mods()):
        problems.append('exported modules were out of date with the notebooks (re-exported now; commit them): '
                        + ', '.join(d))
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        size, j = nb.stat().st_size, json.loads(nb.read_text())
        if size > 200_000: problems.append(f'{nb.relative_to(ROOT)} is {size // 1000} kB (> 200 kB)')
        dirty = [i for i, c in enumerate(j['cells']) if c.get('outputs') or c.get('execution_count') is not None]
        if dirty or 'widgets' in j.get('metadata', {}):
            problems.append(f'{nb.relative_to(ROOT)} is not clean (outputs in cells {dirty[:5]}); '
                            'run `nbdev-clean` and commit it')
    r = subprocess.run([sys.executable, str(ROOT/'tools/base_config.py'), '--check'], cwd=ROOT)
    if r.returncode:
        problems.append('configs/config_base.yaml differs from the schema; run `python tools/base_config.py`')
    r = subprocess.run([sys.executable, str(ROOT/'tools/readme.py'), '--check'], cwd=ROOT)
    if r.returncode: problems.append('README.md differs from nbs/index.ipynb; run `make readme` and commit README.md')
    if bad := later_imports(chapters()):
        problems.append('a module imports a later pipeline step (move the shared code to the earlier chapter): '
                        + '; '.join(bad))
    if long := long_lines():
        problems.append(f'{len(long)} code line(s) over {MAX_LINE} characters (wrap them inside their brackets, '
                        f'or split long strings into adjacent literals): {", ".join(long)}')
    if bad := setup_cells():
        problems.append('the Colab setup cell must take the project from SFTPLAY_SOURCE, as in 00_config '
                        '(the project has no public address): ' + '; '.join(bad))
    for p in problems: print(f'check_repo: {p}', file=sys.stderr)
    if not problems: print(f'check_repo: exports, clean notebooks and README are in sync; no code line over {MAX_LINE}')
    return 1 if problems else 0


if __name__ == '__main__': sys.exit(main())
