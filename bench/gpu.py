"""`make bench-gpu` (and `tools/gpu_check.sh`): what a CUDA GPU shows about sftplay, in one run held to a time budget.

Sections, in this order; a section that would not fit in the time left is skipped and says so in gpu.json:
  modes      bf16 LoRA, QLoRA (4-bit NF4) and full fine-tuning of a Llama-shaped model of 0.85B parameters (random
             weights), each a fresh process with the planner's own micro-batch: real tokens/s, peak VRAM
             (torch.cuda.max_memory_allocated, and reserved) and the planner's estimate beside it.
  llama2-7b  the 8 GB promise: a Llama-2-7B-shaped model (random weights) in QLoRA at max_seq_len 512 with the planner's
             own choices, in a process held to 8 GiB (torch.cuda.set_per_process_memory_fraction): it must not run out
             of memory, its peak must stay under 8 GiB and the estimate within 15% of the measured peak.
  packed     packed_sdpa against padded sdpa on CUDA in bf16: loss and gradients agree within bf16's own noise (the
             padded run in bf16 against fp32), and forward+backward speed of packed_sdpa, of the same packed rows
             through stock sdpa (a dense block-diagonal mask) and of the rows padded.
  budget     the planner under the same pretend 8 GiB budget for the 0.85B model: modes it plans as fitting must
             run without running out of memory; a mode it says cannot fit (full) is reported, not run.
  eval-merge sftplay-eval (batched generation) and sftplay-merge (with its logits check) of the LoRA run, on the GPU.
  trl        sftplay against TRL's SFTTrainer (its defaults, and its packing) on the 0.85B model and the benchmark
             rows in bf16, lora and full, each run a fresh process, as `make bench` does on CPU.
Writes OUT/gpu.json after every section (OUT: --out, default bench/results) and OUT/README_gpu_table.md at the end.

    python bench/gpu.py                          # every section within --budget seconds (default 420)
    python bench/gpu.py --only modes,llama2-7b   # some sections
    python bench/gpu.py --cpu-smoke              # every section with tiny shapes on CPU: checks the script only
Without a CUDA device (and without --cpu-smoke) it stops with one line and exit status 1.
"""
import argparse, json, math, os, shutil, statistics, subprocess, sys, time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import workload as W

GIB = 2**30
BUDGET_GIB = 8  # the pretend GPU of the llama2-7b and budget sections
# Llama-shaped, 0.85B parameters: TinyLlama's width (hidden 2048, MLP 5632, 32 heads, 8 KV heads), 16 layers.
LLAMA_1B = dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=16,
                num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=4096, rms_norm_eps=1e-5,
                tie_word_embeddings=False)
LLAMA2_7B = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-5,
                 tie_word_embeddings=False)
# --cpu-smoke: the same code paths on shapes a CPU trains in seconds
SMOKE_1B = dict(LLAMA_1B, vocab_size=8192, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2)
SMOKE_7B = dict(SMOKE_1B, hidden_size=128, intermediate_size=256)
SECTIONS = ['modes', 'llama2-7b', 'packed', 'budget', 'eval-merge', 'trl']
# seconds each section is expected to take: guesses (nothing has run on a GPU yet), to skip what cannot fit
COST = {'modes': 75, 'llama2-7b': 120, 'packed': 30, 'budget': 60, 'eval-merge': 45, 'trl': 120}

def say(*a): print(*a, flush=True)

def cuda() -> bool:
    import torch
    return torch.cuda.is_available()

# --- building the models --------------------------------------------------------------------------------------------

def build_model(dest:Path, shape:dict, tokenizer_from:Path) -> Path:
    "A Llama model of `shape`, random weights (bf16 safetensors), with the benchmark's tokenizer, saved in `dest` once"
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    if (dest/'config.json').exists(): return dest
    tok = AutoTokenizer.from_pretrained(tokenizer_from)
    c = LlamaConfig(**shape, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                    eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    with torch.device('cuda' if cuda() else 'cpu'):  # random init on the GPU: seconds, not minutes
        model = LlamaForCausalLM(c).to(torch.bfloat16)
    tmp = dest.with_name(dest.name + '.partial')
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp); tok.save_pretrained(tmp)
    n = sum(p.numel() for p in model.parameters())
    del model
    if cuda(): torch.cuda.empty_cache()
    os.replace(tmp, dest)
    say(f'  built {dest.name}: {n / 1e9:.2f}B parameters')
    return dest

def n_params(model_dir) -> int:
    "Parameters stored in a model folder (every safetensors shard)"
    from safetensors import safe_open
    n = 0
    for f in Path(model_dir).glob('*.safetensors'):
        with safe_open(str(f), 'pt') as st: n += sum(int(math.prod(st.get_slice(k).get_shape())) for k in st.keys())
    return n

def long_rows(n:int=192, k:int=12) -> Path:
    "`n` chat rows of `k` requests each, over 512 tokens: each is cut to max_seq_len (what the planner assumes)"
    import random
    p = BENCH/f'work/data/long_{n}_{k}.jsonl'
    if p.exists(): return p
    rng, base = random.Random(W.SEED), W.sample_rows()
    rows = []
    for i in range(n):
        rs = rng.sample(base, k)
        user = 'Handle these requests in order:\n' + '\n'.join(f'{j}. {r["input"]}' for j, r in enumerate(rs, 1))
        rows.append({'id': f'long{i}', 'system': W.SYSTEM_MANY, 'user': user,
                     'assistant': '[' + ', '.join(r['output'] for r in rs) + ']'})
    p.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return p

# --- one training run in a fresh process ----------------------------------------------------------------------------

def one(spec:dict) -> dict:
    "In this (fresh) process: train per `spec` with sftplay; the plan train() made, peak memory, tokens/s, OOM or not"
    import torch
    import sftplay.train as T
    from sftplay.config import load_config
    on_gpu = torch.cuda.is_available()
    if on_gpu and spec.get('budget_gib'):  # a pretend smaller GPU: the caching allocator refuses to go past it
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(spec['budget_gib'] * GIB / total)
    plans = []
    class Unfit(Exception): pass
    def plan_for(*a, **kw):
        plans.append(T_plan_for(*a, **kw))
        if spec.get('skip_unfit') and not plans[-1].fits: raise Unfit()
        return plans[-1]
    T_plan_for, T.plan_for = T.plan_for, plan_for  # train() looks plan_for up in its module: record what it returns
    cfg = load_config(spec['config'], spec['sets'])
    if on_gpu: torch.cuda.reset_peak_memory_stats()
    rec, res = dict(name=spec['name'], sets=spec['sets'], budget_gib=spec.get('budget_gib'), oom=False, ran=True), None
    try: res = T.train(cfg, quiet=True)
    except Unfit: rec['ran'] = False
    except torch.OutOfMemoryError as e: rec.update(oom=True, error=str(e).splitlines()[0][:300])
    p = plans[0] if plans else None
    peak = torch.cuda.max_memory_allocated() if on_gpu else T.peak_memory()
    rec.update(plan=str(p), fits=p.fits if p else None, free_seen=p.free_bytes if p else None,
               estimate=p.estimate if p else None, estimate_total=p.estimate['total'] if p else None,
               micro_batch=p.micro_batch_size if p else None, grad_accum=p.grad_accum if p else None,
               peak_allocated=peak, peak_reserved=torch.cuda.max_memory_reserved() if on_gpu else peak,
               device=torch.cuda.get_device_name(0) if on_gpu else 'cpu')
    if res is not None:
        logs = T.read_logs(res.out_dir)
        tps = [x['tokens_per_second'] for x in logs if 'tokens_per_second' in x]
        losses = [x['loss'] for x in logs if 'loss' in x]
        rec.update(run=res.out_dir.name, adapter_dir=str(res.adapter_dir), steps=res.steps, seconds=res.seconds,
                   tokens_per_second=res.tokens_per_second,  # the whole run, first step (kernel set-up) included
                   tokens_per_second_steady=statistics.median(tps[1:]) if len(tps) > 1 else None,
                   first_loss=losses[0], last_loss=losses[-1])
    if rec['estimate_total'] and rec['ran'] and not rec['oom']:
        rec['estimate_over_peak'] = rec['estimate_total'] / rec['peak_allocated']
    return rec

def in_fresh_process(args:list, out:Path, timeout:float) -> dict:
    "Run this script with `args` in a fresh process (so each peak is that process's own); the JSON it wrote to `out`"
    cmd = [sys.executable, __file__, *args, '--result', str(out)]
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'TOKENIZERS_PARALLELISM': 'false'}
    try: r = subprocess.run(cmd, cwd=ROOT, env=env, timeout=timeout)
    except subprocess.TimeoutExpired: return {'error': f'timed out after {timeout:.0f} s'}
    if r.returncode or not out.exists(): return {'error': f'exit status {r.returncode} (output above)'}
    return json.loads(out.read_text())

def run_spec(spec:dict, timeout:float) -> dict:
    out = BENCH/f"work/gpu/{spec['name']}.json"
    out.unlink(missing_ok=True)
    return {'name': spec['name'], **in_fresh_process(['--one', json.dumps(spec)], out, timeout)}

SMOKE_SETS = []  # --cpu-smoke: fewer rows per step, so that two cores get through it

def spec(name:str, model:Path, mode:str, rows:Path, steps:int, budget_gib=None, skip_unfit=False, extra=()) -> dict:
    sets = [f'model.name={model}', f'tuning.mode={mode}', 'model.max_seq_len=512', f'data.train_path={rows}',
            f'train.max_steps={steps}', f'logging.run_name=gpu-{name}', 'logging.log_interval=1', *SMOKE_SETS, *extra]
    return dict(name=name, config=str(BENCH/'config_bench.yaml'), sets=sets, budget_gib=budget_gib,
                skip_unfit=skip_unfit)

# --- packed_sdpa against padded sdpa --------------------------------------------------------------------------------

def packed_check(model_dir:str, rows:int=16, reps:int=5) -> dict:
    "In this process: loss and gradients of packed rows (packed_sdpa) against the same rows padded (sdpa), and speeds"
    import torch
    from transformers import AutoModelForCausalLM
    from sftplay.config import load_config
    from sftplay.models import load_tokenizer
    from sftplay.templating import SFTCollator, SFTDataset, load_template
    from sftplay.train import PACKED_SDPA
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    cfg = load_config(BENCH/'config_bench.yaml', [f'model.name={model_dir}', 'tuning.mode=full'])
    tok = load_tokenizer(cfg); tpl = load_template(cfg, tok)
    data = [json.loads(l) for l in (BENCH/'work/data/train.jsonl').open()][:rows]
    items = [SFTDataset(data, tok, tpl, cfg)[i] for i in range(rows)]
    padded = SFTCollator(tok, load_config(BENCH/'config_bench.yaml', ['template.packing=false']))(items)
    packed = SFTCollator(tok, cfg)(items)
    on = lambda b: {k: v.to(dev) if hasattr(v, 'to') else v for k, v in b.items()}
    def loss_grads(dtype, batch, attn):
        m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(dev)
        m.set_attn_implementation(attn)
        loss = m(**on(batch)).loss
        loss.backward()
        g = torch.cat([p.grad.float().flatten() for p in m.parameters() if p.grad is not None])
        del m
        return loss.item(), g
    rel = lambda a, b: ((a - b).norm() / b.norm()).item()
    l32, g32 = loss_grads(torch.float32, padded, 'sdpa')
    lpad, gpad = loss_grads(torch.bfloat16, padded, 'sdpa')
    lpk, gpk = loss_grads(torch.bfloat16, packed, PACKED_SDPA)
    lpk32, gpk32 = loss_grads(torch.float32, packed, PACKED_SDPA)
    res = dict(rows=rows, tokens=int(packed['input_ids'].numel()), padded_slots=int(padded['input_ids'].numel()),
               loss_padded_fp32=l32, loss_padded_bf16=lpad, loss_packed_bf16=lpk, loss_packed_fp32=lpk32,
               loss_rel_diff_bf16=abs(lpk - lpad) / lpad, loss_rel_diff_fp32=abs(lpk32 - l32) / l32,
               grad_rel_diff_bf16=rel(gpk, gpad), grad_rel_diff_fp32=rel(gpk32, g32),
               bf16_noise=rel(gpad, g32),
               grad_cosine_bf16=torch.nn.functional.cosine_similarity(gpk, gpad, dim=0).item())
    del g32, gpad, gpk, gpk32
    # within bf16's own noise: packed vs padded (both bf16) differ no more than padded bf16 differs from fp32 (x2)
    res['same_within_bf16'] = (res['loss_rel_diff_bf16'] < 1e-2
                               and res['grad_rel_diff_bf16'] <= 2 * res['bf16_noise'] + 1e-3)
    m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).to(dev)
    def timed(batch, attn):
        m.set_attn_implementation(attn)
        b = on(batch)
        ts = []
        for i in range(reps + 2):
            if dev == 'cuda': torch.cuda.synchronize()
            t = time.perf_counter()
            m(**b).loss.backward()
            if dev == 'cuda': torch.cuda.synchronize()
            ts.append(time.perf_counter() - t); m.zero_grad(set_to_none=True)
        return statistics.median(ts[2:])
    real = int(packed['input_ids'].numel())
    for name, batch, attn in [('packed_sdpa', packed, PACKED_SDPA), ('packed_dense_mask', packed, 'sdpa'),
                              ('padded', padded, 'sdpa')]:
        s = timed(batch, attn)
        res[f'{name}_seconds'], res[f'{name}_tokens_per_second'] = s, real / s
    return res

# --- generation and merge -------------------------------------------------------------------------------------------

def cli(cmd:str) -> str:
    "A console script of this environment: beside the interpreter (a venv), else on PATH"
    exe = Path(sys.executable).parent/cmd
    return str(exe) if exe.exists() else (shutil.which(cmd) or cmd)

def eval_merge(run:str, model:Path, rows:Path, timeout:float) -> dict:
    "sftplay-eval (generation on 32 training rows) and sftplay-merge of the run `run`, each a fresh process"
    sets = ['--set', f'model.name={model}', '--set', f'data.train_path={rows}', '--set', f'logging.run_name={run}',
            '--set', 'generation.max_new_tokens=48']
    out, env = {}, {**os.environ, 'HF_HUB_OFFLINE': '1', 'TOKENIZERS_PARALLELISM': 'false'}
    t_end = time.monotonic() + timeout
    for name, args in [('eval', ['--split', 'train', '--max-rows', '32']), ('merge', [])]:
        t0 = time.perf_counter()
        try:
            r = subprocess.run([cli(f'sftplay-{name}'), '--config', str(BENCH/'config_bench.yaml'), *sets, *args],
                               cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=max(10, t_end - time.monotonic()))
            out[name] = dict(rc=r.returncode, seconds=time.perf_counter() - t0, stdout=r.stdout[-1500:],
                             stderr=r.stderr[-1500:])
        except subprocess.TimeoutExpired: out[name] = dict(rc=None, error='timed out')
        say(f"  sftplay-{name}: exit {out[name].get('rc')} in {out[name].get('seconds', 0):.1f} s")
    m = BENCH/f'work/runs/{run}/metrics.json'
    if m.exists(): out['eval']['metrics'] = json.loads(m.read_text())
    return out

# --- the run --------------------------------------------------------------------------------------------------------

class Clock:
    "The time budget of the whole run"
    def __init__(self, seconds:float): self.end = time.monotonic() + seconds
    def left(self) -> float: return self.end - time.monotonic()

def environment() -> dict:
    import importlib.metadata as md, platform, torch
    v = {}
    for p in ['torch', 'transformers', 'peft', 'accelerate', 'bitsandbytes', 'trl', 'datasets', 'tokenizers']:
        try: v[p] = md.version(p)
        except md.PackageNotFoundError: v[p] = None
    d = dict(python=platform.python_version(), versions=v, cuda=torch.cuda.is_available())
    if d['cuda']:
        p = torch.cuda.get_device_properties(0)
        d.update(device=p.name, total_memory=p.total_memory, capability=f'{p.major}.{p.minor}',
                 cuda_version=torch.version.cuda, bf16=torch.cuda.is_bf16_supported())
    return d

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--only', default=','.join(SECTIONS), help='comma-separated sections: ' + ', '.join(SECTIONS))
    p.add_argument('--budget', type=float, default=420, help='seconds for the whole run; what would not fit is skipped')
    p.add_argument('--out', help='folder for gpu.json and README_gpu_table.md (bench/results; smoke: bench/work/smoke)')
    p.add_argument('--cpu-smoke', action='store_true', help='tiny shapes on CPU (checks the script only)')
    p.add_argument('--trl-rows', type=int, default=128, help='training rows per sftplay / TRL run')
    p.add_argument('--trl-rounds', type=int, default=1, help='interleaved rounds of the sftplay / TRL comparison')
    p.add_argument('--one', help=argparse.SUPPRESS)
    p.add_argument('--packed', help=argparse.SUPPRESS)
    p.add_argument('--result', help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one or a.packed:  # a child process: one measurement, written as JSON
        rec = one(json.loads(a.one)) if a.one else packed_check(a.packed, reps=2 if not cuda() else 5)
        Path(a.result).write_text(json.dumps(rec, default=str)); return rec
    if not cuda() and not a.cpu_smoke:
        import torch
        sys.exit(f'bench-gpu: no CUDA device here (torch {torch.__version__}, torch.cuda.is_available() is False); '
                 'run it on a GPU machine, or with --cpu-smoke to check the script on CPU')
    clock, smoke = Clock(a.budget), a.cpu_smoke
    if smoke: SMOKE_SETS[:] = ['train.effective_batch_size=4']
    only = [s for s in a.only.split(',') if s]
    if bad := set(only) - set(SECTIONS): sys.exit(f'bench-gpu: unknown section(s) {sorted(bad)}; choose {SECTIONS}')
    out = Path(a.out or BENCH/('work/smoke' if smoke else 'results')); out.mkdir(parents=True, exist_ok=True)
    (BENCH/'work/gpu').mkdir(parents=True, exist_ok=True)
    res = {'environment': environment(), 'cpu_smoke': smoke, 'budget_seconds': a.budget, 'sections': {}}
    save = lambda: (out/'gpu.json').write_text(json.dumps(res, indent=1, default=str) + '\n')
    say(f"bench-gpu: {res['environment'].get('device', 'CPU (smoke run)')}; {res['environment']['versions']}")
    paths = W.build(BENCH/'work')
    rows = long_rows()
    shape1, shape7 = (SMOKE_1B, SMOKE_7B) if smoke else (LLAMA_1B, LLAMA2_7B)
    m1 = build_model(BENCH/('work/smoke-llama-1b' if smoke else 'work/llama-0.85b-random'), shape1,
                     Path(paths['model']))
    res['model_1b'] = {'path': str(m1), 'shape': shape1, 'parameters': n_params(m1)}
    steps = 2 if smoke else 6
    for name in SECTIONS:
        if name not in only: continue
        if clock.left() < COST[name] * (0.2 if smoke else 1):
            res['sections'][name] = {'skipped': f'{clock.left():.0f} s left of the budget; it needs ~{COST[name]} s'}
            say(f'bench-gpu: {name}: skipped ({res["sections"][name]["skipped"]})'); save(); continue
        say(f'bench-gpu: {name} ({clock.left():.0f} s left)')
        t0, limit = time.perf_counter(), max(30, clock.left() - 5)
        try: res['sections'][name] = SECTION[name](m1=m1, shape7=shape7, rows=rows, steps=steps, limit=limit, a=a,
                                                    res=res)
        except Exception as e:  # one broken section must not lose the others' figures
            import traceback
            res['sections'][name] = {'error': ''.join(traceback.format_exception(e))[-3000:]}
            say(f'bench-gpu: {name} FAILED: {type(e).__name__}: {e}')
        res['sections'][name]['section_seconds'] = time.perf_counter() - t0
        save()
    res['checks'] = checks(res)
    save()
    (out/'README_gpu_table.md').write_text(gpu_table(res))
    say(gpu_table(res))
    failed = [k for k, v in res['checks'].items() if v is False]
    if failed: sys.exit(f'bench-gpu: checks failed: {", ".join(failed)} (see {out}/gpu.json)')
    return res

def _modes(m1, rows, steps, limit, **_):
    t_end, runs = time.monotonic() + limit, []
    for mode in ['lora', 'qlora', 'full']:
        r = run_spec(spec(mode, m1, mode, rows, steps), max(30, t_end - time.monotonic()))
        runs.append(r); _say_run(r)
    return {'runs': runs}

def _llama7b(shape7, rows, limit, a, **_):
    t_end = time.monotonic() + limit
    m7 = build_model(BENCH/('work/smoke-llama-7b' if a.cpu_smoke else 'work/llama2-7b-random'), shape7,
                     BENCH/'work/model')
    r = run_spec(spec('llama2-7b-qlora', m7, 'qlora', rows, 3, budget_gib=BUDGET_GIB),
                 max(30, t_end - time.monotonic()))
    _say_run(r)
    return {'model': str(m7), 'parameters': n_params(m7), 'shape': shape7, 'run': r}

def _packed(m1, limit, **_):
    r = in_fresh_process(['--packed', str(m1)], BENCH/'work/gpu/packed.json', limit)
    if 'error' not in r:
        say(f"  loss {r['loss_packed_bf16']:.4f} packed vs {r['loss_padded_bf16']:.4f} padded (bf16); "
            f"gradients differ by "
            f"{r['grad_rel_diff_bf16']:.2e} (bf16 noise {r['bf16_noise']:.2e}); real tokens/s: packed_sdpa "
            f"{r['packed_sdpa_tokens_per_second']:,.0f}, dense mask {r['packed_dense_mask_tokens_per_second']:,.0f}, "
            f"padded {r['padded_tokens_per_second']:,.0f}")
    return r

def _trl(m1, limit, a, **_):
    import bench
    rows = 16 if a.cpu_smoke else a.trl_rows
    modes = ['lora'] if a.cpu_smoke else ['lora', 'full']
    pack_eff = bench.packed_batch(rows)
    extra = ['--model', str(m1)]
    tr = bench.train_runs(rows, a.trl_rounds, modes, [4], 0, pack_eff, threads=0, extra=extra, timeout=limit)
    return {'training': tr, 'summary': bench.summarize(tr)}

def _budget(m1, rows, steps, limit, **_):
    t_end, runs = time.monotonic() + limit, []
    for mode in ['qlora', 'lora', 'full']:
        r = run_spec(spec(f'{mode}-8gib', m1, mode, rows, steps, budget_gib=BUDGET_GIB, skip_unfit=True),
                     max(30, t_end - time.monotonic()))
        runs.append(r); _say_run(r)
    return {'runs': runs}

def _eval_merge(m1, rows, limit, res, **_):
    runs = res['sections'].get('modes', {}).get('runs', [])
    lora = next((r for r in runs if r.get('name') == 'lora' and r.get('run')), None)
    if lora is None:
        r = run_spec(spec('lora', m1, 'lora', rows, 2), limit / 2); _say_run(r)
        if not r.get('run'): return {'error': 'no LoRA run to evaluate', 'run': r}
        lora = r
    return eval_merge(lora['run'], m1, BENCH/'work/data/train.jsonl', max(30, limit - 5))

SECTION = {'modes': _modes, 'llama2-7b': _llama7b, 'packed': _packed, 'trl': _trl, 'budget': _budget,
           'eval-merge': _eval_merge}

def _say_run(r:dict):
    if 'error' in r and 'plan' not in r: say(f"  {r['name']}: FAILED: {r['error']}"); return
    what = 'not run: the planner says it does not fit' if not r.get('ran') else ('OUT OF MEMORY' if r.get('oom') else
            f"{r.get('tokens_per_second_steady') or 0:,.0f} real tokens/s")
    say(f"  {r['name']:16s} {what}; peak {r['peak_allocated'] / GIB:.2f} GiB allocated "
        f"({r['peak_reserved'] / GIB:.2f} reserved), "
        f"estimate {(r['estimate_total'] or 0) / GIB:.2f} GiB; plan: {r['plan']}")

def checks(res:dict) -> dict:
    "The promises, True / False, or None where a section did not run"
    s, out = res['sections'], {}
    r7 = s.get('llama2-7b', {}).get('run', {})
    if 'peak_allocated' in r7:
        out['llama2_7b_qlora_no_oom'] = r7['ran'] and not r7['oom']
        ok = out['llama2_7b_qlora_no_oom']
        out['llama2_7b_qlora_peak_under_8gib'] = ok and r7['peak_reserved'] < BUDGET_GIB * GIB
        out['llama2_7b_qlora_estimate_within_15pct'] = ok and abs(r7['estimate_over_peak'] - 1) <= 0.15
    else: out.update({k: None for k in ['llama2_7b_qlora_no_oom', 'llama2_7b_qlora_peak_under_8gib',
                                        'llama2_7b_qlora_estimate_within_15pct']})
    b = s.get('budget', {}).get('runs')
    out['planner_8gib_plans_run'] = None if not b else all(not r.get('oom') and 'error' not in r
                                                           for r in b if r.get('fits') is not False)
    out['planner_8gib_full_flagged'] = None if not b else any(r['name'] == 'full-8gib' and r.get('fits') is False
                                                              for r in b)
    pk = s.get('packed', {})
    out['packed_same_as_padded_bf16'] = pk.get('same_within_bf16')
    m = s.get('modes', {}).get('runs')
    out['modes_trained'] = None if not m else all(r.get('ran') and not r.get('oom') and r.get('last_loss') is not None
                                                  for r in m)
    em = s.get('eval-merge', {})
    out['eval_merge_ran'] = (None if not ('eval' in em or 'merge' in em)
                             else all(em.get(k, {}).get('rc') == 0 for k in ['eval', 'merge']))
    if res['cpu_smoke']:  # CPU: nothing about GPU memory is measured
        for k in ['llama2_7b_qlora_peak_under_8gib', 'llama2_7b_qlora_estimate_within_15pct',
                  'planner_8gib_full_flagged']: out[k] = None
    return out

def gpu_table(res:dict) -> str:
    "The GPU figures as markdown"
    e, s = res['environment'], res['sections']
    gib = lambda b: f'{b / GIB:.2f}' if b else ''
    v = e['versions']
    where = e.get('device', 'CPU (smoke run: nothing here measures a GPU)')
    lines = [f"`bench/gpu.py` on {where}: torch {v['torch']}, transformers {v['transformers']}, peft {v['peft']}, "
             f"bitsandbytes {v['bitsandbytes']}, TRL {v['trl']}.", '',
             '| run | mode | budget | plan | estimate GiB | peak allocated GiB | peak reserved GiB | estimate / peak | '
             'real tokens/s (steady) |', '|---|---|---|---|---:|---:|---:|---:|---:|']
    runs = [*s.get('modes', {}).get('runs', []), *([s['llama2-7b']['run']] if 'run' in s.get('llama2-7b', {}) else []),
            *s.get('budget', {}).get('runs', [])]
    for r in runs:
        if 'plan' not in r:
            lines.append(f"| {r.get('name')} | | | failed: {str(r.get('error'))[:80]} | | | | | |"); continue
        mode = next((x.split('=')[1] for x in r['sets'] if x.startswith('tuning.mode=')), '')
        state = 'not run (does not fit)' if not r['ran'] else ('**OOM**' if r['oom'] else r['plan'].split(';')[0])
        tps = f"{r['tokens_per_second_steady']:,.0f}" if r.get('tokens_per_second_steady') else ''
        ratio = f"{r['estimate_over_peak']:.2f}" if r.get('estimate_over_peak') else ''
        budget = f"{r['budget_gib']} GiB" if r['budget_gib'] else 'whole GPU'
        lines.append(f"| {r['name']} | {mode} | {budget} | {state} | "
                     f"{gib(r['estimate_total'])} | {gib(r['peak_allocated']) if r['ran'] else ''} | "
                     f"{gib(r['peak_reserved']) if r['ran'] else ''} | {ratio} | {tps} |")
    pk = s.get('packed', {})
    if 'loss_padded_bf16' in pk:
        lines += ['', f"packed_sdpa vs padded sdpa, {pk['rows']} rows ({pk['tokens']} real tokens, "
                  f"{pk['padded_slots']} padded slots), bf16: loss {pk['loss_packed_bf16']:.4f} vs "
                  f"{pk['loss_padded_bf16']:.4f} (relative difference "
                  f"{pk['loss_rel_diff_bf16']:.1e}; fp32 {pk['loss_rel_diff_fp32']:.1e}); gradients differ by "
                  f"{pk['grad_rel_diff_bf16']:.1e} relative (bf16's own noise against fp32: {pk['bf16_noise']:.1e}; "
                  f"fp32: "
                  f"{pk['grad_rel_diff_fp32']:.1e}). Forward+backward, real tokens/s: packed_sdpa "
                  f"{pk['packed_sdpa_tokens_per_second']:,.0f}, the same packed rows through sdpa's dense mask "
                  f"{pk['packed_dense_mask_tokens_per_second']:,.0f}, padded {pk['padded_tokens_per_second']:,.0f}."]
    tr = s.get('trl', {}).get('summary')
    if tr:
        lines += ['', '| mode | setup | real tokens/s (median) | sftplay / setup | peak VRAM GiB | held-out loss |',
                  '|---|---|---:|---:|---:|---:|']
        for mode, m in tr.items():
            for k in ['sftplay', 'trl_default', 'trl_packing']:
                x = m[k]
                ratio = '' if k == 'sftplay' else f"{x['speed_ratio_median']:.2f}x"
                lines.append(f"| {mode} | {k} | {x['tokens_per_second_median']:,.0f} | {ratio} | "
                             f"{x['peak_memory_median'] / GIB:.2f} | {x['heldout_loss_median']:.3f} |")
    em = s.get('eval-merge', {})
    if 'eval' in em:
        mg = em.get('merge', {})
        lines += ['', f"sftplay-eval on {where}: exit {em['eval'].get('rc')} in {em['eval'].get('seconds', 0):.1f} s; "
                  f"sftplay-merge: exit {mg.get('rc')} in {mg.get('seconds', 0):.1f} s."]
    skipped = [f"{k} ({v['skipped']})" for k, v in s.items() if 'skipped' in v]
    failed = [k for k, v in s.items() if 'error' in v]
    if skipped: lines += ['', 'Skipped: ' + '; '.join(skipped) + '.']
    if failed: lines += ['', 'Failed: ' + ', '.join(failed) + ' (see gpu.json).']
    lines += ['', 'Checks: ' + ', '.join(f"{k} {'yes' if v else ('**no**' if v is False else 'not run')}"
                                         for k, v in res.get('checks', {}).items()) + '.']
    return '\n'.join(lines) + '\n'

if __name__ == '__main__': main()
