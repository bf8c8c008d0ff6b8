#!/usr/bin/env bash
# llama.cpp's llama-server for benchmarks/server-load.py (the speed peer of `llmkit serve`; not needed by the
# product or its tests). The source is the llama.cpp vendored in the PyPI sdist of llama-cpp-python (the same
# llama.cpp the other benchmarks use; only that package is taken as source, its build tools come as wheels), built
# natively (GGML_NATIVE=ON, no curl) into the git-ignored .bench/.
# ~10 minutes on 2 cores the first time; afterwards it only prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.3.36
DIR=.bench/llama-cpp-python-$VERSION
BIN=.bench/llama-server
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
mkdir -p .bench
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
if [ ! -d "$DIR" ]; then
  "$PY" -m pip download --disable-pip-version-check -q "llama-cpp-python==$VERSION" --no-binary llama-cpp-python --no-deps -d .bench
  tar -xzf ".bench/llama_cpp_python-$VERSION.tar.gz" -C .bench 2>/dev/null || tar -xzf ".bench/llama-cpp-python-$VERSION.tar.gz" -C .bench
  [ -d "$DIR" ] || mv ".bench/llama_cpp_python-$VERSION" "$DIR"
fi
# cmake (and ninja) from PyPI wheels when the system has none.
CMAKE=$(command -v cmake || true)
if [ -z "$CMAKE" ]; then
  [ -x .bench/tools/bin/cmake ] || { "$PY" -m venv .bench/tools && .bench/tools/bin/pip install -q --disable-pip-version-check cmake ninja; }
  CMAKE=.bench/tools/bin/cmake
  export PATH="$PWD/.bench/tools/bin:$PATH"
fi
echo "bench-setup-server: building llama-server from $DIR/vendor/llama.cpp" >&2
"$CMAKE" -S "$DIR/vendor/llama.cpp" -B .bench/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF >&2
"$CMAKE" --build .bench/build --target llama-server -j "$(nproc)" >&2
cp .bench/build/bin/llama-server "$BIN"
echo "$BIN"
