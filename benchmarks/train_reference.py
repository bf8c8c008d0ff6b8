"""The PyTorch eager reference `llmkit train` is benchmarked against: the same gpt2 model, data split, batches,
optimizer, schedule and validation rule as the training contract fixes, in plain nanoGPT-style PyTorch (CPU, fp32).

What it is and is not: a faithful peer for speed and quality, not a bit-exact twin — its random numbers (init,
dropout masks, batch windows) come from torch/numpy generators seeded with the same seed, not from llmkit's
TrainRNG, and its char vocabulary is the corpus's distinct characters in code-point order.

The contract it follows (see the training issue's common decisions):
  - Model "gpt2": x = drop(token_embd[t] + position_embd[pos]); per block x += drop(attn_output(attn(LN(x)))),
    x += drop(ffn_down(gelu_tanh(ffn_up(LN(x))))); LayerNorm with bias (eps 1e-5); fused qkv with bias; causal
    attention without attention-probability dropout (F.scaled_dot_product_attention, is_causal); final LayerNorm;
    output tied to token_embd. Parameters carry llama.cpp's GGUF names (`gguf_parameters`) for cross-checks.
  - Init: linear and embedding weights N(0, 0.02), attn_output and ffn_down weights N(0, 0.02/sqrt(2·layers)),
    biases 0, norm weights 1 / biases 0.
  - AdamW betas (0.9, 0.95), eps 1e-8, weight decay 0.1 (decoupled) only on 2-D linear weights (not embeddings,
    norms, biases); LR: linear warmup from 0 over `warmup` steps (default min(100, steps/10)), then cosine to
    min_lr (default lr/10) at the last step; gradient clipping at global L2 norm 1.0.
  - Data: the token stream's first 90% trains, the last 10% validates. Each step draws, for each of `batch` rows,
    a start s uniform in [0, trainCount − context) and trains on t[s..<s+T] → t[s+1...s+T]. Validation: the first
    min(eval_windows, ⌊(valCount−1)/T⌋) non-overlapping windows (starts 0, T, 2T, …), mean loss over windows.

Run as a program it trains one run and writes OUT/metrics.jsonl and OUT/summary.json in llmkit's formats (plus
`warm_tokens_per_s`: tokens/s over the steps after the first `--warmup-steps-excluded`, eval time excluded):

    .venv-torch/bin/python benchmarks/train_reference.py --data corpus.txt --out DIR [--context 256 --steps 200 ...]
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dim, heads, ffn, dropout, eps):
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(dim, eps=eps)
        self.attn_qkv = nn.Linear(dim, 3 * dim)
        self.attn_output = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim, eps=eps)
        self.ffn_up = nn.Linear(dim, ffn)
        self.ffn_down = nn.Linear(ffn, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.attn_qkv(self.attn_norm(x)).split(C, dim=2)
        q, k, v = (a.view(B, T, self.heads, C // self.heads).transpose(1, 2) for a in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.drop(self.attn_output(y))
        return x + self.drop(self.ffn_down(F.gelu(self.ffn_up(self.ffn_norm(x)), approximate="tanh")))


class GPT(nn.Module):
    def __init__(self, vocab, context, layers=2, dim=128, heads=8, ffn=512, dropout=0.1, eps=1e-5):
        super().__init__()
        self.context = context
        self.token_embd = nn.Embedding(vocab, dim)
        self.position_embd = nn.Embedding(context, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(dim, heads, ffn, dropout, eps) for _ in range(layers))
        self.output_norm = nn.LayerNorm(dim, eps=eps)
        for name, p in self.named_parameters():
            if name.endswith("attn_output.weight") or name.endswith("ffn_down.weight"):
                nn.init.normal_(p, 0, 0.02 / math.sqrt(2 * layers))
            elif name.endswith(".weight") and p.dim() == 2:
                nn.init.normal_(p, 0, 0.02)
            elif "norm" in name and name.endswith(".weight"):
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = self.drop(self.token_embd(idx) + self.position_embd(torch.arange(T, device=idx.device)))
        for block in self.blocks:
            x = block(x)
        logits = self.output_norm(x) @ self.token_embd.weight.T  # tied output
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)

    def gguf_parameters(self):
        """{GGUF name: tensor} — the same tensors, named as llmkit names them."""
        out = {}
        for name, p in self.named_parameters():
            if name.startswith("blocks."):
                _, i, rest = name.split(".", 2)
                name = f"blk.{i}.{rest}"
            out[name] = p
        return out

    def optimizer(self, lr, weight_decay=0.1):
        decay = [p for n, p in self.named_parameters() if p.dim() == 2 and "embd" not in n]
        rest = [p for n, p in self.named_parameters() if not (p.dim() == 2 and "embd" not in n)]
        return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}],
                                 lr=lr, betas=(0.9, 0.95), eps=1e-8)


def lr_at(step, steps, lr, warmup, min_lr):
    """Learning rate of step 1…steps: linear warmup from 0 over `warmup` steps, then cosine to min_lr at the last."""
    if warmup > 0 and step <= warmup:
        return lr * step / warmup
    if steps <= warmup:
        return lr
    progress = (step - warmup) / (steps - warmup)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


def char_tokens(text):
    """Char-level tokenization: vocabulary = distinct characters in code-point order."""
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text)), len(vocab)


def split(tokens):
    n = int(len(tokens) * 0.9)
    return tokens[:n], tokens[n:]


@torch.no_grad()
def validate(model, val, T, batch, windows):
    n = min(windows, (len(val) - 1) // T)
    if n <= 0:
        raise ValueError(f"validation stream of {len(val)} tokens is too short for context {T}")
    model.eval()
    total = 0.0
    for i in range(0, n, batch):
        starts = range(i * T, min(n, i + batch) * T, T)
        x = torch.from_numpy(np.stack([val[s:s + T] for s in starts]))
        y = torch.from_numpy(np.stack([val[s + 1:s + T + 1] for s in starts]))
        total += model(x, y).item() * len(starts)  # every window is full, so the batch mean is the window mean
    model.train()
    return total / n


def peak_rss():
    """This process's own high-water RSS (VmHWM; ru_maxrss would include the parent's at the fork, on Linux)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    text = open(args.data, encoding="utf-8").read()
    tokens, vocab = char_tokens(text)
    trn, val = split(tokens)
    T = args.context
    model = GPT(vocab, T, args.layers, args.dim, args.heads, args.ffn, args.dropout)
    opt = model.optimizer(args.lr)
    warmup = args.warmup if args.warmup is not None else min(100, args.steps // 10)
    min_lr = args.min_lr if args.min_lr is not None else args.lr / 10
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    metrics = open(os.path.join(args.out, "metrics.jsonl"), "w")
    params = sum(p.numel() for p in model.parameters())
    start = time.perf_counter()
    train_time = warm_time = 0.0
    warm_tokens = 0
    best = (math.inf, 0)
    val_loss = None
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        starts = rng.integers(0, len(trn) - T, size=args.batch)
        x = torch.from_numpy(np.stack([trn[s:s + T] for s in starts]))
        y = torch.from_numpy(np.stack([trn[s + 1:s + T + 1] for s in starts]))
        lr = lr_at(step, args.steps, args.lr, warmup, min_lr)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip).item()
        opt.step()
        loss = loss.item()
        dt = time.perf_counter() - t0
        train_time += dt
        if step > args.warmup_steps_excluded:
            warm_time += dt
            warm_tokens += args.batch * T
        if step % args.log_every == 0 or step == args.steps:
            tokens = step * args.batch * T
            metrics.write(json.dumps({"step": step, "loss": loss, "lr": lr, "grad_norm": norm, "tokens": tokens,
                                      "tokens_per_s": tokens / train_time,
                                      "elapsed_s": time.perf_counter() - start}) + "\n")
        if step % args.eval_every == 0 or step == args.steps:
            val_loss = validate(model, val, T, args.batch, args.eval_windows)
            metrics.write(json.dumps({"step": step, "val_loss": val_loss, "val_ppl": math.exp(val_loss)}) + "\n")
            if val_loss < best[0]:
                best = (val_loss, step)
        metrics.flush()
    summary = {"steps": args.steps, "tokens_per_s": args.steps * args.batch * T / train_time,
               "warm_tokens_per_s": warm_tokens / warm_time if warm_time > 0 else None,
               "final_val_loss": val_loss, "best_val_loss": best[0], "best_step": best[1], "parameters": params,
               "elapsed_s": time.perf_counter() - start,
               "peak_rss_bytes": peak_rss(),
               "config": {"vocabularySize": vocab, "contextLength": T, "layers": args.layers, "dim": args.dim,
                          "heads": args.heads, "ffnDim": args.ffn, "dropout": args.dropout, "batch": args.batch,
                          "lr": args.lr, "steps": args.steps, "seed": args.seed, "threads": args.threads,
                          "torch": torch.__version__}}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--min-lr", type=float, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=1_000_000)
    ap.add_argument("--eval-windows", type=int, default=64)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--warmup-steps-excluded", type=int, default=5, help="steps left out of warm_tokens_per_s")
    s = train(ap.parse_args(argv))
    print(json.dumps(s))


if __name__ == "__main__":
    sys.exit(main())
