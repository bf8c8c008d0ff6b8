"""Load benchmark of `llmkit serve` against llama.cpp's `llama-server`, same model, same machine, same run.

For each server: 1 stream alone, then 8 concurrent streams (each a greedy completion of a fixed number of tokens
from its own raw prompt). Reported: aggregate generated tokens/s (all tokens / wall time from the first request to
the last token), the 8-vs-1 ratio (does batching work?), p50/p90 time to first token; llmkit's vs llama-server's
aggregate; and llmkit's server overhead per token: `llmkit bench`'s plain decode rate (no HTTP, no JSON) against
the single stream's rate through the server.

    .venv/bin/python benchmarks/server-load.py --llmkit .build/release/llmkit --llama-server .bench/llama-server MODEL.gguf

Both servers run with the same threads and 8 parallel slots of the same context. Figures on a shared machine are
noisy: run it again before reading much into a few percent.
"""
import argparse
import glob
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

PROMPTS = [f"Write a long story about a {w}. Once upon a time," for w in
           ["dragon", "lighthouse keeper", "robot", "sailor", "baker", "fox", "mountain village", "clockmaker"]]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def stream(url, body, parse):
    """POSTs `body`, reads the stream; returns (seconds to first token, token count, end time, first-token time)."""
    t0 = time.perf_counter()
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    first, tokens = None, 0
    with urllib.request.urlopen(req, timeout=600) as r:
        for raw in r:
            n, done = parse(raw)
            if n and first is None:
                first = time.perf_counter() - t0
            tokens = max(tokens, n) if done else tokens
            if done:
                break
    return first or 0.0, tokens, time.perf_counter(), t0 + (first or 0.0)


def llmkit_request(port, prompt, n):
    body = {"model": "bench:q4_0", "prompt": prompt, "raw": True, "stream": True,
            "options": {"temperature": 0, "num_predict": n, "repeat_penalty": 1}}

    def parse(raw):
        o = json.loads(raw)
        return (o.get("eval_count", 0) if o.get("done") else (1 if o.get("response") else 0)), o.get("done", False)
    return f"http://127.0.0.1:{port}/api/generate", body, parse


def llama_request(port, prompt, n):
    body = {"prompt": prompt, "n_predict": n, "stream": True, "temperature": 0, "ignore_eos": True,
            "cache_prompt": False}

    def parse(raw):
        line = raw.decode().strip()
        if not line.startswith("data: "):
            return 0, False
        o = json.loads(line[6:])
        if o.get("stop"):
            return o.get("tokens_predicted", 0), True
        return (1 if o.get("content") else 0), False
    return f"http://127.0.0.1:{port}/completion", body, parse


def run_load(make, port, streams, n):
    results = [None] * streams

    def one(i):
        url, body, parse = make(port, PROMPTS[i % len(PROMPTS)], n)
        results[i] = stream(url, body, parse)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = max(r[2] for r in results) - t0
    tokens = sum(r[1] for r in results)
    ttft = sorted(r[0] for r in results)
    # Decode rate as the client sees it: tokens after the first over the time from the first token to the last.
    decode = sum(r[1] - 1 for r in results) / max(1e-9, max(r[2] for r in results) - min(r[3] for r in results))
    return {"tok_s": tokens / wall, "decode_tok_s": decode, "tokens": tokens, "wall": wall, "ttft_p50": statistics.median(ttft),
            "ttft_p90": ttft[min(len(ttft) - 1, int(round(0.9 * (len(ttft) - 1))))]}


def thread_cpu(pid):
    """CPU seconds per thread name of process `pid` (Linux /proc; {} elsewhere). llmkit names its compute threads
    llmkit-decode (the scheduler) and llmkit-worker-N (the kernels' pool); everything else is the server side."""
    out = {}
    for stat in glob.glob(f"/proc/{pid}/task/*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def measure(name, make, port, n, repeats, pid=None):
    make_warm = make(port, "Hello", 4)
    stream(*make_warm)
    out = {}
    for streams in (1, 8):
        before = thread_cpu(pid) if pid else {}
        runs = [run_load(make, port, streams, n) for _ in range(repeats)]
        best = max(runs, key=lambda r: r["tok_s"])
        out[streams] = best
        if pid:
            after = thread_cpu(pid)
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            compute = sum(v for k, v in delta.items() if k.startswith("llmkit-decode") or k.startswith("llmkit-worker"))
            best["cpu_compute"], best["cpu_server"] = compute, sum(delta.values()) - compute
        print(f"  {name:12s} {streams} stream(s): {best['tok_s']:7.1f} tok/s ({best['tokens']} tokens in {best['wall']:.1f} s), "
              f"decode {best['decode_tok_s']:7.1f} tok/s, TTFT p50 {best['ttft_p50'] * 1000:.0f} ms p90 {best['ttft_p90'] * 1000:.0f} ms", flush=True)
    return out


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="GGUF (SmolLM2 Q4_0 for the issue's figures)")
    ap.add_argument("--llmkit", required=True)
    ap.add_argument("--llama-server", help="llama.cpp's llama-server (scripts/bench-setup-server.sh); omitted: llmkit only")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--tokens", type=int, default=128, help="tokens per stream")
    ap.add_argument("--ctx", type=int, default=1024, help="context per slot")
    ap.add_argument("--repeats", type=int, default=2, help="runs per setting (the best is kept)")
    a = ap.parse_args()
    model = Path(a.model).resolve()
    results = {}

    # llmkit serve: a temporary store holding the model as bench:q4_0.
    with tempfile.TemporaryDirectory() as store:
        os.symlink(model, Path(store) / model.name)
        (Path(store) / "manifests" / "library" / "bench").mkdir(parents=True)
        (Path(store) / "manifests" / "library" / "bench" / "q4_0.json").write_text(json.dumps({"name": "bench:q4_0", "file": model.name}))
        port = free_port()
        log = open(Path(store) / "serve.log", "w")
        proc = subprocess.Popen([a.llmkit, "serve", "--host", "127.0.0.1", "--port", str(port), "--models", store, "--parallel", "8",
                                 "--ctx", str(a.ctx), "-t", str(a.threads), "--keep-alive=-1"], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_up(f"http://127.0.0.1:{port}/", proc)
            print("llmkit serve --parallel 8", flush=True)
            results["llmkit"] = measure("llmkit", llmkit_request, port, a.tokens, a.repeats, pid=proc.pid)
        finally:
            stop(proc)
            log.close()

    if a.llama_server:
        port = free_port()
        proc = subprocess.Popen([a.llama_server, "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "--parallel", "8",
                                 "-c", str(8 * a.ctx), "-t", str(a.threads), "-tb", str(a.threads), "--no-webui"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(f"http://127.0.0.1:{port}/health", proc)
            print("llama-server --parallel 8", flush=True)
            results["llama.cpp"] = measure("llama-server", llama_request, port, a.tokens, a.repeats)
        finally:
            stop(proc)

    # Plain decode, no server: llmkit bench's tg figure.
    p = subprocess.run([a.llmkit, "bench", str(model), "-t", str(a.threads), "-p", "0", "-n", str(a.tokens), "-r", "3", "-o", "json"],
                       capture_output=True, text=True)
    plain = None
    if p.returncode == 0:
        try:
            plain = next(r["avg_ts"] for r in json.loads(p.stdout) if r.get("n_gen", 0) > 0)
        except (ValueError, StopIteration, KeyError, TypeError):
            plain = None
    if plain is None:
        print(f"(llmkit bench gave no tg figure: {p.stderr.strip()[-200:]})")

    print("\n| server | 1 stream tok/s | 8 streams tok/s | 8 / 1 | TTFT p50 (8) | TTFT p90 (8) |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r[1]['tok_s']:.1f} | {r[8]['tok_s']:.1f} | {r[8]['tok_s'] / r[1]['tok_s']:.2f}× | "
              f"{r[8]['ttft_p50'] * 1000:.0f} ms | {r[8]['ttft_p90'] * 1000:.0f} ms |")
    if "llama.cpp" in results:
        print(f"\nllmkit / llama-server, 8 streams aggregate: {results['llmkit'][8]['tok_s'] / results['llama.cpp'][8]['tok_s']:.2f}×"
              f"   1 stream: {results['llmkit'][1]['tok_s'] / results['llama.cpp'][1]['tok_s']:.2f}×")
    for streams in (1, 8):
        r = results["llmkit"][streams]
        if r.get("cpu_compute"):
            print(f"server CPU beside the compute threads ({streams} stream(s)): {100 * r['cpu_server'] / r['cpu_compute']:.2f}% of the "
                  f"decode/worker threads' CPU time (HTTP, JSON, scheduling; {r['cpu_server']:.2f} s vs {r['cpu_compute']:.2f} s)")
    if plain:
        single = results["llmkit"][1]["decode_tok_s"]
        print(f"server overhead per token: plain decode {plain:.1f} tok/s (llmkit bench tg), through the server {single:.1f} tok/s "
              f"(1 stream, first token to last, as the client sees it) → {100 * (1 / single - 1 / plain) * plain:.1f}% of decode time")


if __name__ == "__main__":
    sys.exit(main())
