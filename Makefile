# llmkit — the two commands that matter:
#   make run    set everything up, build release, run the product on its default (the real SmolLM2 model)
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

run: setup release
	$$($(SWIFT) build -c release --show-bin-path)/llmkit run $(MODEL) "What is a GGUF file, in one sentence?" -n 64

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
