#!/usr/bin/env bash
# Scale benchmark (not a CI test): a Llama-3.1-8B-shaped bf16 checkpoint (~16 GB, random weights, the real
# Llama 3 tokenizer) converted to an f16 GGUF. Reports seconds, peak RSS, and the ratio to `cp` of the
# same bytes (both fsynced), then times `llmkit inspect` on the 8B GGUF.
#   usage: benchmarks/convert-scale.sh [WORKDIR]   (needs ~50 GB free; WORKDIR defaults to benchmarks/out)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-benchmarks/out}
mkdir -p "$work"
bash scripts/setup.sh >/dev/null
swift build -c release --product llmkit >/dev/null
bin=$(swift build -c release --show-bin-path)/llmkit
hf=$work/llama3-8b-hf
if [ ! -f "$hf/model.safetensors.index.json" ]; then
  echo "generating $hf ..."
  /usr/bin/time -f "make-checkpoint: %e s, peak RSS %M KB" "$bin" dev make-checkpoint --shape llama3-8b \
    --tokenizer .assets/tokenizer.json -o "$hf" --quiet
fi
bytes=$(cat "$hf"/*.safetensors | wc -c)
echo "checkpoint: $(ls "$hf"/*.safetensors | wc -l) shards, $bytes bytes"

# cp of the same bytes (warms the page cache for both runs alike), fsynced
rm -rf "$work/cp-copy"; mkdir -p "$work/cp-copy"
t0=$(date +%s.%N)
cp "$hf"/*.safetensors "$work/cp-copy/" && sync -f "$work/cp-copy"
t1=$(date +%s.%N)
rm -rf "$work/cp-copy"
cp_s=$(echo "$t1 - $t0" | bc)

out=$work/llama3-8b-f16.gguf
rm -f "$out"
/usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" convert "$hf" -o "$out" --type f16 --quiet
read conv_s rss_kb < "$work/time.txt"
echo "cp:      ${cp_s} s  ($(echo "$bytes / $cp_s / 1000000" | bc) MB/s)"
echo "convert: ${conv_s} s  ($(echo "$bytes / $conv_s / 1000000" | bc) MB/s), peak RSS $((rss_kb / 1024)) MiB"
echo "ratio convert/cp: $(echo "scale=2; $conv_s / $cp_s" | bc)"
/usr/bin/time -f "inspect 8B GGUF: %e s, peak RSS %M KB" "$bin" inspect "$out" > /dev/null
/usr/bin/time -f "inspect --json 8B GGUF: %e s" "$bin" inspect --json "$out" > /dev/null
