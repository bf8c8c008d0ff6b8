"""Training speed and quality: `llmkit train` next to PyTorch eager (benchmarks/train_reference.py) on the same data,
config, threads and steps, in the same run.

The data: the GNU manuals in Info form that Debian's Essential packages install (/usr/share/info: coreutils, then
sed, then grep), so any Debian machine has them offline. Licence: GNU Free Documentation License 1.3 (copying
permitted; the text is only read here, not redistributed). Made reproducibly: each file gunzipped, Info's
machinery removed (the 0x1F node separators and the "File: …, Node: …" header after each, the indirect and tag
tables, the trailing "Local Variables" block, index markers and any other control character but tab and newline), concatenated, and cut at the last newline before --data-bytes
(default 1,000,000 bytes). Its sha256 and the package versions are recorded in the results. Both sides read this
one file and tokenize it per character (llmkit: --tokenizer char).

Each run is its own subprocess, one at a time (peak RSS = the child's VmHWM polled from /proc — not ru_maxrss, which
Linux inherits from the forking parent, see child_run.py; CPU time = ru_utime + ru_stime of that child from os.wait4):
  - speed, per context (256 and 512): --speed-steps steps (default 200), validation only at the end. tokens/s of
    each side is computed the same way from its metrics.jsonl (lines every 10 steps): (tokens[N−10] − tokens[10]) /
    (elapsed[N−10] − elapsed[10]) — steps 11…N−10, leaving out the first steps (allocation, warm-up) and the final
    validation; each summary's own tokens_per_s (all steps, eval excluded) is reported too.
  - quality: --quality-steps steps (default 2000) at context --quality-context (256) for each seed (1, 2, 3),
    validation every 500 steps on the first 64 windows of the validation split; final validation loss mean ± sd.
    `--reuse` keeps quality runs already in benchmarks/out/train-runs/ (their losses do not depend on timing).
  - achieved GFLOP/s = tokens/s × FLOPs per token, with (for this gpt2, tied output, causal attention)
        FLOPs/token = 6·N + 6·L·T·D,   N = L·(4·D² + 2·D·F) + V·D
    6·N: forward 2 FLOPs per multiply-add of every matmul weight (qkv 3D², attn_output D², ffn_up and ffn_down
    D·F each, the output head V·D), backward twice that (input and weight gradients). 6·L·T·D: q·kᵀ and p·v cost
    2·D FLOPs per (query, key) pair each, a query sees (T+1)/2 ≈ T/2 keys on average under the causal mask, so
    2·T·D forward per token and layer, ×3 with the backward. Embedding lookups, norms, GELU, softmax and the
    optimizer are not counted (all O(D) per token). PyTorch's SDPA may compute the masked half too; not counted.
  - peak fp32: theoretical = cores × clock (from /proc/cpuinfo) × FLOPs/cycle (32 for Zen 4: AVX-512 FMA on two
    256-bit pipes = 2 × 8 lanes × 2 FLOPs; 32 for AVX2-only Zen 2/3 as well); measured = best of a few 2048³/4096³
    float32 torch.mm with the benchmark's thread count.

    usage: .venv-torch/bin/python benchmarks/train-speed.py --llmkit .build/release/llmkit [--quick]
           [--contexts 256,512] [--speed-steps 200] [--quality-steps 2000] [--seeds 1,2,3] [--threads 2]
           [--skip-llmkit] [--skip-quality] [--reuse]
Writes benchmarks/out/train-speed.md and benchmarks/out/train-speed.json (git-ignored). Timings on a shared
2-core machine are noisy: run it on a quiet machine for figures you quote.
"""
import argparse
import gzip
import hashlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from child_run import run_child  # noqa: E402
OUT = ROOT / "benchmarks" / "out"
RUNS = OUT / "train-runs"
INFO = Path("/usr/share/info")
MANUALS = [("coreutils", ["coreutils.info.gz"]), ("sed", ["sed.info.gz"]), ("grep", ["grep.info.gz"]),
           ("diffutils", ["diffutils.info.gz"])]


# ---------------------------------------------------------------------------------------------------------------
# Data


def info_text(raw):
    """The prose of an Info file: the text of each node, without Info's machinery (0x1F separators, "File: …, Node:
    …" headers, indirect and tag tables, the preamble's directory entries, index markers, control characters) and
    without the nodes every GNU manual shares or that are lists of references (the GFDL's text, the indices)."""
    out = []
    for chunk in raw.split("\x1f\n")[1:]:
        header, _, body = chunk.partition("\n")
        node = re.match(r"File: [^,]*,\s+Node: ([^,]*)", header)
        if node is None or node.group(1) == "GNU Free Documentation License" or re.search(r"(?i)\bindex$", node.group(1)):
            continue
        body = re.sub(r"\nLocal Variables:\n.*\Z", "\n", body, flags=re.S)
        out.append(re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", body.replace("\x00\x08[index\x00\x08]\n", "")))
    return "".join(out)


def make_data(path, limit):
    parts, sources = [], []
    for package, files in MANUALS:
        for name in files:
            f = INFO / name
            if not f.exists():
                sys.exit(f"train-speed: {f} missing (the {package} package's manual; Debian installs it by default)")
            parts.append(info_text(gzip.open(f, "rt", encoding="utf-8").read()).strip("\n") + "\n\n")
            sources.append(str(f))
    text = "".join(parts)
    data = text.encode("utf-8")
    if len(data) > limit:
        data = data[:data.rfind(b"\n", 0, limit) + 1]
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    versions = {}
    for package, _ in MANUALS:
        p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
        versions[package] = p.stdout.strip() if p.returncode == 0 else None
    text = data.decode("utf-8")
    return {"path": str(path.relative_to(ROOT)), "bytes": len(data), "characters": len(text),
            "distinct_characters": len(set(text)), "sha256": hashlib.sha256(data).hexdigest(), "sources": sources,
            "package_versions": versions, "licence": "GNU Free Documentation License 1.3"}


# ---------------------------------------------------------------------------------------------------------------
# Machine


def cpu_info(threads):
    text = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", text).group(1)
    family = int(re.search(r"cpu family\s*:\s*(\d+)", text).group(1))
    mhz = float(re.search(r"cpu MHz\s*:\s*([\d.]+)", text).group(1))
    flags = re.search(r"flags\s*:\s*(.*)", text).group(1).split()
    avx512 = "avx512f" in flags
    # AMD family 25 (0x19) is Zen 3/4; with AVX-512 it is Zen 4: 2 × 256-bit FMA pipes = 32 fp32 FLOPs/cycle.
    # Zen 2/3 (AVX2, 2 × 256-bit FMA) are 32 too; a 2-FMA-unit AVX-512 Intel core would be 64.
    per_cycle = 32
    return {"model": model, "family": family, "mhz": mhz, "cores_used": threads, "avx512": avx512,
            "avx512_bf16": "avx512_bf16" in flags, "flops_per_cycle": per_cycle,
            "theoretical_gflops": threads * mhz * 1e-3 * per_cycle}


PEAK_PROBE = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
best = 0.0
for n in (2048, 4096):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    for _ in range(3):
        t = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
print(torch.__version__, best)
"""


def measured_peak(threads):
    """(torch version, best float32 torch.mm GFLOP/s), in a child: torch never loads in this process (see run_child)."""
    version, gflops = subprocess.run([sys.executable, "-c", PEAK_PROBE, str(threads)], capture_output=True, text=True,
                                     check=True).stdout.split()
    return version, float(gflops)


def flops_per_token(L, D, F, V, T):
    n = L * (4 * D * D + 2 * D * F) + V * D
    return 6 * n + 6 * L * T * D


# ---------------------------------------------------------------------------------------------------------------
# Runs


def read_metrics(out):
    train, val = [], []
    for line in (out / "metrics.jsonl").read_text().splitlines():
        m = json.loads(line)
        (val if "val_loss" in m else train).append(m)
    return train, val


def warm_tokens_per_s(train, steps):
    """tokens/s over steps (first logged step)…(steps − 10) from the log lines, the same for both sides."""
    lines = [m for m in train if m["step"] <= steps - 10]
    if len(lines) < 2:
        return None
    a, b = lines[0], lines[-1]
    return (b["tokens"] - a["tokens"]) / (b["elapsed_s"] - a["elapsed_s"])


def run(side, args, data, context, steps, seed, eval_every, reuse=False):
    out = RUNS / f"{side}-ctx{context}-steps{steps}-seed{seed}"
    if reuse and (out / "summary.json").exists() and (out / "run.json").exists():
        return json.loads((out / "run.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    common = ["--data", data, "--out", out, "--layers", args.layers, "--dim", args.dim, "--heads", args.heads,
              "--ffn", args.ffn, "--context", context, "--batch", args.batch, "--lr", args.lr, "--steps", steps,
              "--seed", seed, "--threads", args.threads, "--eval-every", eval_every, "--eval-windows", 64,
              "--log-every", 10, "--dropout", args.dropout]
    if side == "pytorch":
        cmd = [sys.executable, ROOT / "benchmarks" / "train_reference.py", *common]
    else:
        cmd = [args.llmkit, "train", *common, "--tokenizer", "char", "--checkpoint-every", 1_000_000, "--no-export"]
    RUNS.mkdir(parents=True, exist_ok=True)
    log = RUNS / f"{out.name}.log"
    print(f"  {side} context {context} steps {steps} seed {seed} …", end="", flush=True)
    code, wall, rss, maxrss, cpu_s = run_child(cmd, log, ROOT)
    if code != 0:
        print(" failed")
        sys.exit(f"train-speed: {side} failed (exit {code}); see {log}:\n" + log.read_text()[-2000:])
    summary = json.loads((out / "summary.json").read_text())
    train, val = read_metrics(out)
    r = {"side": side, "context": context, "steps": steps, "seed": seed, "wall_s": wall, "peak_rss_bytes": rss,
         "peak_rss_maxrss_bytes": maxrss, "cpu_s": cpu_s, "tokens_per_cpu_s": steps * args.batch * context / cpu_s,
         "tokens_per_s": warm_tokens_per_s(train, steps), "summary_tokens_per_s": summary["tokens_per_s"],
         "final_val_loss": summary["final_val_loss"], "best_val_loss": summary["best_val_loss"],
         "val_curve": [(m["step"], m["val_loss"]) for m in val], "parameters": summary["parameters"]}
    (out / "run.json").write_text(json.dumps(r, indent=2))
    print(f" {r['tokens_per_s']:,.0f} tokens/s, {rss / 2**20:,.0f} MB, val {r['final_val_loss']:.4f}")
    return r


def mean_sd(xs):
    return (statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llmkit", default=None, help="release llmkit binary")
    ap.add_argument("--contexts", default="256,512")
    ap.add_argument("--speed-steps", type=int, default=200)
    ap.add_argument("--quality-steps", type=int, default=2000)
    ap.add_argument("--quality-context", type=int, default=256)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--data-bytes", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 60 speed steps, 200 quality steps")
    ap.add_argument("--skip-llmkit", action="store_true", help="PyTorch only")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="reuse finished quality runs in benchmarks/out/train-runs")
    args = ap.parse_args()
    if args.quick:
        args.speed_steps, args.quality_steps = 60, 200
    if not args.skip_llmkit and not args.llmkit:
        sys.exit("train-speed: --llmkit PATH (or --skip-llmkit)")
    sides = ["pytorch"] + ([] if args.skip_llmkit else ["llmkit"])
    contexts = [int(c) for c in args.contexts.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)

    data_path = OUT / "train-data.txt"
    data = make_data(data_path, args.data_bytes)
    cpu = cpu_info(args.threads)
    torch_version, cpu["measured_gflops"] = measured_peak(args.threads)
    vocab = data["distinct_characters"]
    print(f"data: {data['path']} {data['bytes']:,} bytes, {vocab} distinct characters, sha256 {data['sha256'][:16]}…")
    print(f"cpu: {cpu['model']} ×{args.threads}, {cpu['mhz']:.0f} MHz, peak fp32 {cpu['theoretical_gflops']:.0f} "
          f"GFLOP/s theoretical, {cpu['measured_gflops']:.0f} measured (torch.mm)")

    results = {"data": data, "cpu": cpu, "torch": torch_version, "python": platform.python_version(),
               "config": {k: getattr(args, k) for k in ("layers", "dim", "heads", "ffn", "batch", "lr", "dropout",
                                                         "threads", "speed_steps", "quality_steps", "quality_context")},
               "speed": [], "quality": []}
    for T in contexts:
        fpt = flops_per_token(args.layers, args.dim, args.ffn, vocab, T)
        for side in sides:
            r = run(side, args, data_path, T, args.speed_steps, seeds[0], args.speed_steps)
            r["gflops"] = r["tokens_per_s"] * fpt / 1e9 if r["tokens_per_s"] else None
            r["flops_per_token"] = fpt
            results["speed"].append(r)
    if not args.skip_quality:
        for seed in seeds:
            for side in sides:
                results["quality"].append(run(side, args, data_path, args.quality_context, args.quality_steps, seed,
                                              min(500, args.quality_steps), reuse=args.reuse))
    (OUT / "train-speed.json").write_text(json.dumps(results, indent=2))
    md = report(results, sides, contexts, seeds)
    (OUT / "train-speed.md").write_text(md)
    print("\n" + md)


def report(results, sides, contexts, seeds):
    cpu, cfg = results["cpu"], results["config"]
    lines = [f"# Training: llmkit vs PyTorch {results['torch']} eager (CPU)", "",
             f"Config: gpt2, {cfg['layers']} layers, dim {cfg['dim']}, {cfg['heads']} heads, ffn {cfg['ffn']}, batch "
             f"{cfg['batch']}, lr {cfg['lr']}, dropout {cfg['dropout']}, {cfg['threads']} threads. Data: "
             f"{results['data']['bytes']:,} bytes of GNU manuals ({results['data']['distinct_characters']} "
             f"distinct characters, char tokens). CPU: {cpu['model']} ({cpu['cores_used']} cores used, "
             f"{cpu['mhz']:.0f} MHz), fp32 peak {cpu['theoretical_gflops']:.0f} GFLOP/s theoretical "
             f"({cpu['cores_used']} × {cpu['mhz'] / 1000:.2f} GHz × {cpu['flops_per_cycle']} FLOP/cycle at the clock "
             f"/proc/cpuinfo reports; boost clocks can put the measured figure above it), "
             f"{cpu['measured_gflops']:.0f} GFLOP/s measured (torch.mm).", "",
             f"## Speed ({cfg['speed_steps']} steps; tokens/s over steps 11…N−10, eval excluded)", "",
             "| context | side | tokens/s | vs PyTorch | GFLOP/s | % of measured peak | peak RSS | summary tokens/s | "
             "tokens per CPU-s |", "|---|---|---|---|---|---|---|---|---|"]
    for T in contexts:
        rows = {r["side"]: r for r in results["speed"] if r["context"] == T}
        base = rows["pytorch"]["tokens_per_s"]
        for side in sides:
            r = rows[side]
            lines.append(f"| {T} | {side} | {r['tokens_per_s']:,.0f} | {r['tokens_per_s'] / base:.2f}× | "
                         f"{r['gflops']:.1f} | {100 * r['gflops'] / cpu['measured_gflops']:.0f}% | "
                         f"{r['peak_rss_bytes'] / 2**20:,.0f} MB | {r['summary_tokens_per_s']:,.0f} | "
                         f"{r['tokens_per_cpu_s']:,.0f} |")
    if results["quality"]:
        lines += ["", f"## Quality (validation loss after {cfg['quality_steps']} steps, context "
                  f"{cfg['quality_context']}, seeds {', '.join(map(str, seeds))})", "",
                  "| side | final val loss (mean ± sd) | perplexity | per seed |", "|---|---|---|---|"]
        for side in sides:
            xs = [r["final_val_loss"] for r in results["quality"] if r["side"] == side]
            m, sd = mean_sd(xs)
            lines.append(f"| {side} | {m:.4f} ± {sd:.4f} | {math.exp(m):.2f} | {', '.join(f'{x:.4f}' for x in xs)} |")
    lines += ["", "FLOPs/token = 6·N + 6·L·T·D with N = L·(4D² + 2DF) + V·D (matmul weights incl. the tied output "
              "head); tokens per CPU-s = all training tokens / the child's user+sys CPU time (whole run, incl. start-up and "
              "validation), a figure less sensitive to other load on the machine (spinning worker threads count as "
              "CPU time); timings on a shared 2-core VM are noisy.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
