"""Inference speed: llmkit next to llama.cpp on the same GGUF files, threads and machine, in the same run.

For each model: pp<P> (P random tokens as one batch from an empty cache) and tg<N> (N tokens one at a time), the way
llama-bench measures them, -r repetitions after a warm-up. llama.cpp is the library inside the PyPI
`llama-cpp-python` wheel in .venv-bench (built from source with GGML_NATIVE=ON by scripts/bench-setup.sh), driven
through its C API with flash attention off (as the references) — the same work llama-bench does.
Also reports llmkit's peak RSS next to the model file size.

    usage: .venv-bench/bin/python benchmarks/infer-speed.py --llmkit .build/release/llmkit MODEL.gguf [...]
           [--threads 2] [-p 512] [-n 128] [-r 3] [--variants q4_0,q8_0,q4_k_m,f16]
    --variants makes those llama.cpp-identical variants of the first MODEL with `llmkit quantize
    --allow-requantize` into benchmarks/out/ (once) and benchmarks them too.
"""
import argparse
import ctypes
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time


def llama_cpp_bench(path, threads, n_prompt, n_gen, reps):
    import llama_cpp as lc
    global _quiet
    _quiet = lc.llama_log_callback(lambda level, text, data: None)  # keep a reference: llama.cpp holds the pointer
    lc.llama_log_set(_quiet, ctypes.c_void_p())
    lc.llama_backend_init()
    mp = lc.llama_model_default_params()
    model = lc.llama_model_load_from_file(path.encode(), mp)
    cp = lc.llama_context_default_params()
    cp.n_ctx = max(n_prompt, n_gen) + 16
    cp.n_batch = max(n_prompt, 1)
    cp.n_ubatch = 512
    cp.n_threads = threads
    cp.n_threads_batch = threads
    cp.flash_attn_type = 0
    ctx = lc.llama_init_from_model(model, cp)
    vocab = lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(model))
    rng = random.Random(42)

    def clear():
        if hasattr(lc, "llama_memory_clear"):
            lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
        else:
            lc.llama_kv_self_clear(ctx)

    def pp():
        clear()
        toks = (ctypes.c_int32 * n_prompt)(*[rng.randrange(vocab) for _ in range(n_prompt)])
        assert lc.llama_decode(ctx, lc.llama_batch_get_one(toks, n_prompt)) == 0
        lc.llama_synchronize(ctx)

    def tg():
        clear()
        tok = (ctypes.c_int32 * 1)(1)
        for _ in range(n_gen):
            assert lc.llama_decode(ctx, lc.llama_batch_get_one(tok, 1)) == 0
            lc.llama_synchronize(ctx)
            tok[0] = rng.randrange(vocab)

    out = {}
    for name, fn, n in (("pp", pp, n_prompt), ("tg", tg, n_gen)):
        if n == 0:
            continue
        fn()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(n / (time.perf_counter() - t0))
        out[f"{name}{n}"] = (statistics.mean(ts), statistics.stdev(ts) if len(ts) > 1 else 0.0)
    lc.llama_free(ctx)
    lc.llama_model_free(model)
    return out


def llmkit_bench(binary, path, threads, n_prompt, n_gen, reps):
    p = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "bench", path, "-p", str(n_prompt), "-n", str(n_gen),
                        "-t", str(threads), "-r", str(reps), "-o", "json"], capture_output=True, text=True, check=True)
    rss_kib = int(p.stderr.strip().splitlines()[-1])
    rows = json.loads(p.stdout)
    out = {}
    for r in rows:
        name = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
        out[name] = (r["avg_ts"], r["stddev_ts"])
    return out, rss_kib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llmkit", required=True)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("--variants", default="")
    a = ap.parse_args()
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
    for v in [v for v in a.variants.split(",") if v]:
        base = a.models[0]
        dst = os.path.join(out_dir, os.path.basename(base).rsplit(".", 2)[0] + f".{v.upper()}.gguf")
        if not os.path.exists(dst):
            os.makedirs(out_dir, exist_ok=True)
            subprocess.run([a.llmkit, "quantize", "--allow-requantize", "--quiet", base, dst, v], check=True,
                           stdout=subprocess.DEVNULL)
        a.models.append(dst)
    print(f"threads {a.threads}, pp{a.p} / tg{a.n}, {a.r} repetitions; tokens/s mean ± sd; ratio = llmkit / llama.cpp")
    print(f"| model | test | llmkit t/s | llama.cpp t/s | ratio | llmkit peak RSS / file |")
    print(f"| --- | --- | ---: | ---: | ---: | ---: |")
    for m in a.models:
        ours, rss = llmkit_bench(a.llmkit, m, a.threads, a.p, a.n, a.r)
        theirs = llama_cpp_bench(m, a.threads, a.p, a.n, a.r)
        size = os.path.getsize(m) / 2**20
        for test in ours:
            o, t = ours[test], theirs[test]
            print(f"| {os.path.basename(m)} | {test} | {o[0]:.2f} ± {o[1]:.2f} | {t[0]:.2f} ± {t[1]:.2f} | "
                  f"{o[0] / t[0]:.2f} | {rss / 1024:.0f} / {size:.0f} MiB |", flush=True)


if __name__ == "__main__":
    main()
