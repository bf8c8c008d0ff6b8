"""Kernel benchmark: llmkit's matrix × vector and matrix × matrix (512-row batch) next to llama.cpp's ggml on
the same shapes, types and thread count, in the same run, plus the machine's memory bandwidth.
ggml is the one inside the PyPI `llama-cpp-python` wheel (built from source with GGML_NATIVE=ON), called
through ctypes: ggml_mul_mat on a CPU context, the operation llama.cpp runs for every weight matrix.
    usage: .venv-bench/bin/python benchmarks/kernels.py [--threads N] [--quick] [--types q4_k,...]
                                                        [--shapes 4096x4096,...] [--bench-bin PATH]
--bench-bin (or $LLMKIT_BENCH_BIN): an already built kernels-bench binary (e.g. from a separate
--scratch-path); without it the script builds the release product into the default .build.
--cpu-time (with --threads 1): both sides (and kernels-bench's bandwidth probes) timed in the calling thread's
CPU time instead of wall time, so a busy machine's preemptions do not count.
(`make bench-kernels` creates .venv-bench and builds llama-cpp-python first; that build takes ~10 minutes.)"""
import argparse
import ctypes
import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GGML_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "q2_k": 10, "q3_k": 11,
              "q4_k": 12, "q5_k": 13, "q6_k": 14, "bf16": 30}


class InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


def load_ggml():
    import llama_cpp
    libdir = Path(llama_cpp.__file__).parent / "lib"
    libs = {}
    for name in ["ggml-base", "ggml-cpu", "ggml"]:
        cands = sorted(glob.glob(str(libdir / f"lib{name}.so*"))) + sorted(glob.glob(str(libdir / f"lib{name}.dylib")))
        if cands:
            libs[name] = ctypes.CDLL(cands[0], mode=ctypes.RTLD_GLOBAL)
    base, cpu = libs.get("ggml-base", libs.get("ggml")), libs.get("ggml-cpu", libs.get("ggml"))
    base.ggml_init.restype = ctypes.c_void_p
    base.ggml_init.argtypes = [InitParams]
    base.ggml_new_tensor_2d.restype = ctypes.c_void_p
    base.ggml_new_tensor_2d.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    base.ggml_get_data.restype = ctypes.c_void_p
    base.ggml_get_data.argtypes = [ctypes.c_void_p]
    base.ggml_mul_mat.restype = ctypes.c_void_p
    base.ggml_mul_mat.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    base.ggml_new_graph.restype = ctypes.c_void_p
    base.ggml_new_graph.argtypes = [ctypes.c_void_p]
    base.ggml_build_forward_expand.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    base.ggml_quantize_chunk.restype = ctypes.c_size_t
    base.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                         ctypes.c_int64, ctypes.c_void_p]
    base.ggml_row_size.restype = ctypes.c_size_t
    base.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    base.ggml_free.argtypes = [ctypes.c_void_p]
    cpu.ggml_graph_compute_with_ctx.restype = ctypes.c_int
    cpu.ggml_graph_compute_with_ctx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    if hasattr(cpu, "ggml_cpu_init"):
        cpu.ggml_cpu_init()
    return base, cpu


CLOCK = time.perf_counter


def ggml_time(base, cpu, tname, rows, cols, batch, threads, reps):
    t = GGML_TYPES[tname]
    wbytes = base.ggml_row_size(t, cols) * rows
    mem = wbytes + 4 * cols * batch + 4 * rows * batch + 4 * cols * batch + (256 << 20)
    ctx = base.ggml_init(InitParams(mem, None, False))
    w = base.ggml_new_tensor_2d(ctx, t, cols, rows)
    x = base.ggml_new_tensor_2d(ctx, 0, cols, batch)
    rng = np.random.default_rng(42)
    wf = rng.standard_normal((rows, cols), dtype=np.float32) * 0.02
    if t == 0:
        ctypes.memmove(base.ggml_get_data(w), wf.ctypes.data, wf.nbytes)
    elif t in (1, 30):
        h = wf.astype(np.float16) if t == 1 else (wf.view(np.uint32) >> 16).astype(np.uint16)
        ctypes.memmove(base.ggml_get_data(w), h.ctypes.data, h.nbytes)
    else:
        base.ggml_quantize_chunk(t, wf.ctypes.data, base.ggml_get_data(w), 0, rows, cols, None)
    xf = rng.standard_normal((batch, cols), dtype=np.float32)
    ctypes.memmove(base.ggml_get_data(x), xf.ctypes.data, xf.nbytes)
    y = base.ggml_mul_mat(ctx, w, x)
    gf = base.ggml_new_graph(ctx)
    base.ggml_build_forward_expand(gf, y)
    cpu.ggml_graph_compute_with_ctx(ctx, gf, threads)  # warm up
    best = float("inf")
    for _ in range(reps):
        t0 = CLOCK()
        cpu.ggml_graph_compute_with_ctx(ctx, gf, threads)
        best = min(best, CLOCK() - t0)
    base.ggml_free(ctx)
    return best, wbytes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--types", default="q4_0,q8_0,q4_k,q6_k,f16")
    ap.add_argument("--shapes", default=None, help="rows×cols list, e.g. 1024x1024,4096x4096,11008x4096")
    ap.add_argument("--bench-bin", default=os.environ.get("LLMKIT_BENCH_BIN"),
                    help="kernels-bench binary to run (default: build it with swift build -c release)")
    ap.add_argument("--cpu-time", action="store_true", help="time in thread CPU seconds (needs --threads 1)")
    a = ap.parse_args()
    if a.cpu_time:
        if a.threads != 1:
            ap.error("--cpu-time needs --threads 1")
        global CLOCK
        CLOCK = time.thread_time
    exe = a.bench_bin
    if not exe:
        subprocess.run(["swift", "build", "-c", "release", "--product", "kernels-bench"], cwd=ROOT, check=True,
                       capture_output=True)
        binpath = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout.strip()
        exe = f"{binpath}/kernels-bench"
    out = subprocess.run([exe, "--threads", str(a.threads), "--types", a.types, "--json"]
                         + (["--quick"] if a.quick else []) + (["--shapes", a.shapes] if a.shapes else [])
                         + (["--cpu-time"] if a.cpu_time else []),
                         check=True, capture_output=True, text=True).stdout
    ours = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    print("\n".join(l for l in out.splitlines() if not l.startswith("{")))
    stream = next(o for o in ours if o["kind"] == "stream")
    base, cpu = load_ggml()
    print(f"\nllmkit vs llama.cpp (ggml_mul_mat), {a.threads} threads; read bandwidth {stream['gbps_read']:.1f} GB/s, "
          f"copy {stream['gbps_n']:.1f} GB/s")
    print(f"{'type':6} {'rows×cols':>12} | {'matvec llmkit':>13} {'ggml':>9} {'ratio':>6} {'%read':>5} | {'mm512 llmkit':>12} {'ggml':>9} {'ratio':>6}")
    for o in ours:
        if o["kind"] != "matvec":
            continue
        reps = 5 if o["rows"] * o["cols"] > 8_000_000 else 20
        tv, wbytes = ggml_time(base, cpu, o["type"], o["rows"], o["cols"], 1, a.threads, reps)
        line = (f"{o['type']:6} {o['rows']:>5}×{o['cols']:<6} | {o['seconds'] * 1e6:11.1f}µs {tv * 1e6:7.1f}µs "
                f"{tv / o['seconds']:6.2f} {100 * wbytes / o['seconds'] / 1e9 / stream['gbps_read']:4.0f}% |")
        if o["matmul512_seconds"] > 0:
            tm, _ = ggml_time(base, cpu, o["type"], o["rows"], o["cols"], 512, a.threads, 2)
            line += f" {o['matmul512_seconds'] * 1e3:10.1f}ms {tm * 1e3:7.1f}ms {tm / o['matmul512_seconds']:6.2f}"
        print(line)
    print("ratio = ggml time / llmkit time (above 1: llmkit is faster); %read = llmkit's weight bytes per second "
          "over the read bandwidth (above 100%: the matrix fits in the last-level cache)")


if __name__ == "__main__":
    sys.exit(main())
