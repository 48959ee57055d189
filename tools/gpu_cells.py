#!/usr/bin/env python3
"""Run the `#| gpu` cells of notebooks, and only the cells they need, the way nbdev-test would run them.

`nbdev-test --flags gpu NB` runs every unflagged cell of NB as well (minutes of CPU tests, with their own extra
packages: ipywidgets, trackio, matplotlib, IPython); on a lent GPU with a few minutes that is too slow, and one CPU test
that fails there stops the notebook before its GPU cells. This runs, in one namespace and in notebook order:
the exported and hidden cells (imports, fixtures), every earlier cell that defines a name the selected cells use
(found by reading the code, transitively), and the `#| gpu` cells, from the notebook's folder. Cells flagged with any
other flag (slow, unsloth, client, browser) or `eval: false` never run. No IPython needed: cells are plain Python.

    python tools/gpu_cells.py nbs/00_config.ipynb nbs/03_train.ipynb --out results.json
    python tools/gpu_cells.py nbs/03_train.ipynb --list          # which cells would run, and why
    python tools/gpu_cells.py nbs/03_train.ipynb --setup-only    # run everything but the GPU cells (a CPU check)
Exit status 1 when a cell failed; the JSON holds each GPU cell's status, seconds and the end of its output.
"""
import argparse, ast, contextlib, io, json, os, re, sys, time, traceback
from pathlib import Path

FLAG = re.compile(r'^#\|\s*([\w-]+)(?::\s*(\S+))?', re.M)


def flags(src:str) -> dict:
    "The `#| name` / `#| name: value` directives of a cell"
    return {m.group(1): (m.group(2) or True) for m in FLAG.finditer(src)}


def names(src:str) -> tuple:
    "(names a cell defines at top level, names it reads without defining them anywhere in the cell)"
    try: tree = ast.parse(src)
    except SyntaxError: return set(), set()
    top, local, used = set(), set(), set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): top.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            top |= {(a.asname or a.name).split('.')[0] for a in node.names if a.name != '*'}
        else: top |= {t.id for t in ast.walk(node) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
    for t in ast.walk(tree):
        if isinstance(t, ast.Name): (used if isinstance(t.ctx, ast.Load) else local).add(t.id)
        elif isinstance(t, ast.arg): local.add(t.arg)
        elif isinstance(t, ast.ExceptHandler) and t.name: local.add(t.name)
        elif isinstance(t, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): local.add(t.name)
        elif isinstance(t, (ast.Import, ast.ImportFrom)): local |= {(a.asname or a.name).split('.')[0] for a in t.names}
    return top, used - local - top


def plan(nb_path) -> list:
    "[(cell index, source, why)] of the cells to run, in notebook order"
    cells = [c for c in json.loads(Path(nb_path).read_text())['cells'] if c['cell_type'] == 'code']
    srcs = [''.join(c['source']) for c in cells]
    runnable, why = [], {}
    for i, s in enumerate(srcs):
        f = flags(s)
        if str(f.get('eval', 'true')).lower() == 'false' or set(f) & {'slow', 'unsloth', 'client', 'browser', 'notest'}:
            continue
        runnable.append(i)
        if 'gpu' in f: why[i] = 'gpu'
        elif set(f) & {'export', 'exports', 'exporti', 'hide'}: why[i] = 'export/hide'
    need = set()
    for i in reversed(runnable):
        d, u = names(srcs[i])
        if i not in why and d & need: why[i] = 'defines ' + ', '.join(sorted(d & need))
        if i in why: need = (need - d) | u
    return [(i, srcs[i], why[i]) for i in runnable if i in why]


def run(nb_path, setup_only=False, saved=lambda r: None) -> dict:
    "Run a notebook's GPU cells and their setup; per GPU cell: status, seconds, output tail (`saved` after each)"
    nb_path = Path(nb_path).resolve()
    ns, cwd = {'__name__': '__main__'}, os.getcwd()
    out = {'notebook': nb_path.name, 'setup_cells_run': 0, 'cells': [], 'ok': True}
    os.chdir(nb_path.parent)
    try:
        for i, src, why in plan(nb_path):
            gpu = why == 'gpu'
            if gpu and setup_only: continue
            buf, t0, err = io.StringIO(), time.perf_counter(), None
            try:
                with contextlib.redirect_stdout(buf): exec(compile(src, f'{nb_path.name}[{i}]', 'exec'), ns)
            except BaseException as e:
                if isinstance(e, KeyboardInterrupt): raise
                err = ''.join(traceback.format_exception(e))[-3000:]
            secs, text = time.perf_counter() - t0, buf.getvalue()
            if not gpu and err is None: out['setup_cells_run'] += 1
            if gpu or err:
                print(f'{nb_path.name} cell {i} ({why}): {"FAILED" if err else "ok"} in {secs:.1f} s', flush=True)
                if text.strip(): print('  ' + text.strip().replace('\n', '\n  ')[-2000:], flush=True)
                if err: print(err, file=sys.stderr, flush=True)
                out['cells'].append({'cell': i, 'why': why, 'ok': err is None, 'seconds': round(secs, 2),
                                     'output': text[-2000:], 'error': err})
                saved(out)
            if err:
                out['ok'] = False
                if not gpu: break  # a setup cell failed: the GPU cells after it would fail for that reason
    finally: os.chdir(cwd)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='+')
    p.add_argument('--out', help='write the results as JSON here')
    p.add_argument('--list', action='store_true', help='only list the cells that would run, and why')
    p.add_argument('--setup-only', action='store_true', help='run the cells the GPU cells need, not the GPU cells')
    a = p.parse_args(argv)
    if a.list:
        for nb in a.notebooks:
            for i, src, why in plan(nb): print(f'{nb} cell {i:3d}: {why:28.28s} {src.splitlines()[0][:70]!r}')
        return 0
    res = []
    def save(r):  # after every cell: a run cut short by a time limit keeps what it had
        if a.out: Path(a.out).write_text(json.dumps([*res, r], indent=1) + '\n')
    for nb in a.notebooks:
        r = run(nb, a.setup_only, save); res.append(r)
        if a.out: Path(a.out).write_text(json.dumps(res, indent=1) + '\n')
    return 0 if all(r['ok'] for r in res) else 1


if __name__ == '__main__': sys.exit(main())
