"""`make bench`: sftplay against TRL's SFTTrainer on this machine, in one run: the same model, rows, max length, effective
batch, learning rate, schedule, seed and precision; every training run alone in a fresh process, the implementations
interleaved (A B A B ...) so that a change in the machine's load hits both. Also: eval generation throughput, the
throughput and memory of `sftplay-process` at growing sizes, and the model FLOPs utilisation of training.
Writes bench/results/*.json and bench/results/README_table.md.

    .venv-bench/bin/python bench/bench.py            # what `make bench` runs (~12 minutes on 2 CPU cores)
    .venv-bench/bin/python bench/bench.py --quick    # a smoke run (~4 minutes): fewer rows, rounds and sizes
"""
import argparse, json, os, platform, statistics, subprocess, sys, time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH/'results'
sys.path.insert(0, str(BENCH))
import workload as W

def say(*a): print(*a, flush=True)

def record_of(cmd:list, timeout:float=900, env:dict=None) -> dict:
    "Run a bench script in a fresh process; its BENCH-RECORD line as a dict, plus the process's wall time"
    log, t0 = BENCH/'work/last_run.log', time.perf_counter()
    with log.open('w') as f:
        rc = subprocess.run([sys.executable, *map(str, cmd)], stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
                            timeout=timeout,
                            env={**os.environ, 'HF_HUB_OFFLINE': '1', 'TOKENIZERS_PARALLELISM': 'false',
                                 **(env or {})}).returncode
    text = log.read_text()
    line = next((l for l in text.splitlines() if l.startswith('BENCH-RECORD ')), None)
    if rc or line is None: raise RuntimeError(f'{" ".join(map(str, cmd))} failed ({rc}):\n{text[-3000:]}')
    rec = json.loads(line[len('BENCH-RECORD '):])
    for k in ('loss', 'tokens_at_step'):
        if k in rec: rec[k] = {int(s): v for s, v in rec[k].items()}
    rec['process_seconds'] = time.perf_counter() - t0
    return rec

def machine() -> dict:
    "What ran the benchmark: CPU, cores, memory, library versions, the commit"
    import torch, transformers, peft, trl
    cpu = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines()
                if l.startswith('model name')), platform.processor())
    mem = next((int(l.split()[1]) * 1024 for l in Path('/proc/meminfo').read_text().splitlines()
                if l.startswith('MemTotal')), 0)
    git = lambda *a: subprocess.run(['git', *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return dict(cpu=cpu, cores=os.cpu_count(), torch_threads=torch.get_num_threads(), memory_gib=round(mem / 2**30, 1),
                cuda=torch.cuda.is_available(), python=platform.python_version(), torch=torch.__version__,
                transformers=transformers.__version__, peft=peft.__version__, trl=trl.__version__,
                commit=git('rev-parse', '--short', 'HEAD'),
                dirty=bool(git('status', '--porcelain', '--', 'sftplay', 'bench')),
                date=datetime.now(timezone.utc).isoformat(timespec='seconds'), load_average_at_start=os.getloadavg())

def matmul_peak(threads:int, n:int=2048, repeats:int=8) -> float:
    "The best fp32 matmul rate of this machine with `threads` torch threads, FLOP/s (n x n by n x n)"
    import torch
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best

def _timed(f) -> float:
    t = time.perf_counter(); f(); return time.perf_counter() - t

# --- training: sftplay vs TRL --------------------------------------------------------------------------------------

def variants(pack_mb:int, pack_eff:int) -> dict:
    "The compared setups, as run_one.py arguments"
    return {'sftplay': ['--impl', 'sftplay'],
            'trl_default': ['--impl', 'trl'],
            'trl_packing': ['--impl', 'trl', '--packing', '--micro-batch', pack_mb, '--eff-batch', pack_eff]}

def packed_batch(rows:int) -> int:
    ("Packed sequences per optimizer step for TRL's packing: as many tokens per step as EFF_BATCH rows (bfd fills "
     "~MAX_LEN)")
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(BENCH/'work/model')
    lines = (BENCH/'work/data/train.jsonl').read_text().splitlines()[:rows]
    mean = sum(len(tok.apply_chat_template(W.messages(json.loads(l)), return_dict=False)) for l in lines) / len(lines)
    return max(1, round(W.EFF_BATCH * mean / W.MAX_LEN))

def train_runs(rows:int, rounds:int, modes:list, sweep:list, sweep_rows:int, pack_eff:int, threads:int, extra:list=(),
               timeout:float=None) -> dict:
    "TRL's packing micro-batch sweep (LoRA; none if `sweep` has one value), then `rounds` interleaved rounds per mode"
    out = {'rows': rows, 'rounds': rounds, 'threads': threads, 'packed_effective_batch': pack_eff,
           'sweep_rows': sweep_rows, 'sweep': {}, 'runs': {m: {} for m in modes}, 'extra_args': list(extra)}
    end = time.monotonic() + timeout if timeout else None  # the whole comparison's time limit (bench/gpu.py's budget)
    left = lambda: 900 if end is None else max(10, end - time.monotonic())
    run = lambda mode, n, args: record_of(['bench/run_one.py', '--mode', mode, '--rows', n, '--threads', threads, *args,
                                           *extra], timeout=left())
    for mb in sweep if len(sweep) > 1 else []:
        r = out['sweep'][mb] = run('lora', sweep_rows, variants(mb, pack_eff)['trl_packing'])
        say(f'  sweep: TRL packing, micro-batch {mb}: {r["tokens_per_second"]:,.0f} real tokens/s (others kept '
            f'{r["others_cpu_share"]:.0%} of the cores busy)')
    best = out['trl_packing_micro_batch'] = (max(out['sweep'], key=lambda mb: out['sweep'][mb]['tokens_per_second'])
                                             if out['sweep'] else sweep[0])
    for k in range(rounds):
        for mode in modes:
            vs = variants(best, pack_eff)
            names = list(vs)[k % 3:] + list(vs)[:k % 3]  # rotate who goes first
            for name in names:
                r = run(mode, rows, vs[name])
                out['runs'][mode].setdefault(name, []).append(r)
                say(f'  round {k + 1} {mode:4s} {name:12s} {r["tokens_per_second"]:7,.0f} real tokens/s  '
                    f'{r["train_seconds"]:5.1f} s  peak memory {r["peak_memory"] / 2**30:.2f} GiB  held-out loss '
                    f'{r["heldout_loss"]:.3f}  others {r["others_cpu_share"]:.0%}')
    return out

def loss_at_tokens(rec:dict, frac:float) -> float:
    ("Mean training loss over the first `frac` of the run's real tokens (step losses weighted by their tokens; cut "
     "within a step)")
    steps, tok = sorted(rec['loss']), rec['tokens_at_step']
    end, prev, num = frac * tok[steps[-1]], 0, 0.0
    for s in steps:
        w = min(tok[s], end) - prev
        if w <= 0: break
        num, prev = num + rec['loss'][s] * w, prev + w
    return num / prev

def summarize(tr:dict) -> dict:
    ("Per mode and peer: per-pair ratios (sftplay / peer) of real tokens/s, their median and spread; memory and loss "
     "checks")
    out = {}
    for mode, runs in tr['runs'].items():
        s = runs['sftplay']
        m = {'sftplay': _stats(s)}
        for peer in ['trl_default', 'trl_packing']:
            p = runs[peer]
            ratios = [a['tokens_per_second'] / b['tokens_per_second'] for a, b in zip(s, p)]
            mem = [a['peak_memory'] / b['peak_memory'] for a, b in zip(s, p)]
            held = [a['heldout_loss'] - b['heldout_loss'] for a, b in zip(s, p)]
            loss = {f: [loss_at_tokens(a, f) - loss_at_tokens(b, f) for a, b in zip(s, p)] for f in (0.5, 1.0)}
            steps = sorted(set(s[0]['loss']) & set(p[0]['loss']))
            at_steps = {k: [a['loss'][k] - b['loss'][k] for a, b in zip(s, p)]
                        for k in [steps[0], steps[len(steps) // 2], steps[-1]]} if steps else {}
            m[peer] = {**_stats(p), 'speed_ratios': ratios, 'speed_ratio_median': statistics.median(ratios),
                       'speed_ratio_min': min(ratios), 'speed_ratio_max': max(ratios),
                       'memory_ratios': mem, 'memory_ratio_median': statistics.median(mem),
                       'memory_ratio_max': max(mem), 'heldout_loss_diffs': held,
                       'heldout_loss_diff_median': statistics.median(held), 'loss_diff_at_equal_tokens': loss,
                       'loss_diff_at_steps': at_steps}
        out[mode] = m
    return out

LOSS_TOLERANCE = 0.02  # held-out loss after training within 2% of the peer's: the runs trained the same thing

def goals(summary:dict) -> dict:
    "Issue 6's goals per mode: >= 1.5x TRL's default, >= 1x its best packing, peak memory and held-out loss no worse"
    out = {}
    for mode, m in summary.items():
        d, p = m['trl_default'], m['trl_packing']
        rel = lambda x: abs(x['heldout_loss_diff_median']) / x['heldout_loss_median']
        out[mode] = {'speed_vs_trl_default_at_least_1.5x': d['speed_ratio_median'] >= 1.5,
                     'speed_vs_trl_packing_at_least_1x': p['speed_ratio_median'] >= 1.0,
                     'memory_vs_trl_default_no_higher': d['memory_ratio_median'] <= 1.0,
                     'memory_vs_trl_packing_no_higher': p['memory_ratio_median'] <= 1.0,
                     'heldout_loss_within_tolerance': rel(d) <= LOSS_TOLERANCE and rel(p) <= LOSS_TOLERANCE}
    return out

def _stats(recs:list) -> dict:
    med = lambda k: statistics.median(r[k] for r in recs)
    last = [loss_at_tokens(r, 1.0) for r in recs]
    return dict(tokens_per_second=[r['tokens_per_second'] for r in recs],
                tokens_per_second_median=med('tokens_per_second'), train_seconds_median=med('train_seconds'),
                wall_seconds_median=med('process_seconds'), peak_memory_median=med('peak_memory'),
                heldout_loss_median=med('heldout_loss'), others_cpu_share=[r['others_cpu_share'] for r in recs],
                real_tokens=recs[0]['real_tokens'], padded_slots=recs[0]['padded_slots'],
                trained_tokens=recs[0]['trained_tokens'], steps=recs[0]['steps'], plan=recs[0]['plan'],
                final_loss_median=statistics.median(last), init_sha=sorted({r['init_sha'] for r in recs}),
                load_average_end=[r['load_average_end'][0] for r in recs])

# --- generation, data processing, MFU ----------------------------------------------------------------------------

def process_runs(sizes:list) -> list:
    "sftplay-process on `n` unique raw rows for each n: wall time, rows/s and the process's peak RSS"
    out, base = [], W.sample_rows()
    exe = Path(sys.executable).parent/'sftplay-process'
    for n in sizes:
        d = BENCH/f'work/process_{n}'
        raw = d/'raw.jsonl'
        if not raw.exists():
            d.mkdir(parents=True, exist_ok=True)
            with (d/'raw.tmp').open('w') as f:
                for i in range(n):
                    r = base[i % len(base)]
                    f.write(json.dumps({'id': f'r{i}', 'input': f'{r["input"]} (ticket {i})', 'output': r['output']})
                            + '\n')
            os.replace(d/'raw.tmp', raw)
        (d/'configs').mkdir(exist_ok=True)
        (d/'configs/run.yaml').write_text(f'base: {ROOT}/configs/config_base.yaml  # the defaults\n'
                                          'data:  # the raw rows and where the splits go\n'
                                          '  raw: [raw.jsonl]  # n unique rows\n'
                                          '  processed_dir: processed  # rewritten by every run\n')
        import shutil
        shutil.rmtree(d/'processed', ignore_errors=True)
        with (d/'log.txt').open('w') as f:
            rc = subprocess.run([sys.executable, BENCH/'measure.py', d/'measure.json', exe,
                                 '--config', d/'configs/run.yaml'], stdout=f,
                                stderr=subprocess.STDOUT, cwd=d, env={**os.environ, 'HF_HUB_OFFLINE': '1'}).returncode
        if rc: raise RuntimeError(f'sftplay-process on {n} rows failed:\n{(d/"log.txt").read_text()[-2000:]}')
        m = json.loads((d/'measure.json').read_text())
        secs, peak = m['seconds'], m['peak_rss']
        kept = (sum(1 for _ in (d/'processed/train.jsonl').open()) + sum(1 for _ in (d/'processed/val.jsonl').open())
                + sum(1 for _ in (d/'processed/test.jsonl').open()))
        out.append(dict(rows=n, kept=kept, seconds=secs, rows_per_second=n / secs, peak_rss=peak))
        say(f'  sftplay-process {n:>9,} rows: {secs:6.1f} s, {n / secs:9,.0f} rows/s, peak RSS {peak / 2**30:.3f} GiB')
    return out

def mfu(tr_summary:dict, peak:float, params:int) -> dict:
    "Model FLOPs utilisation of sftplay's training: 6 x parameters x real tokens/s over the measured matmul peak"
    out = {}
    for mode, m in tr_summary.items():
        tps = m['sftplay']['tokens_per_second_median']
        out[mode] = dict(tokens_per_second=tps, model_flops_per_second=6 * params * tps, mfu=6 * params * tps / peak)
    return out

# --- the report ---------------------------------------------------------------------------------------------------

def table(res:dict) -> str:
    "The markdown the README includes"
    mc, tr, s, L = res['machine'], res['training'], res['training_summary'], res['lengths']
    gib = lambda b: f'{b / 2**30:.2f}'
    others = [x for m in s.values() for v in m.values() for x in v['others_cpu_share']]
    lines = [f"`{res['command']}` on {mc['date'][:10]}: {mc['cpu']}, {mc['cores']} cores, {mc['memory_gib']} GiB, no "
             f"GPU; torch {mc['torch']}, transformers {mc['transformers']}, peft {mc['peft']}, TRL {mc['trl']}. "
             f"Each run is a fresh process with {tr['threads']} torch thread(s); the cores are shared, and other "
             f"processes kept {statistics.median(others):.0%} (median, max {max(others):.0%}) of them busy during the "
             f"runs (load average {mc['load_average_at_start'][0]:.1f} at the start).", '',
             f"Same work for every setup: a Llama-architecture model of {res['params'] / 1e6:.1f}M parameters (random "
             f"weights, vocabulary {W.SHAPE['vocab_size']}), one epoch over the same {tr['rows']} chat rows (sample "
             f"rows plus multi-request rows: {L['p10']} / {L['p50']} / {L['p90']} / {L['max']} tokens at p10 / p50 / "
             f"p90 / max), max length {W.MAX_LEN}, {W.EFF_BATCH} rows per optimizer step, lr {W.LR} cosine with "
             f"{W.WARMUP:.0%} warmup, seed {W.SEED}, fp32, loss on the answers only (sftplay's default; TRL's "
             "assistant_only_loss), the same initial weights. TRL's packing (bfd, padding-free) takes "
             f"{tr['packed_effective_batch']} packed sequences per step (as many tokens as {W.EFF_BATCH} rows) at the "
             f"micro-batch a sweep found fastest ({tr['trl_packing_micro_batch']}). {tr['rounds']} rounds, the setups "
             "interleaved; ratios are per round (sftplay's run over the peer's run in the same round).", '',
             '| mode | setup | real tokens/s (median) | sftplay / setup: median (min-max) | padding | train s | peak '
             'RSS GiB | held-out loss after | steps |', '|---|---|---:|---:|---:|---:|---:|---:|---:|']
    names = {'sftplay': 'sftplay defaults', 'trl_default': 'TRL SFTTrainer defaults',
             'trl_packing': 'TRL packing (bfd)'}
    for mode, m in s.items():
        for k in ['sftplay', 'trl_default', 'trl_packing']:
            x = m[k]
            ratio = ('' if k == 'sftplay'
                     else f"**{x['speed_ratio_median']:.2f}x** ({x['speed_ratio_min']:.2f}-{x['speed_ratio_max']:.2f})")
            lines.append(f"| {mode} | {names[k]} | {x['tokens_per_second_median']:,.0f} | {ratio} | "
                         f"{1 - x['real_tokens'] / x['padded_slots']:.0%} | {x['train_seconds_median']:.1f} | "
                         f"{gib(x['peak_memory_median'])} | {x['heldout_loss_median']:.3f} | {x['steps']} |")
    lines += ['', 'Memory is the peak resident set of the training process. Goals (issue 6), per mode: ' + '; '.join(
        f"{mode}: " + ', '.join(f"{k.replace('_', ' ')} {'yes' if v else '**no**'}" for k, v in g.items())
        for mode, g in res['goals'].items()) + '.']
    g = res['generation']
    lines += ['', f"Eval generation ({g['prompts']} prompts, up to {g['max_new_tokens']} new tokens, greedy): "
                  f"sftplay's batched `generate` (batch {g['batch_size']}) "
                  f"{g['tokens_per_second']['batched']:,.0f} tokens/s, one prompt at a time "
                  f"{g['tokens_per_second']['loop']:,.0f} tokens/s: **{g['speedup']:.1f}x** "
                  f"(identical answers: {g['same_answers']:.0%}).", '',
              '| `sftplay-process` rows | seconds | rows/s | peak RSS GiB |', '|---:|---:|---:|---:|']
    lines += [f"| {p['rows']:,} | {p['seconds']:.1f} | {p['rows_per_second']:,.0f} | {p['peak_rss'] / 2**30:.3f} |"
              for p in res['process']]
    lines += ['', f"Model FLOPs utilisation of sftplay's training, 6 x parameters x real tokens/s over a measured "
                  f"fp32 matmul peak of {res['matmul_peak'] / 1e9:.0f} GFLOP/s ({tr['threads']} thread(s)): " +
              ', '.join(f"{m} {v['mfu']:.0%}" for m, v in res['mfu'].items()) + '.']
    return '\n'.join(lines) + '\n'

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='a smoke run: fewer rows, rounds and sizes')
    p.add_argument('--rows', type=int, default=None, help='training rows per run (one epoch)')
    p.add_argument('--rounds', type=int, default=None, help='interleaved rounds per mode')
    p.add_argument('--threads', type=int, default=1,
                   help='torch threads per run (1: a run is not distorted when the other core is busy)')
    p.add_argument('--out', default=str(RESULTS), help='results folder')
    a = p.parse_args(argv)
    rows, rounds = a.rows or (32 if a.quick else 64), a.rounds or (1 if a.quick else 3)
    sizes = [10_000, 100_000] if a.quick else [10_000, 100_000, 1_000_000]
    t0 = time.perf_counter()
    paths = W.build(BENCH/'work')
    args = ' '.join(map(str, argv if argv is not None else sys.argv[1:]))
    cmd = ((f'make bench' + (f' BENCH_ARGS="{args}"' if args else '')) if os.environ.get('MAKELEVEL')
           else f'python bench/bench.py {args}'.strip())
    res = {'command': cmd,
           'machine': machine(), 'params': W.n_params(paths['model']), 'workload': {k: getattr(W, k) for k in
           ['SHAPE', 'MAX_LEN', 'EFF_BATCH', 'LR', 'WARMUP', 'SEED', 'LONG_SHARE']}}
    res['lengths'] = W.length_stats(paths, rows)
    say(f"bench: {res['machine']['cpu']}, load average {res['machine']['load_average_at_start'][0]:.2f}; "
        f"model {res['params'] / 1e6:.1f}M parameters; {rows} rows per run, lengths {res['lengths']}")
    res['matmul_peak'] = matmul_peak(a.threads)
    say(f"bench: fp32 matmul peak {res['matmul_peak'] / 1e9:.0f} GFLOP/s")
    say('bench: training (each run a fresh process)')
    res['training'] = train_runs(rows, rounds, ['lora', 'full'], [1, 2] if a.quick else [1, 2, 4],
                                 32 if a.quick else 48, packed_batch(rows), a.threads)
    res['training_summary'] = summarize(res['training'])
    res['goals'] = goals(res['training_summary'])
    res['mfu'] = mfu(res['training_summary'], res['matmul_peak'], res['params'])
    say('bench: eval generation')
    res['generation'] = record_of(['bench/gen_one.py', '--prompts', 32 if a.quick else 48, '--threads', a.threads])
    say(f"  batched {res['generation']['tokens_per_second']['batched']:,.0f} vs one at a time "
        f"{res['generation']['tokens_per_second']['loop']:,.0f} tokens/s: {res['generation']['speedup']:.1f}x")
    say('bench: sftplay-process')
    res['process'] = process_runs(sizes)
    res['seconds'] = time.perf_counter() - t0
    res['machine']['load_average_at_end'] = os.getloadavg()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    for k in ['training', 'generation', 'process']:
        (out/f'{k}.json').write_text(json.dumps(res[k], indent=1) + '\n')
    summary = {k: v for k, v in res.items() if k not in ('training', 'generation', 'process')}
    summary.update(generation={k: v for k, v in res['generation'].items()}, process=res['process'])
    (out/'summary.json').write_text(json.dumps(summary, indent=1) + '\n')
    (out/'README_table.md').write_text(table(res))
    say(f"bench: done in {res['seconds'] / 60:.1f} min; results in {out}")
    say(table(res))
    return res

if __name__ == '__main__': main()
