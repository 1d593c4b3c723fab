"""The PyTorch side of bench/train_cpu_bench.sh: the same GPT-2 as build/bench/train_bench
(Hugging Face's math, as tests/train/gpt2_reference.py writes it), trained the same way on
random tokens: forward, backward, clip_grad_norm_, torch.optim.AdamW, timed after one warm-up
step, on THREADS threads. Prints the same key=value line.
    /usr/bin/python3 bench/train_peer.py THREADS STEPS B T LAYERS HEADS WIDTH VOCAB
"""
import math
import os
import sys
import time

# Debian's torch does its matrix products in the system OpenBLAS, which starts its own threads
# (one per core) whatever torch.set_num_threads says: hold it to the same count, before it loads.
if len(sys.argv) > 1:
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[1]

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln_1, self.ln_2 = nn.LayerNorm(C, eps=1e-5), nn.LayerNorm(C, eps=1e-5)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (z.view(B, T, self.H, C // self.H).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.H)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        x = x + self.c_proj((att @ v).transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, H, C, T, V):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList(Block(C, H) for _ in range(L))
        self.ln_f = nn.LayerNorm(C, eps=1e-5)
        for n, p in self.named_parameters():
            if n.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        T = idx.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.h:
            x = b(x, mask)
        logits = self.ln_f(x) @ self.wte.weight.T     # tied head
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def main():
    threads, steps, B, T, L, H, C, V = (int(a) for a in sys.argv[1:9])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = GPT(L, H, C, T, V)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    first = last = 0.0
    for s in range(steps + 1):
        if s == 1:
            t0 = time.perf_counter()
        data = torch.randint(0, V, (B, T + 1))
        opt.zero_grad(set_to_none=True)
        loss = model(data[:, :-1], data[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        last = float(loss)
        first = last if s == 0 else first
    dt = time.perf_counter() - t0
    n = sum(p.numel() for p in model.parameters())
    print(f"steps_per_s={steps / dt:.4f} tokens_per_s={steps * B * T / dt:.1f} "
          f"loss_first={first:.4f} loss_last={last:.4f} params={n}")


if __name__ == "__main__":
    main()
