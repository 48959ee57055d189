#!/usr/bin/env python3
"""Regenerate configs/config_base.yaml from the config schema (nbs/00_config.ipynb): every key, its default and its
comment. Run after adding a key to the schema; `--check` exits 1 when the file is out of date."""
import sys
from pathlib import Path
from sftplay.config import Config, dump_config

ROOT = Path(__file__).resolve().parent.parent
HEAD = ('# sftplay base config: stable defaults you rarely touch. Run files name it with `base: config_base.yaml`\n'
        '# and override any key. Every key of the schema is listed here with what it does and what it costs.\n')

text = HEAD + dump_config(Config())
path = ROOT/'configs/config_base.yaml'
if '--check' in sys.argv:
    if path.read_text() != text:
        sys.exit('configs/config_base.yaml is out of date with the schema: run `python tools/base_config.py`')
else:
    path.write_text(text); print(f'wrote {path}')
