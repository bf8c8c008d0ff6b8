#!/usr/bin/env bash
# The PyTorch peer for benchmarks/train-speed.py and benchmarks/check-numpy-oracle.py (not needed by the product or
# its tests): a venv .venv-torch/ (git-ignored) with PyTorch for the CPU, from PyPI only.
#
# Why this build: the Linux x86_64 `torch` wheels on PyPI (2.15.0 and older) declare nvidia-*, cuda-toolkit and
# triton dependencies, several GB of CUDA libraries a CPU run never uses. `pip install --no-deps torch==2.15.0` plus
# its pure-Python dependencies does not work: `import torch` fails, because torch/lib/libtorch_global_deps.so is
# linked against libcudart.so.13 and torch then insists on preloading libcublasLt from site-packages (tried:
# "ValueError: libcublasLt.so.*[0-9] not found in the system path"). So the lightest working way is the `+cpu` build
# that PyPI also lists (2.13.0+cpu: ~200 MB download, ~1 GB installed, no CUDA dependencies at all) with its ordinary
# dependencies. TORCH_SPEC=... overrides the requirement. The script then checks that `import torch` works and that a
# float64 CPU forward/backward gives the gradient worked out by hand.
# Idempotent: does nothing when the venv already passes the check.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0+cpu}
PY=.venv-torch/bin/python
PIP=(.venv-torch/bin/pip install -q --disable-pip-version-check)

check() {
  "$PY" - <<'PY' 2>/dev/null
import numpy as np, torch
x = torch.randn(8, 16, dtype=torch.float64, requires_grad=True)
w = torch.randn(4, 16, dtype=torch.float64, requires_grad=True)
torch.nn.functional.gelu(x @ w.T, approximate="tanh").square().sum().backward()
y = x.detach().numpy() @ w.detach().numpy().T
c = np.sqrt(2 / np.pi)
t = np.tanh(c * (y + 0.044715 * y**3))
g = 0.5 * y * (1 + t)
dg = 0.5 * (1 + t) + 0.5 * y * (1 - t * t) * c * (1 + 3 * 0.044715 * y * y)
want = (2 * g * dg) @ w.detach().numpy()
assert np.allclose(x.grad.numpy(), want, rtol=1e-10, atol=1e-12)
print(torch.__version__, "threads", torch.get_num_threads())
PY
}

if [ -x "$PY" ] && check >/dev/null; then
  echo "bench-setup-train: ok (torch $("$PY" -c 'import torch; print(torch.__version__)'))"
  exit 0
fi
[ -x "$PY" ] || python3 -m venv .venv-torch
"${PIP[@]}" --upgrade pip >/dev/null 2>&1 || true
echo "bench-setup-train: installing $TORCH_SPEC (CPU only) into .venv-torch"
"${PIP[@]}" "$TORCH_SPEC" numpy
check >/dev/null || { echo "bench-setup-train: $TORCH_SPEC installed but import or a CPU backward fails" >&2; exit 1; }
echo "bench-setup-train: ok ($(check))"
