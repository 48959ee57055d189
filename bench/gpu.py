"""`make bench-gpu`: the GPU section of the benchmark; it runs only where CUDA is present.

1. The training comparison of bench.py (sftplay's defaults vs TRL's SFTTrainer defaults and its best packing), in the
   precision sftplay's `precision: auto` picks (bf16, or fp16), with peak VRAM in place of peak RSS.
2. The memory estimator (sftplay.config.estimate_memory, through sftplay.train.plan_for, which train() calls) against
   the peak VRAM each run measured.
3. The 8 GB promise held to a 7B-class model: a Llama-2-7B-shaped architecture (random weights from its config, saved
   locally) in QLoRA at max_seq_len 512, micro-batch 1, gradient checkpointing, must train with peak VRAM under 8 GiB.

    .venv-bench/bin/python bench/gpu.py              # everything (~15 minutes on one H100; the 7B model needs ~14 GB of disk)
    .venv-bench/bin/python bench/gpu.py --skip-7b    # 1 and 2 only
Writes bench/results/gpu.json and bench/results/README_gpu_table.md.
"""
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import workload as W

LLAMA2_7B = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-5, tie_word_embeddings=False)
GIB = 2**30

def say(*a): print(*a, flush=True)

def one(spec:dict) -> dict:
    "In this (fresh) process: train per `spec` with sftplay; the memory plan train() made and the peak VRAM it reached"
    import torch
    import sftplay.train as T
    from sftplay.config import load_config
    plans = []
    def plan_for(*a, **kw):
        plans.append(T_plan_for(*a, **kw)); return plans[-1]
    T_plan_for, T.plan_for = T.plan_for, plan_for  # train() looks plan_for up in its module: record what it returns
    cfg = load_config(spec['config'], spec['sets'])
    torch.cuda.reset_peak_memory_stats()
    free0 = torch.cuda.mem_get_info()[0]
    res = T.train(cfg, quiet=True)
    p = plans[0]
    logs = [json.loads(l) for l in (res.out_dir/'logs.jsonl').open()]
    losses = [x['loss'] for x in logs if 'loss' in x]
    return dict(name=spec['name'], sets=spec['sets'], plan=str(p), estimate=p.estimate, estimate_total=p.estimate['total'],
                micro_batch=p.micro_batch_size, grad_accum=p.grad_accum, free_before=free0,
                peak_allocated=torch.cuda.max_memory_allocated(), peak_reserved=torch.cuda.max_memory_reserved(),
                tokens_per_second=res.tokens_per_second, seconds=res.seconds, steps=res.steps, first_loss=losses[0], last_loss=losses[-1],
                device=torch.cuda.get_device_name(0))

def run_one_spec(spec:dict) -> dict:
    "`one(spec)` in a fresh process (so each peak VRAM is that run's own)"
    out = BENCH/f"work/gpu_{spec['name']}.json"
    cmd = [sys.executable, __file__, '--one', json.dumps(spec), '--out', str(out)]
    r = subprocess.run(cmd, cwd=ROOT, env={**os.environ, 'HF_HUB_OFFLINE': '1', 'TOKENIZERS_PARALLELISM': 'false'})
    if r.returncode: raise RuntimeError(f"gpu run {spec['name']} failed ({r.returncode})")
    return json.loads(out.read_text())

def build_7b(dest:Path, tokenizer_from:Path) -> Path:
    "A Llama-2-7B-shaped model with random weights (bf16 safetensors) and the benchmark's tokenizer, saved in `dest` once"
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    if (dest/'config.json').exists(): return dest
    tok = AutoTokenizer.from_pretrained(tokenizer_from)
    c = LlamaConfig(**LLAMA2_7B, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    with torch.device('cuda'): model = LlamaForCausalLM(c).to(torch.bfloat16)  # random init on the GPU: seconds, not minutes
    tmp = dest.with_name(dest.name + '.partial')
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp); tok.save_pretrained(tmp)
    n = sum(p.numel() for p in model.parameters())
    del model; torch.cuda.empty_cache()
    os.replace(tmp, dest)
    say(f'  built {dest} ({n / 1e9:.2f}B parameters)')
    return dest

def long_rows(n:int=64) -> Path:
    "The `n` longest benchmark rows (close to max_seq_len 512), for the 7B run"
    p = BENCH/'work/data/long.jsonl'
    rows = [json.loads(l) for l in (BENCH/'work/data/train.jsonl').open()]
    rows.sort(key=lambda r: -len(r['user']) - len(r['assistant']))
    p.write_text(''.join(json.dumps(r) + '\n' for r in rows[:n]))
    return p

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--one', help=argparse.SUPPRESS)
    p.add_argument('--out', default=None, help=argparse.SUPPRESS)
    p.add_argument('--skip-7b', action='store_true', help='leave out the 7B QLoRA check')
    p.add_argument('--rows', type=int, default=256, help='training rows per comparison run')
    p.add_argument('--rounds', type=int, default=3, help='interleaved rounds per mode')
    a = p.parse_args(argv)
    import torch
    if a.one:
        rec = one(json.loads(a.one)); Path(a.out).write_text(json.dumps(rec)); return rec
    if not torch.cuda.is_available():
        say('bench-gpu: no CUDA device here; the GPU section runs only where one is present (make bench measures the CPU)')
        sys.exit(1)
    import bench
    t0, dev = time.perf_counter(), torch.cuda.get_device_name(0)
    paths = W.build(BENCH/'work')
    res = {'device': dev, 'machine': bench.machine(), 'params': W.n_params(paths['model'])}
    say(f'bench-gpu: {dev}; 1. sftplay vs TRL, {a.rows} rows per run')
    res['training'] = bench.train_runs(a.rows, a.rounds, ['lora', 'full'], [1, 2, 4], 64, bench.packed_batch(a.rows), threads=0)
    res['training_summary'] = bench.summarize(res['training'])
    say('bench-gpu: 2. the memory estimate against measured peak VRAM')
    cfgp = str(BENCH/'config_bench.yaml')
    specs = [dict(name=f'{mode}-{mb}', config=cfgp, sets=[f'tuning.mode={mode}', f'train.micro_batch_size={mb}', 'train.max_steps=4',
                                                          f'data.train_path={long_rows()}'])
             for mode in ['qlora', 'lora', 'full'] for mb in [1, 8]]
    res['estimator'] = [run_one_spec(s) for s in specs]
    for r in res['estimator']:
        say(f"  {r['name']:8s} estimate {r['estimate_total'] / GIB:6.2f} GiB, measured peak {r['peak_allocated'] / GIB:6.2f} GiB allocated "
            f"({r['peak_reserved'] / GIB:.2f} reserved): estimate / measured {r['estimate_total'] / r['peak_allocated']:.2f}")
    if not a.skip_7b:
        say('bench-gpu: 3. Llama-2-7B shape, QLoRA, max_seq_len 512, micro-batch 1, gradient checkpointing')
        m7 = build_7b(BENCH/'work/llama2-7b-random', BENCH/'work/model')
        spec = dict(name='llama2-7b-qlora', config=cfgp, sets=[f'model.name={m7}', 'tuning.mode=qlora', 'model.max_seq_len=512',
                    'train.micro_batch_size=1', 'train.effective_batch_size=8', 'train.gradient_checkpointing=true', 'train.max_steps=4',
                    f'data.train_path={long_rows()}'])
        r = res['llama2_7b_qlora'] = run_one_spec(spec)
        r['under_8gib'] = r['peak_allocated'] < 8 * GIB and r['peak_reserved'] < 8 * GIB
        say(f"  peak VRAM {r['peak_allocated'] / GIB:.2f} GiB allocated, {r['peak_reserved'] / GIB:.2f} GiB reserved (estimate "
            f"{r['estimate_total'] / GIB:.2f} GiB); loss {r['first_loss']:.3f} -> {r['last_loss']:.3f}; under 8 GiB: {r['under_8gib']}")
    res['seconds'] = time.perf_counter() - t0
    out = BENCH/'results'; out.mkdir(exist_ok=True)
    (out/'gpu.json').write_text(json.dumps(res, indent=1, default=str) + '\n')
    (out/'README_gpu_table.md').write_text(gpu_table(res))
    say(gpu_table(res))
    if not a.skip_7b and not res['llama2_7b_qlora']['under_8gib']: sys.exit('bench-gpu: the 7B QLoRA run did not stay under 8 GiB')
    return res

def gpu_table(res:dict) -> str:
    "The GPU figures as markdown"
    s = res['training_summary']
    lines = [f"GPU: {res['device']} (`make bench-gpu`). Same workload as the CPU table, bf16/fp16 as `precision: auto` picks; memory is peak VRAM allocated.", '',
             '| mode | setup | real tokens/s (median) | sftplay / setup (median, min-max) | peak VRAM GiB |', '|---|---|---:|---:|---:|']
    for mode, m in s.items():
        for k in ['sftplay', 'trl_default', 'trl_packing']:
            x = m[k]
            ratio = '' if k == 'sftplay' else f"{x['speed_ratio_median']:.2f}x ({x['speed_ratio_min']:.2f}-{x['speed_ratio_max']:.2f})"
            lines.append(f"| {mode} | {k} | {x['tokens_per_second_median']:,.0f} | {ratio} | {x['peak_memory_median'] / GIB:.2f} |")
    lines += ['', '| run | micro-batch | estimate GiB | peak allocated GiB | peak reserved GiB | estimate / allocated |', '|---|---:|---:|---:|---:|---:|']
    runs = res['estimator'] + ([res['llama2_7b_qlora']] if 'llama2_7b_qlora' in res else [])
    lines += [f"| {r['name']} | {r['micro_batch']} | {r['estimate_total'] / GIB:.2f} | {r['peak_allocated'] / GIB:.2f} | {r['peak_reserved'] / GIB:.2f} | "
              f"{r['estimate_total'] / r['peak_allocated']:.2f} |" for r in runs]
    if 'llama2_7b_qlora' in res:
        r = res['llama2_7b_qlora']
        lines += ['', f"Llama-2-7B shape (6.7B parameters, random weights) in QLoRA, max_seq_len 512, micro-batch 1, gradient checkpointing: "
                  f"peak VRAM {r['peak_allocated'] / GIB:.2f} GiB allocated / {r['peak_reserved'] / GIB:.2f} GiB reserved: "
                  f"{'under' if r['under_8gib'] else 'NOT under'} 8 GiB."]
    return '\n'.join(lines) + '\n'

if __name__ == '__main__': main()
