"""`llmkit quantize` next to llama.cpp's own quantizer (llama_model_quantize from the PyPI llama-cpp-python
wheel, i.e. llama-quantize's code) on the same file, types and thread count, in the same run; also says
whether the two output files are byte-identical.
    usage: .venv-bench/bin/python benchmarks/quantize-speed.py [MODEL.gguf] [--threads N] [--types q4_k_m,q4_0,q8_0]
MODEL defaults to an F16 SmolLM2-135M made from the PyPI Q4_1 file."""
import argparse
import ctypes
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

import llama_cpp

ROOT = Path(__file__).resolve().parents[1]
FTYPE = {"q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9, "q2_k": 10, "q3_k_s": 11, "q3_k_m": 12, "q3_k_l": 13,
         "q4_k_s": 14, "q4_k_m": 15, "q5_k_s": 16, "q5_k_m": 17, "q6_k": 18, "f16": 1, "bf16": 32}


def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 24), b""):
            h.update(b)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--types", default="q4_k_m,q4_0,q8_0,q6_k")
    ap.add_argument("--llmkit", help="an llmkit binary (default: build this checkout in release)")
    a = ap.parse_args()
    llmkit = a.llmkit
    if llmkit is None:
        subprocess.run(["swift", "build", "-c", "release", "--product", "llmkit"], cwd=ROOT, check=True, capture_output=True)
        bindir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout.strip()
        llmkit = f"{bindir}/llmkit"
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks") as d:
        model = a.model
        if model is None:
            model = f"{d}/smollm2-f16.gguf"
            subprocess.run([llmkit, "quantize", ROOT / ".assets/SmolLM2-135M-Instruct.Q4_1.gguf", model, "f16",
                            "--allow-requantize", "--quiet"], check=True)
        llama_cpp.llama_backend_init()
        print(f"{Path(model).name}, {a.threads} threads")
        print(f"{'type':8} {'llmkit s':>9} {'llama.cpp s':>12} {'ratio':>6}  identical file")
        for t in a.types.split(","):
            ours, theirs = f"{d}/ours-{t}.gguf", f"{d}/theirs-{t}.gguf"
            t0 = time.perf_counter()
            subprocess.run([llmkit, "quantize", model, ours, t, "--threads", str(a.threads), "--quiet"], check=True,
                           capture_output=True)
            t_ours = time.perf_counter() - t0
            params = llama_cpp.llama_model_quantize_default_params()
            params.nthread = a.threads
            params.ftype = FTYPE[t]
            t0 = time.perf_counter()
            rc = llama_cpp.llama_model_quantize(model.encode(), theirs.encode(), ctypes.byref(params))
            t_theirs = time.perf_counter() - t0
            assert rc == 0, f"llama_model_quantize failed for {t}"
            same = sha(ours) == sha(theirs)
            print(f"{t:8} {t_ours:9.2f} {t_theirs:12.2f} {t_theirs / t_ours:6.2f}  {'yes' if same else 'NO'}")
            os.remove(ours); os.remove(theirs)
        print("ratio = llama.cpp time / llmkit time (above 1: llmkit is faster)")


if __name__ == "__main__":
    main()
