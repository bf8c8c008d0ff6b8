"""The 8B memory run: one QLoRA optimizer step on a Llama-3.1-8B-shaped Q4_0 base at --max-seq 512 with gradient
checkpointing, its peak RSS (the issue's bound: ≤ 20 GiB) and tokens/s. Not a CI test (it writes ~4.6 GB and
trains on 8 billion parameters on the CPU).

The base, written here by streaming into a temporary folder and deleted at the end (--keep to keep it):
  - metadata: every key of a GGUF that our own `llmkit convert` writes for a 1-layer, 256-dim checkpoint made by
    `llmkit dev make-checkpoint --shape llama3-8b` (so: Llama 3's real tokenizer from .assets/tokenizer.json, its
    chat template, BOS/EOS, `llama-bpe` pre-tokenizer), with the llama.* hyperparameters set to Llama 3.1 8B's
    (dim 4096, 32 layers, 32 heads / 8 kv heads, ffn 14336, vocab 128256, head dim 128, rope base 500000, context
    131072) and general.file_type = 2 (MOSTLY_Q4_0).
  - rope_freqs.weight: copied from that same file (our converter's Llama 3.1 rope factors for head dim 128, factor 8).
  - weights: random normal rows (std 0.02, numpy PCG64 seeded with --seed) quantized block by block with gguf-py's
    own Q4_0 quantizer (llama.cpp's reference algorithm), written chunk by chunk: token_embd and every block's 7
    matrices Q4_0; output.weight Q8_0 (llama-quantize's Q4_0 mix puts Q6_K there, which gguf-py cannot quantize;
    Q8_0 is larger, so the memory figure is an upper bound); norms F32 ones. Python's peak stays at one chunk.
The step: `llmkit finetune BASE --max-steps 1 --max-seq 512 --grad-checkpoint` on alpaca records of real code long
enough to fill 512 tokens (tokens/s from its metrics.jsonl), and with --lora-step also `llmkit dev lora-step BASE
--bench 1 --length 512 --grad-checkpoint` (random tokens, all scored — the most output-projection work a step can
have; it runs 2 untimed warm-up steps first). Each is a child
process whose peak RSS is its VmHWM polled from /proc (it includes the memory-mapped base pages the step touched:
all of them).

    usage: .venv/bin/python benchmarks/lora-8b-memory.py --llmkit .build/release/llmkit [--workdir DIR]
           [--targets q_proj,v_proj] [--threads 2] [--keep] [--base KEPT.gguf] [--skip-finetune] [--lora-step]
Writes benchmarks/results/lora-8b-memory.json.
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import gguf
from gguf.quants import quantize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from child_run import load_average, run_child  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
LIMIT = 20 * 2**30

SHAPE = {"llama.embedding_length": 4096, "llama.block_count": 32, "llama.feed_forward_length": 14336,
         "llama.attention.head_count": 32, "llama.attention.head_count_kv": 8, "llama.vocab_size": 128256,
         "llama.rope.dimension_count": 128, "llama.attention.key_length": 128, "llama.attention.value_length": 128,
         "llama.context_length": 131072}
Q = gguf.GGMLQuantizationType


def tensor_plan(shape=SHAPE):
    """[(name, ggml dims [ne0 = columns, ne1 = rows], type)] in llama.cpp's order."""
    d, f, v = shape["llama.embedding_length"], shape["llama.feed_forward_length"], shape["llama.vocab_size"]
    head = shape["llama.rope.dimension_count"]
    kv = shape["llama.attention.head_count_kv"] * head
    plan = [("rope_freqs.weight", [head // 2], Q.F32), ("token_embd.weight", [d, v], Q.Q4_0)]
    for i in range(shape["llama.block_count"]):
        p = f"blk.{i}."
        plan += [(p + "attn_norm.weight", [d], Q.F32), (p + "attn_q.weight", [d, d], Q.Q4_0),
                 (p + "attn_k.weight", [d, kv], Q.Q4_0), (p + "attn_v.weight", [d, kv], Q.Q4_0),
                 (p + "attn_output.weight", [d, d], Q.Q4_0), (p + "ffn_norm.weight", [d], Q.F32),
                 (p + "ffn_gate.weight", [d, f], Q.Q4_0), (p + "ffn_up.weight", [d, f], Q.Q4_0),
                 (p + "ffn_down.weight", [f, d], Q.Q4_0)]
    plan += [("output_norm.weight", [d], Q.F32), ("output.weight", [d, v], Q.Q8_0)]
    return plan


def nbytes(dims, qtype):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    return int(np.prod(dims)) // block * size


def header_source(llmkit, work):
    """A tiny GGUF from our own converter with the Llama 3 tokenizer and the 8B's rope (head dim 128)."""
    hf, out = work / "header-hf", work / "header.gguf"
    run = lambda cmd, **kw: subprocess.run([str(c) for c in cmd], **kw)
    run([llmkit, "dev", "make-checkpoint", "--shape", "llama3-8b", "--layers", 1, "--hidden", 256, "--intermediate", 512,
         "--heads", 2, "--kv-heads", 1, "--head-dim", 128, "--tokenizer", ROOT / ".assets" / "tokenizer.json", "-o", hf,
         "--quiet"], check=True, capture_output=True)
    run([llmkit, "convert", hf, "-o", out, "--quiet"], check=True, capture_output=True)
    shutil.rmtree(hf)
    return out


def write_base(path, source, seed, log=print, shape=SHAPE):
    reader = gguf.GGUFReader(source)
    w = gguf.GGUFWriter(path, "llama")
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if name in shape:
            value = shape[name]
        elif name == "general.file_type":
            value = gguf.LlamaFileType.MOSTLY_Q4_0
        elif name == "general.name":
            value = "llama3.1-8b-shaped-random"
        w.add_key_value(name, value, vtype, sub_type=sub)
    missing = set(shape) - set(reader.fields)
    if missing:
        sys.exit(f"lora-8b-memory: the converter's GGUF lacks {sorted(missing)}")
    rope = next(t for t in reader.tensors if t.name == "rope_freqs.weight")
    plan = tensor_plan(shape)
    for name, dims, qtype in plan:
        # element shape (numpy order), not a byte shape: that is what a float dtype with raw_dtype tells the writer
        w.add_tensor_info(name, list(reversed(dims)), np.dtype(np.float32),
                          nbytes(dims, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    fout = w.fout[0]
    rng = np.random.default_rng(seed)
    total = sum(nbytes(d, q) for _, d, q in plan)
    done, start = 0, time.perf_counter()
    for i, (name, dims, qtype) in enumerate(plan):
        w.write_padding(fout, fout.tell())
        if name == "rope_freqs.weight":
            data = np.asarray(rope.data, dtype=np.float32)
            assert data.shape == (dims[0],), (data.shape, dims)
            data.tofile(fout)
        elif qtype == Q.F32:
            np.ones(dims, dtype=np.float32).tofile(fout)
        else:
            cols, rows = dims[0], dims[1]
            step = max(1, (16 << 20) // (cols * 4))  # ~16 MB of F32 per chunk
            for r in range(0, rows, step):
                x = rng.standard_normal((min(step, rows - r), cols), dtype=np.float32)
                x *= 0.02
                quantize(x, qtype).tofile(fout)
        n = nbytes(dims, qtype)
        w.write_padding(fout, n)
        done += n
        if i % 25 == 0 or i == len(plan) - 1:
            el = time.perf_counter() - start
            log(f"  [{i + 1}/{len(plan)}] {name}: {done / 2**30:.2f} / {total / 2**30:.2f} GiB, {el:.0f} s")
    w.close()
    return total


def long_records(path, n=4):
    """Alpaca records whose output is a long real function (Python standard library), to fill 512 tokens."""
    import sft_records
    rows, _ = sft_records.records(n, min_chars=3000, max_chars=20000)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def step(name, cmd, work):
    log = work / f"{name}.log"
    load = load_average()
    print(f"{name}: {' '.join(map(str, cmd))}\n  (load before {load[0]:.2f}) …", flush=True)
    code, wall, rss, _, cpu = run_child(cmd, log, ROOT, poll=0.1)
    text = log.read_text()
    tps = re.findall(r"tokens/s\s+([\d.]+)", text)  # dev lora-step --bench: "tokens/s 12.3 (best step …)"
    r = {"command": [str(c) for c in cmd], "exit": code, "wall_s": wall, "cpu_s": cpu, "peak_rss_bytes": rss,
         "peak_rss_gib": rss / 2**30, "within_20_gib": rss <= LIMIT, "load_before": load,
         "tokens_per_s_printed": float(tps[-1].replace(",", "")) if tps else None, "output_tail": text[-1500:]}
    print(f"  exit {code}, {wall:.0f} s wall, peak RSS {rss / 2**30:.2f} GiB "
          f"({'within' if rss <= LIMIT else 'OVER'} 20 GiB), tokens/s printed: {r['tokens_per_s_printed']}")
    if code != 0:
        print(text[-2000:])
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llmkit", required=True)
    ap.add_argument("--workdir", default=None, help="where the temporary folder goes (default: the system's)")
    ap.add_argument("--targets", default="q_proj,v_proj")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the 8B GGUF (prints its path)")
    ap.add_argument("--base", help="reuse an 8B GGUF written by an earlier --keep run")
    ap.add_argument("--lora-step", action="store_true", help="also `dev lora-step --bench 1` (2 warm-up steps + 1: 3× the time)")
    ap.add_argument("--skip-finetune", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lora-8b-", dir=args.workdir))
    res = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "limit_bytes": LIMIT, "runs": {}}
    try:
        if args.base:
            base = Path(args.base)
        else:
            base = work / "llama3.1-8b-shaped.Q4_0.gguf"
            print(f"writing {base} …", flush=True)
            t = time.perf_counter()
            res["base_bytes"] = write_base(base, header_source(args.llmkit, work), args.seed)
            res["write_s"] = time.perf_counter() - t
        res["base_file_bytes"] = base.stat().st_size
        print(f"base: {base.stat().st_size / 2**30:.2f} GiB", flush=True)
        common = ["--rank", args.rank, "--targets", args.targets, "--threads", args.threads, "--grad-checkpoint"]
        if args.lora_step:
            res["runs"]["lora_step"] = step("lora-step", [args.llmkit, "dev", "lora-step", base, "--bench", 1,
                                                              "--length", 512, "--batch", 1, *common], work)
        if not args.skip_finetune:
            data = work / "long.jsonl"
            long_records(data)
            res["runs"]["finetune"] = step("finetune", [args.llmkit, "finetune", base, "--data", data, "--out",
                                                        work / "adapter", "--max-steps", 1, "--max-seq", 512,
                                                        "--batch-size", 1, "--grad-accum", 1, "--logging-steps", 1,
                                                        "--save-steps", 1_000_000, *common], work)
            metrics = work / "adapter" / "metrics.jsonl"
            if metrics.exists():
                lines = [json.loads(l) for l in metrics.read_text().splitlines()]
                res["runs"]["finetune"]["metrics"] = lines
                train = [m for m in lines if "tokens_per_s" in m]
                if train:
                    res["runs"]["finetune"]["tokens"] = train[-1]["tokens"]
                    res["runs"]["finetune"]["tokens_per_s"] = train[-1]["tokens_per_s"]
                    print(f"  finetune: {train[-1]['tokens']} tokens in the step, {train[-1]['tokens_per_s']} tokens/s")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    res["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lora-8b-memory.json").write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {RESULTS / 'lora-8b-memory.json'}")


if __name__ == "__main__":
    main()
