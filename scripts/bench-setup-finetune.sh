#!/usr/bin/env bash
# The PEFT peer for benchmarks/finetune-speed.py and benchmarks/check-peft-roundtrip.py (not needed by the product or
# its tests): the .venv-torch/ of scripts/bench-setup-train.sh (CPU PyTorch from PyPI, git-ignored) plus Hugging
# Face `transformers` and `peft`, from PyPI only.
#
# Versions: PEFT 0.21.2 and transformers 5.23.0 (the releases current when this was written), installed with torch
# held at the version bench-setup-train.sh put there (a pip constraint), so pip never swaps the CPU build for a CUDA
# one while resolving `torch>=…` requirements. PEFT_SPEC=… / TRANSFORMERS_SPEC=… override the requirements.
# The script then checks that a tiny random LlamaForCausalLM with a LoRA (q_proj, v_proj) runs a forward/backward on
# the CPU and that the LoRA B gradient is the only one set (the base frozen), i.e. what the benchmarks rely on.
# Idempotent: does nothing when the venv already passes the check.
set -euo pipefail
cd "$(dirname "$0")/.."
PEFT_SPEC=${PEFT_SPEC:-peft==0.21.2}
TRANSFORMERS_SPEC=${TRANSFORMERS_SPEC:-transformers==5.23.0}
PY=.venv-torch/bin/python

bash scripts/bench-setup-train.sh

check() {
  "$PY" - <<'PY' 2>/dev/null
import torch, transformers, peft
from transformers import LlamaConfig, LlamaForCausalLM
from peft import LoraConfig, get_peft_model
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64)
model = get_peft_model(LlamaForCausalLM(cfg), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                         lora_dropout=0.0, task_type="CAUSAL_LM"))
ids = torch.randint(0, 64, (1, 12))
model(input_ids=ids, labels=ids).loss.backward()
named = dict(model.named_parameters())
with_grad = {n for n, p in named.items() if p.grad is not None}
assert with_grad and all(".lora_" in n for n in with_grad), with_grad
assert all(named[n].grad.abs().sum() > 0 for n in with_grad if ".lora_B." in n)
print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)
PY
}

if check >/dev/null; then
  echo "bench-setup-finetune: ok ($(check))"
  exit 0
fi
torch_version=$("$PY" -c 'import torch; print(torch.__version__)')
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "torch==$torch_version" > "$constraints"
echo "bench-setup-finetune: installing $PEFT_SPEC $TRANSFORMERS_SPEC into .venv-torch (torch held at $torch_version)"
.venv-torch/bin/pip install -q --disable-pip-version-check -c "$constraints" "$PEFT_SPEC" "$TRANSFORMERS_SPEC"
check >/dev/null || { echo "bench-setup-finetune: installed, but a LoRA forward/backward on a tiny llama fails" >&2; exit 1; }
echo "bench-setup-finetune: ok ($(check))"
