"""The PEFT peer `llmkit finetune` is benchmarked against: LoRA with Hugging Face PEFT on transformers'
LlamaForCausalLM in fp32 on the CPU — the way a user fine-tunes on a machine without a GPU — trained on the same
records, rank, alpha, dropout, targets, sequence length, batch (1) and threads as the llmkit side.

What it is and is not: a faithful peer for speed and memory, not a bit-exact twin — its LoRA init and dropout masks
come from torch's generator seeded with --seed, not from llmkit's TrainRNG.

The loop (what HF Trainer does with these settings, written out so nothing hides in a callback):
  - Records: alpaca JSONL (instruction, optional input, output). Each becomes a user turn (instruction, plus
    "\\n\\n" + input when input is non-empty) and an assistant turn; prompt = the base's chat template rendered with
    add_generation_prompt=True (tokenizer.apply_chat_template), response = the output's tokens without special
    tokens, then the token that closes an assistant turn (SmolLM2: <|im_end|>). tokens = prompt + response,
    cut to max_seq + 1; inputs = tokens[:-1], targets = tokens[1:] with the prompt's targets = −100 (not scored).
    Records whose response is cut away entirely are dropped. Examples are taken in file order, cycling, batch 1.
  - Model: LlamaForCausalLM (dtype float32) + get_peft_model(LoraConfig(r, lora_alpha, lora_dropout,
    target_modules, task_type CAUSAL_LM)); model.train() (LoRA dropout active). Loss = cross-entropy over all
    positions' logits with ignore_index −100 (transformers computes the full [T, vocab] logits, as in training).
  - torch.optim.AdamW on the LoRA parameters (lr, betas 0.9/0.999, eps 1e-8, weight decay 0: HF Trainer's
    defaults), constant lr, gradient clipping at global L2 norm 1.0 (HF's max_grad_norm), no accumulation.
  - --grad-checkpoint: model.gradient_checkpointing_enable(use_reentrant=False) (HF's per-decoder-layer
    activation checkpointing), use_cache off.

Writes OUT/metrics.jsonl ({"step", "loss", "tokens", "scored", "elapsed_s"} every --log-every steps; tokens = input
positions processed so far, scored = targets scored so far; elapsed_s = training time so far, data loading and model
load excluded) and OUT/summary.json (steps, tokens, tokens_per_s over all steps, warm_tokens_per_s over the steps
after the first --warmup-steps-excluded, final loss, versions); with --save-adapter DIR the trained adapter in PEFT's
format (save_pretrained). --dump-logits F with --adapter-in DIR: no training; loads the adapter with
PeftModel.from_pretrained (without --adapter-in: the base alone) and writes the logits of every record (eval mode, no
dropout), its inputs and targets, and with --greedy N the N greedy tokens after its prompt, to F (.npz) — for
check-peft-roundtrip.py.

    .venv-torch/bin/python benchmarks/finetune_reference.py --hf HF_DIR --data records.jsonl --out DIR \\
        [--rank 8 --alpha 32 --dropout 0.1 --targets q_proj,v_proj|all-linear --max-seq 256 --steps 40 --lr 3e-4 \\
         --threads 2 --seed 0 --grad-checkpoint --save-adapter DIR]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_records(path):
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                r = json.loads(line)
                if "instruction" not in r or "output" not in r:
                    sys.exit(f"finetune_reference: {path}:{n}: not an alpaca record (instruction, output)")
                records.append(r)
    if not records:
        sys.exit(f"finetune_reference: {path}: no records")
    return records


def end_of_turn(tokenizer):
    """The token the chat template closes an assistant turn with: render a conversation with and without the
    assistant's message and take the first special token after the content."""
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "MARKER"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    after = text[text.index("MARKER") + len("MARKER"):]
    for token in tokenizer.all_special_tokens:
        if after.startswith(token):
            return tokenizer.convert_tokens_to_ids(token)
    if tokenizer.eos_token_id is None:
        sys.exit("finetune_reference: the chat template closes an assistant turn with no special token, and no EOS")
    return tokenizer.eos_token_id


def examples(records, tokenizer, max_seq):
    """[(inputs, targets)] as LongTensors [1, T] (targets −100 on the prompt), in record order."""
    eot = end_of_turn(tokenizer)
    out = []
    for r in records:
        user = r["instruction"] + ("\n\n" + r["input"] if r.get("input") else "")
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True,
                                               tokenize=True)
        if isinstance(prompt, dict) or hasattr(prompt, "input_ids"):
            prompt = prompt["input_ids"]
        response = tokenizer(r["output"], add_special_tokens=False)["input_ids"] + [eot]
        tokens = (list(prompt) + response)[:max_seq + 1]
        if len(tokens) <= len(prompt):
            continue
        inputs = torch.tensor([tokens[:-1]])
        targets = torch.tensor([[-100] * (len(prompt) - 1) + tokens[len(prompt):]])
        out.append((inputs, targets))
    return out


def load_model(hf, args):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32)
    model.config.use_cache = False
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hf", required=True, help="Hugging Face Llama folder (fp32 weights)")
    ap.add_argument("--data", required=True, help="alpaca JSONL")
    ap.add_argument("--out", required=True)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--targets", default="q_proj,v_proj", help="comma-separated module names, or all-linear")
    ap.add_argument("--max-seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=1)
    ap.add_argument("--warmup-steps-excluded", type=int, default=3)
    ap.add_argument("--grad-checkpoint", action="store_true")
    ap.add_argument("--save-adapter", help="write the trained adapter here (PEFT save_pretrained)")
    ap.add_argument("--adapter-in", help="with --dump-logits: a PEFT adapter folder to load")
    ap.add_argument("--dump-logits", help="write every record's logits (eval mode) to this .npz instead of training")
    ap.add_argument("--greedy", type=int, default=0, help="with --dump-logits: also N greedy tokens after each prompt")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    import peft
    import transformers
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.hf)
    data = examples(load_records(args.data), tokenizer, args.max_seq)
    if not data:
        sys.exit("finetune_reference: every record's response was cut away by --max-seq")
    model = load_model(args.hf, args)

    if args.dump_logits:
        if args.adapter_in:
            model = PeftModel.from_pretrained(model, args.adapter_in)
        model.eval()
        arrays = {}
        with torch.no_grad():
            for i, (inputs, targets) in enumerate(data):
                arrays[f"logits{i}"] = model(input_ids=inputs).logits[0].numpy()
                arrays[f"inputs{i}"] = inputs[0].numpy()
                arrays[f"targets{i}"] = targets[0].numpy()
                if args.greedy:
                    prompt = inputs[:, :int((targets[0] < 0).sum()) + 1]
                    # plain argmax with a full forward per step (no generate(): its EOS and min-length logic would
                    # mask logits), the same rule as `llmkit dev generate`
                    ids, margins = prompt, []
                    for _ in range(args.greedy):
                        last = model(input_ids=ids).logits[0, -1]
                        top = torch.topk(last, 2).values
                        margins.append(float(top[0] - top[1]))
                        ids = torch.cat([ids, last.argmax().view(1, 1)], dim=1)
                    arrays[f"prompt{i}"] = prompt[0].numpy()
                    arrays[f"greedy{i}"] = ids[0, prompt.shape[1]:].numpy()
                    arrays[f"margins{i}"] = np.array(margins, dtype=np.float32)
        np.savez(args.dump_logits, **arrays)
        print(f"wrote logits of {len(data)} records to {args.dump_logits}")
        return

    targets = "all-linear" if args.targets == "all-linear" else args.targets.split(",")
    config = LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=args.dropout, target_modules=targets,
                        task_type="CAUSAL_LM", bias="none")
    model = get_peft_model(model, config)
    if args.grad_checkpoint:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    os.makedirs(args.out, exist_ok=True)
    metrics = open(os.path.join(args.out, "metrics.jsonl"), "w")
    tokens = scored = 0
    elapsed = 0.0
    warm_start = None
    loss_value = float("nan")
    for step in range(1, args.steps + 1):
        inputs, target = data[(step - 1) % len(data)]
        t = time.perf_counter()
        logits = model(input_ids=inputs).logits
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), target.view(-1), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss_value = loss.item()
        elapsed += time.perf_counter() - t
        tokens += inputs.numel()
        scored += int((target >= 0).sum())
        if step == args.warmup_steps_excluded:
            warm_start = (tokens, elapsed)
        if step % args.log_every == 0 or step == args.steps:
            metrics.write(json.dumps({"step": step, "loss": loss_value, "tokens": tokens, "scored": scored,
                                      "elapsed_s": elapsed}) + "\n")
            metrics.flush()
    metrics.close()
    warm = None
    if warm_start and args.steps > args.warmup_steps_excluded:
        warm = (tokens - warm_start[0]) / (elapsed - warm_start[1])
    summary = {"steps": args.steps, "tokens": tokens, "scored": scored, "elapsed_s": elapsed,
               "tokens_per_s": tokens / elapsed, "warm_tokens_per_s": warm, "final_loss": loss_value,
               "examples": len(data), "trainable_parameters": sum(p.numel() for p in trainable),
               "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                            "peft": peft.__version__}, "threads": torch.get_num_threads()}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if args.save_adapter:
        model.save_pretrained(args.save_adapter)
    print(f"{args.steps} steps, {tokens} tokens, {summary['tokens_per_s']:.1f} tokens/s, final loss {loss_value:.4f}")


if __name__ == "__main__":
    main()
