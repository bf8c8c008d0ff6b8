#!/usr/bin/env bash
# The speed peers for benchmarks/ (not needed by the product or its tests): a venv with llama.cpp built
# from source by the PyPI llama-cpp-python sdist (GGML_NATIVE=ON, like llama.cpp's own native build;
# ~10 minutes on 2 cores the first time, cached by pip afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
[ -x .venv-bench/bin/python ] || python3 -m venv .venv-bench
if ! .venv-bench/bin/python -c 'import llama_cpp, numpy' 2>/dev/null; then
  echo "bench-setup: building llama-cpp-python (llama.cpp) from source; this takes a while"
  CMAKE_ARGS="-DGGML_NATIVE=ON" .venv-bench/bin/pip install -q --disable-pip-version-check llama-cpp-python numpy
fi
echo "bench-setup: ok"
