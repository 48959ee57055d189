"""One training run, alone in a fresh process: sftplay with its default config, or TRL's SFTTrainer, on the benchmark
workload. Prints one JSON record: real tokens/s, wall time, peak RSS, and the loss of every optimizer step with the
tokens seen up to it.

    python bench/run_one.py --impl sftplay --mode lora --rows 256
    python bench/run_one.py --impl trl --mode lora --rows 256 --packing --micro-batch 1
"""
import time
T_START = time.perf_counter()
import argparse, hashlib, json, os, resource, sys
LOAD_START = os.getloadavg()
from pathlib import Path
import torch
from transformers import TrainerCallback

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import workload as W

class Counting:
    ("A data collator that records, per micro-batch, what it hands the model: real (non-padding) tokens, slots, "
     "trained tokens")
    def __init__(self, inner): self.inner, self.batches = inner, []
    def __call__(self, items):
        b = self.inner(items)
        am = b.get('attention_mask')
        self.batches.append((int(am.sum()) if am is not None else int(b['input_ids'].numel()),
                             int(b['input_ids'].numel()), int((b['labels'][:, 1:] != -100).sum())))
        return b
    def total(self, k:int) -> int: return sum(b[k] for b in self.batches)

def heldout_loss(model, n:int=64, batch:int=4) -> float:
    ("Mean loss on the answer tokens of the first `n` validation rows: the same tokens and code for every run's "
     "trained model")
    from sftplay.config import load_config
    from sftplay.models import load_tokenizer
    from sftplay.templating import SFTCollator, SFTDataset, load_template
    cfg = load_config(BENCH/'config_bench.yaml', ['template.packing=false'])
    tok = load_tokenizer(cfg); tpl = load_template(cfg, tok)
    ds = SFTDataset([json.loads(l) for l in cfg.resolve(cfg.data.val_path).open()][:n], tok, tpl, cfg)
    col, total, count = SFTCollator(tok, cfg), 0.0, 0
    model.eval()
    dev = next(model.parameters()).device
    with torch.no_grad():
        for s in range(0, len(ds), batch):
            b = {k: v.to(dev) for k, v in col([ds[i] for i in range(s, min(s + batch, len(ds)))]).items()}
            logits, lab = (model(input_ids=b['input_ids'], attention_mask=b['attention_mask']).logits[:, :-1],
                           b['labels'][:, 1:])
            total += float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                                             lab.reshape(-1), reduction='sum'))
            count += int((lab != -100).sum())
    return total / count

class Steps(TrainerCallback):
    "Per optimizer step: the logged loss; the accumulation steps and the checksum of the trainable weights at the start"
    def __init__(self): self.counter, self.loss, self.init_sha, self.accum, self.model = None, {}, None, 1, None
    def on_train_end(self, args, state, control, model=None, **kw): self.model = model
    def on_train_begin(self, args, state, control, model=None, **kw):
        self.accum = args.gradient_accumulation_steps
        h = hashlib.sha256()
        for n, p in sorted(model.named_parameters()):
            if p.requires_grad: h.update(p.detach().float().cpu().numpy().tobytes())
        self.init_sha = h.hexdigest()[:16]
    def tokens_at(self, step:int) -> int:
        ("Real tokens of the micro-batches of steps 1..step (the data loader fetches one batch ahead, so not a running "
         "count)")
        return sum(b[0] for b in self.counter.batches[:step * self.accum])
    def on_log(self, args, state, control, logs=None, **kw):
        if logs and 'loss' in logs: self.loss[state.global_step] = float(logs['loss'])

def peak_rss() -> int:
    ("Peak resident memory of this process, bytes (VmHWM: unlike ru_maxrss, it does not count the parent's pages "
     "before exec)")
    return next(int(l.split()[1]) * 1024 for l in Path('/proc/self/status').read_text().splitlines()
                if l.startswith('VmHWM'))

def cpu_snapshot() -> tuple:
    "(busy seconds of the whole machine, busy seconds of this process, wall clock) now"
    f = [int(x) for x in Path('/proc/stat').read_text().split('\n', 1)[0].split()[1:]]
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (sum(f[:3]) + sum(f[5:8])) / os.sysconf('SC_CLK_TCK'), ru.ru_utime + ru.ru_stime, time.perf_counter()

def others_share(a:tuple, b:tuple) -> float:
    "The share of the machine's cores that other processes kept busy between snapshots `a` and `b`"
    return max(0.0, ((b[0] - a[0]) - (b[1] - a[1])) / ((b[2] - a[2]) * os.cpu_count()))

def rows_file(n:int) -> Path:
    "The first `n` benchmark rows, as their own JSONL file (written once)"
    p = BENCH/f'work/data/train_{n}.jsonl'
    if not p.exists():
        lines = (BENCH/'work/data/train.jsonl').read_text().splitlines()[:n]
        tmp = p.with_suffix('.tmp'); tmp.write_text('\n'.join(lines) + '\n'); os.replace(tmp, p)
    return p

def run_sftplay(a, steps:Steps) -> dict:
    "sftplay's train() on bench/config_bench.yaml: its defaults, the workload, and --set overrides"
    from sftplay.config import load_config
    import sftplay.train as T
    sets = [f'tuning.mode={a.mode}', f'data.train_path={rows_file(a.rows)}',
            *([f'model.name={a.model}'] if a.model else []), *a.set]
    cfg = load_config(BENCH/'config_bench.yaml', sets)
    made = []
    def collator(tok, cfg):
        made.append(Counting(Collator(tok, cfg))); steps.counter = made[-1]
        return made[-1]
    Collator, T.SFTCollator = T.SFTCollator, collator
    res = T.train(cfg, callbacks=[steps], quiet=True)
    return dict(train_seconds=res.seconds, plan=res.plan, steps=res.steps, config_sets=sets)

def lora_config(model):
    "LoRA exactly as sftplay's defaults build it: r 16, alpha 32, dropout 0.05, every linear layer but the head"
    from peft import LoraConfig, TaskType
    head = model.get_output_embeddings()
    targets = sorted({n.rpartition('.')[2] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
                      and m is not head})
    return LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=targets, bias='none',
                      task_type=TaskType.CAUSAL_LM)

def run_trl(a, steps:Steps) -> dict:
    "TRL's SFTTrainer: its defaults, with the workload's length, batch, lr, schedule, seed and precision pinned"
    import datasets
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer
    set_seed(W.SEED)
    src = a.model or BENCH/'work/model'
    tok = AutoTokenizer.from_pretrained(src)
    cuda = torch.cuda.is_available()
    # what sftplay's precision: auto picks
    prec = ('bf16' if torch.cuda.is_bf16_supported() else 'fp16') if cuda else 'fp32'
    dtype = torch.float32 if a.mode == 'full' or not cuda else {'bf16': torch.bfloat16, 'fp16': torch.float16}[prec]
    model = AutoModelForCausalLM.from_pretrained(src, dtype=dtype)  # as sftplay loads it (full: fp32 master weights)
    if a.mode == 'lora': model = get_peft_model(model, lora_config(model))  # same seed, same adapters as sftplay's
    rows = [json.loads(l) for l in rows_file(a.rows).open()]
    ds = datasets.Dataset.from_list([{'messages': W.messages(r)} for r in rows])
    extra = {}
    if a.micro_batch: extra['per_device_train_batch_size'] = a.micro_batch
    mb = a.micro_batch or SFTConfig.per_device_train_batch_size
    eff = a.eff_batch or W.EFF_BATCH
    args = SFTConfig(output_dir=str(BENCH/'work/trl_out'), gradient_accumulation_steps=max(1, eff // mb),
                     num_train_epochs=1, learning_rate=W.LR, lr_scheduler_type='cosine', warmup_steps=W.WARMUP,
                     weight_decay=0.0, max_grad_norm=1.0, seed=W.SEED, data_seed=W.SEED, bf16=prec == 'bf16',
                     fp16=prec == 'fp16', use_cpu=not cuda, logging_steps=1, save_strategy='no', report_to='none',
                     max_length=W.MAX_LEN, assistant_only_loss=True, packing=a.packing, padding_free=a.padding_free,
                     dataloader_num_workers=0, **extra)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, callbacks=[steps])
    trainer.data_collator = steps.counter = Counting(trainer.data_collator)
    t0 = time.perf_counter()
    out = trainer.train()
    return dict(train_seconds=time.perf_counter() - t0, steps=out.global_step,
                plan=f'micro-batch {args.per_device_train_batch_size} x accumulation '
                     f'{args.gradient_accumulation_steps}',
                trl={k: getattr(args, k)
                     for k in ['per_device_train_batch_size', 'gradient_accumulation_steps', 'packing',
                               'packing_strategy', 'padding_free', 'gradient_checkpointing', 'bf16', 'optim']})

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--impl', choices=['sftplay', 'trl'], required=True)
    p.add_argument('--mode', choices=['lora', 'full'], default='lora')
    p.add_argument('--rows', type=int, default=256, help='train one epoch on the first ROWS benchmark rows')
    p.add_argument('--packing', action='store_true', help='TRL: packing=True (bfd, which turns padding_free on)')
    p.add_argument('--padding-free', action='store_true', help='TRL: padding_free=True')
    p.add_argument('--micro-batch', type=int, default=0, help='TRL: per_device_train_batch_size (0 = its default)')
    p.add_argument('--eff-batch', type=int, default=0, help='TRL: sequences per optimizer step (0 = the workload\'s)')
    p.add_argument('--set', action='append', default=[], help='sftplay: a config override key=value')
    p.add_argument('--model', help='a model folder with the benchmark tokenizer, for both (default bench/work/model)')
    p.add_argument('--threads', type=int, default=0, help='torch threads (0 = torch default)')
    p.add_argument('--out', help='also write the record here')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    steps, snap = Steps(), cpu_snapshot()
    rec = (run_sftplay if a.impl == 'sftplay' else run_trl)(a, steps)
    rec['others_cpu_share'] = others_share(snap, cpu_snapshot())  # how busy the rest of the machine kept the cores
    rec['peak_rss'] = peak_rss()  # training's peak, before the held-out check
    rec['peak_vram'] = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    rec['peak_memory'] = rec['peak_vram'] or rec['peak_rss']  # what the comparison uses: VRAM on a GPU, RSS on CPU
    rec['heldout_loss'] = heldout_loss(steps.model)
    c = steps.counter
    rec.update(impl=a.impl, mode=a.mode, rows=a.rows, real_tokens=c.total(0), padded_slots=c.total(1),
               trained_tokens=c.total(2), micro_batches=len(c.batches),
               tokens_per_second=c.total(0) / rec['train_seconds'], wall_seconds=time.perf_counter() - T_START,
               init_sha=steps.init_sha,
               loss={int(k): v for k, v in sorted(steps.loss.items())},
               tokens_at_step={int(k): steps.tokens_at(k) for k in sorted(steps.loss)}, threads=torch.get_num_threads(),
               load_average_start=LOAD_START, load_average_end=os.getloadavg())
    text = json.dumps(rec)
    if a.out: Path(a.out).write_text(text + '\n')
    print('BENCH-RECORD ' + text)
    return rec

if __name__ == '__main__': main()
