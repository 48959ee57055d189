"""Eval generation throughput, in a fresh process: sftplay's batched `generate` (what sftplay-eval and eval during
training use: length-sorted, left-padded batches) against a loop that generates one prompt at a time with the same
model, prompts and decoding settings. Prints one JSON record.

    python bench/gen_one.py --prompts 64 --new-tokens 32
"""
import argparse, json, os, resource, sys, time
from pathlib import Path
import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from run_one import peak_rss

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--prompts', type=int, default=64, help='validation rows to answer')
    p.add_argument('--new-tokens', type=int, default=32, help='generation.max_new_tokens')
    p.add_argument('--repeats', type=int, default=2, help='interleaved (loop, batched) repetitions')
    p.add_argument('--threads', type=int, default=0, help='torch threads (0 = torch default)')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    from sftplay.config import load_config
    from sftplay.models import load_tokenizer
    from sftplay.templating import encode_prompt, load_template
    from sftplay.run import generate, generation_kwargs, load_model, prompt_messages
    cfg = load_config(BENCH/'config_bench.yaml', [f'generation.max_new_tokens={a.new_tokens}', 'tuning.mode=full'])
    tok = load_tokenizer(cfg); tpl = load_template(cfg, tok)
    rows = [json.loads(l) for l in cfg.resolve(cfg.data.val_path).open()][:a.prompts]
    model = load_model(cfg).eval()
    kw = generation_kwargs(cfg, tok)
    @torch.no_grad()
    def one_at_a_time():
        out = []
        for r in rows:
            ids = torch.tensor([encode_prompt(prompt_messages(r), tok, tpl, cfg)])
            g = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)[0, ids.shape[1]:]
            out.append(tok.decode(g, skip_special_tokens=True).strip())
        return out
    def batched(): return generate(model, tok, tpl, cfg, rows)
    n_tokens = lambda outs: sum(len(tok(o, add_special_tokens=False)['input_ids']) for o in outs)
    times, outs = {'loop': [], 'batched': []}, {}
    for _ in range(a.repeats):
        for name, f in [('loop', one_at_a_time), ('batched', batched)]:
            t = time.perf_counter(); outs[name] = f(); times[name].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    toks = {k: n_tokens(v) for k, v in outs.items()}
    rec = dict(prompts=len(rows), max_new_tokens=a.new_tokens, batch_size=cfg.generation.batch_size, seconds=times,
               generated_tokens=toks, tokens_per_second={k: toks[k] / best[k] for k in best},
               speedup=(toks['batched'] / best['batched']) / (toks['loop'] / best['loop']),
               same_answers=sum(x == y for x, y in zip(outs['loop'], outs['batched'])) / len(rows),
               peak_rss=peak_rss(), threads=torch.get_num_threads(),
               load_average_end=os.getloadavg())
    print('BENCH-RECORD ' + json.dumps(rec))
    return rec

if __name__ == '__main__': main()
