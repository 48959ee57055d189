#!/usr/bin/env python3
"""README.md is generated from nbs/index.ipynb: markdown cells as they are, code cells as fenced blocks
(cells whose first line is a `#| hide` directive are left out). Works offline; quarto is not needed.

  python tools/readme.py          # write README.md
  python tools/readme.py --check  # exit 1 if README.md differs from what the notebook gives
"""
import sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parent.parent
HEADER = '<!-- Generated from nbs/index.ipynb by `make readme`: edit the notebook, not this file. -->\n\n'


def render(nb) -> str:
    parts = []
    for c in nb.cells:
        src = c.source.strip()
        if not src: continue
        if c.cell_type == 'markdown': parts.append(src)
        elif c.cell_type == 'code':
            lines = src.splitlines()
            if any(l.replace(' ', '') in ('#|hide', '#|hide_input') for l in lines if l.startswith('#|')): continue
            body = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
            if body: parts.append(f'```python\n{body}\n```')
    return HEADER + '\n\n'.join(parts) + '\n'


def main(argv):
    text = render(nbformat.read(ROOT/'nbs/index.ipynb', as_version=4))
    readme = ROOT/'README.md'
    if '--check' in argv:
        if not readme.exists() or readme.read_text() != text:
            print('README.md is out of date with nbs/index.ipynb: run `make readme` and commit README.md',
                  file=sys.stderr)
            return 1
        return 0
    readme.write_text(text)
    print(f'wrote {readme}')
    return 0


if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
