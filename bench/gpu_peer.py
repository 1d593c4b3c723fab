"""The PyTorch side of bench/gpu_bench.sh: nanoGPT's GPT-2 (tied head, pre-LayerNorm, GELU
tanh, SDPA causal attention through F.scaled_dot_product_attention), bf16 autocast,
torch.compile, fused torch.optim.AdamW and clip_grad_norm_(1.0): the fastest plain-PyTorch
recipe for this model. Trains STEPS steps on random tokens after WARMUP untimed ones (timed
with CUDA events), then an inference loop (no_grad, autocast, the mean cross-entropy) over
EVAL_BATCHES batches. A step is ACCUM micro-batches of B rows, their gradients summed
(each loss divided by ACCUM, as Trainer's gradient accumulation does) before one clip and
one AdamW step, as llm-train --grad-accum does. Prints key=value lines:
    train_tokens_per_s, train_peak_bytes, eval_tokens_per_s, eval_peak_bytes, loss_first
    /usr/bin/python3 bench/gpu_peer.py B T LAYERS HEADS WIDTH VOCAB STEPS WARMUP EVAL_BATCHES ACCUM
The device machine has no network: nothing is downloaded.
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (z.view(B, T, self.H, C // self.H).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, H, C, V, T):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.h = nn.ModuleList(Block(C, H) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        self.head = nn.Linear(C, V, bias=False)
        self.head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * L) if name.endswith("c_proj.weight") or "mlp_proj" in name else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for b in self.h:
            x = b(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1))


def main():
    B, T, L, H, C, V, steps, warmup, eval_batches, accum = map(int, sys.argv[1:11])
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    dev = "cuda"
    model = GPT(L, H, C, V, T).to(dev)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=6e-4, betas=(0.9, 0.95), eps=1e-8, fused=True)
    cmodel = torch.compile(model)
    gen = torch.Generator(device=dev).manual_seed(1)

    def batch():
        x = torch.randint(0, V, (B, T + 1), device=dev, generator=gen)
        return x[:, :-1].contiguous(), x[:, 1:].contiguous()

    def step():
        for _ in range(accum):
            x, y = batch()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = cmodel(x, y)
            (loss / accum).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    first = step().item()
    for _ in range(warmup - 1):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        step()
    end.record()
    torch.cuda.synchronize()
    train_s = start.elapsed_time(end) / 1e3
    print(f"loss_first={first:.6f}")
    print(f"train_tokens_per_s={B * T * accum * steps / train_s:.0f}")
    print(f"train_peak_bytes={torch.cuda.max_memory_allocated()}")

    del opt
    model.eval()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        for _ in range(3):
            x, y = batch()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                cmodel(x, y)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        total = 0.0
        for _ in range(eval_batches):
            x, y = batch()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                total += cmodel(x, y).item()    # the loss back on the host, as llm-eval sums it
        torch.cuda.synchronize()
        eval_s = time.perf_counter() - t0
    print(f"eval_tokens_per_s={B * T * eval_batches / eval_s:.0f}")
    print(f"eval_peak_bytes={torch.cuda.max_memory_allocated()}")


if __name__ == "__main__":
    main()
