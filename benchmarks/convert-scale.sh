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

calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
now() { date +%s.%N; }

# Both runs start from the same page cache: cold when we may drop caches (root), else warm; both fsync.
settle() {
  sync
  if ! { echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null; then cat "$hf"/*.safetensors > /dev/null; cache=warm; fi
}
cache=cold
settle
rm -rf "$work/cp-copy"; mkdir -p "$work/cp-copy"
t0=$(now)
cp "$hf"/*.safetensors "$work/cp-copy/" && sync -f "$work/cp-copy"
cp_s=$(calc "$(now) - $t0")
rm -rf "$work/cp-copy"

out=$work/llama3-8b-f16.gguf
rm -f "$out"
settle
/usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" convert "$hf" -o "$out" --type f16 --quiet
read -r conv_s rss_kb < "$work/time.txt"
echo "cp of the shards:  ${cp_s} s  ($(calc "$bytes / $cp_s / 1e6") MB/s)"
echo "convert → f16:     ${conv_s} s  ($(calc "$bytes / $conv_s / 1e6") MB/s), peak RSS $((rss_kb / 1024)) MiB"
echo "ratio convert/cp:  $(calc "$conv_s / $cp_s")  ($cache page cache)"
/usr/bin/time -f "inspect 8B GGUF: %e s, peak RSS %M KB" "$bin" inspect "$out" > /dev/null
/usr/bin/time -f "inspect --json 8B GGUF: %e s" "$bin" inspect --json "$out" > /dev/null

# And back: the 8B GGUF to a Hugging Face folder (bf16, 5 GB shards).
rm -rf "$work/back-hf"
settle
/usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" convert "$out" -o "$work/back-hf" --type bf16 --quiet
read -r back_s rss_kb < "$work/time.txt"
echo "convert GGUF → HF bf16: ${back_s} s, peak RSS $((rss_kb / 1024)) MiB (ratio to cp $(calc "$back_s / $cp_s"))"
rm -rf "$work/back-hf"
