"""End-to-end: llama.cpp itself loads what llmkit writes. SmolLM2 (PyPI Q4_1 GGUF) → `llmkit convert` → HF folder
→ `llmkit convert --type f16` → GGUF, then llama.cpp (llama-cpp-python) decodes greedily from that file; the
tokens must equal shared/reference/greedy-F16.json, which llama.cpp produced from llama-quantize's F16 variant
of the same model (the same tensors: f16 of the dequantized Q4_1 weights).
    usage: .venv-bench/bin/python benchmarks/llama-cpp-roundtrip.py [--llmkit BIN]   (make bench-setup first)"""
import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import llama_cpp

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT.parent / "shared" / "reference" / "greedy-F16.json"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llmkit", default=str(ROOT / ".build" / "release" / "llmkit"))
    a = ap.parse_args()
    ref = json.loads(REF.read_text())
    with tempfile.TemporaryDirectory() as d:
        hf, gguf = Path(d) / "hf", Path(d) / "smollm2-f16.gguf"
        subprocess.run([a.llmkit, "convert", ROOT / ".assets/SmolLM2-135M-Instruct.Q4_1.gguf", "-o", hf, "--quiet"], check=True)
        subprocess.run([a.llmkit, "convert", hf, "-o", gguf, "--type", "f16", "--quiet"], check=True)
        llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=1024, n_threads=2, n_batch=1024, logits_all=False,
                              verbose=False, flash_attn=False)
        same = 0
        for r in ref["results"]:
            toks = llm.tokenize(r["prompt"].encode(), add_bos=True, special=True)
            assert toks == r["prompt_ids"], (r["id"], toks, r["prompt_ids"])
            llm.reset()
            out = []
            for t in llm.generate(toks, temp=0.0, top_k=1, reset=True):
                out.append(t)
                if len(out) == len(r["generated_ids_64_ignore_eog"]):
                    break
            want = r["generated_ids_64_ignore_eog"]
            n = next((i for i, (x, y) in enumerate(zip(out, want)) if x != y), len(want))
            print(f"{r['id']:24} prompt ids equal; greedy tokens equal for {n}/{len(want)}")
            same += n == len(want)
        print(f"{same}/{len(ref['results'])} prompts: llama.cpp on llmkit's round-tripped GGUF reproduces its own reference")

        # A Llama-3.1-shaped checkpoint (random weights, the real Llama 3 tokenizer, rope scaling) made with
        # llmkit and converted by llmkit: llama.cpp must load it (hyperparameters, rope_freqs, GQA, llama-bpe
        # vocabulary) and tokenize like Meta's tokenizer (test vector from meta-llama/llama3 test_tokenizer.py).
        l3 = Path(d) / "llama3-tiny"
        subprocess.run([a.llmkit, "dev", "make-checkpoint", "--shape", "llama3-tiny", "--tokenizer",
                        ROOT / ".assets/tokenizer.json", "-o", l3, "--quiet"], check=True)
        subprocess.run([a.llmkit, "convert", l3, "-o", Path(d) / "l3.gguf", "--quiet"], check=True)
        m = llama_cpp.Llama(model_path=str(Path(d) / "l3.gguf"), n_ctx=256, n_threads=2, verbose=False)
        ids = m.tokenize(b"This is a test sentence.", add_bos=True, special=False)
        assert ids == [128000, 2028, 374, 264, 1296, 11914, 13], ids
        first = next(iter(m.generate(ids, temp=0.0, top_k=1)))
        print(f"llama.cpp loaded the converted Llama-3-shaped GGUF; tokens {ids}; first greedy token {first}")


if __name__ == "__main__":
    main()
