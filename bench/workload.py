"""The benchmark's workload, shared by every run: one Llama-architecture model with random weights and a BPE tokenizer
trained on local text, and chat rows whose lengths are long-tailed (the shipped sample plus multi-request rows).
Nothing here imports TRL."""
import json, random
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT/'data/raw/intents.jsonl'
SYSTEM = 'Reply with one JSON object: {"intent": ..., "slots": {...}}. No prose.'
SYSTEM_MANY = ('Reply with one JSON list holding one {"intent": ..., "slots": {...}} object per request, in order. No '
               'prose.')
# The model: Llama blocks, tied embeddings, random weights (what is measured is speed, memory and loss on equal work).
SHAPE = dict(vocab_size=8192, hidden=256, layers=10, heads=4, intermediate=1024)
MAX_LEN = 512       # model.max_seq_len = TRL max_length; every row fits, so neither side truncates
EFF_BATCH = 16      # rows per optimizer step (sftplay's default train.effective_batch_size)
LR = 2e-4           # sftplay's default learning rate, both modes and both trainers
WARMUP = 0.03       # sftplay's default warmup ratio
SEED = 42
LONG_SHARE = 0.4    # share of multi-request rows in the training set

def sample_rows() -> list:
    "The shipped sample as `{id, input, output}` rows"
    return [json.loads(l) for l in SAMPLE.open(encoding='utf-8')]

def chat_rows(n:int, seed:int=SEED) -> list:
    ("`n` chat rows `{id, system, user, assistant}`: sample rows, and a `LONG_SHARE` of rows carrying k requests, k "
     "long-tailed")
    rng, base = random.Random(seed), sample_rows()
    out = []
    for i in range(n):
        if rng.random() >= LONG_SHARE:
            r = rng.choice(base)
            out.append({'id': f'b{i}', 'system': SYSTEM, 'user': r['input'], 'assistant': r['output']})
            continue
        k = int(min(8, max(2, round(rng.lognormvariate(np.log(3.5), 0.75)))))
        rs = rng.sample(base, k)
        user = 'Handle these requests in order:\n' + '\n'.join(f'{j}. {r["input"]}' for j, r in enumerate(rs, 1))
        out.append({'id': f'b{i}', 'system': SYSTEM_MANY, 'user': user,
                    'assistant': '[' + ', '.join(r['output'] for r in rs) + ']'})
    return out

def messages(row:dict) -> list:
    "The row as a message list (the conversational format TRL reads)"
    return [{'role': 'system', 'content': row['system']}, {'role': 'user', 'content': row['user']},
            {'role': 'assistant', 'content': row['assistant']}]

def build(work) -> dict:
    "Build the model and the training rows in `work` (once); returns the paths"
    from sftplay.models import build_tiny, corpus_from
    from sftplay.data import write_jsonl
    work = Path(work); model, data = work/'model', work/'data'
    if not (model/'config.json').exists():
        texts = corpus_from([SAMPLE], extra=[SYSTEM, SYSTEM_MANY, 'Handle these requests in order:'])
        build_tiny(model, 'causal', texts, vocab_size=SHAPE['vocab_size'], hidden=SHAPE['hidden'],
                   layers=SHAPE['layers'], heads=SHAPE['heads'], intermediate=SHAPE['intermediate'], seed=SEED)
    if not (data/'train.jsonl').exists():
        rows = chat_rows(4096)
        write_jsonl(data/'train.jsonl', rows)
        write_jsonl(data/'val.jsonl', chat_rows(256, seed=SEED + 1))
    return {'model': str(model), 'train': str(data/'train.jsonl'), 'val': str(data/'val.jsonl')}

def n_params(model_dir) -> int:
    "Parameters of the benchmark model (tied embeddings counted once)"
    from safetensors import safe_open
    with safe_open(str(Path(model_dir)/'model.safetensors'), 'pt') as f:
        return sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())

def length_stats(paths:dict, rows:int) -> dict:
    "Token lengths of the first `rows` training rows (the model's chat template): percentiles, mean, max"
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(paths['model'])
    lines = Path(paths['train']).read_text().splitlines()[:rows]
    n = np.array([len(tok.apply_chat_template(messages(json.loads(l)), return_dict=False)) for l in lines])
    return {'p10': int(np.percentile(n, 10)), 'p50': int(np.percentile(n, 50)), 'p90': int(np.percentile(n, 90)),
            'p99': int(np.percentile(n, 99)), 'max': int(n.max()), 'mean': round(float(n.mean()), 1)}
