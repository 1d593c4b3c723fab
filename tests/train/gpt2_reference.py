"""PyTorch reference for lib/model.h and lib/adamw.h: reads what build/tests/gpt2_driver wrote
into DIR and checks, in float32 on the CPU, that a GPT-2 written here (Hugging Face's math:
Conv1D weights (in, out), LayerNorm eps 1e-5, GELU tanh, tied head) gives the same logits,
loss sums and parameter gradients, with document-restricted attention, masked labels and
padding, with Trainer's NEFTune noise (ours, added where its hook adds it) and with its
label smoothing; the same logits from cached generation; and
that ten AdamW steps (warmup + cosine with a floor, clipping, label smoothing, gradient
accumulation normalised by the step's counted labels) end at the same parameters.

Prints "ok NAME (err ...)" or "FAIL NAME ..." per check (tests/run.sh counts them).
Errors are relative per tensor: max|ours - torch| / max|torch|.
    /usr/bin/python3 tests/train/gpt2_reference.py DIR
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

TOL = 1e-4          # logits, loss, gradients: the fp32 bound
TOL_TRAIN = 5e-4    # parameters after ten AdamW steps, relative to the tensor's largest value:
                    # Adam divides by sqrt(v), which magnifies rounding where gradients are tiny

failed = 0


def report(name, err, tol):
    global failed
    ok = err <= tol
    failed += not ok
    print(f"{'ok' if ok else 'FAIL'} {name} (err {err:.2e}, tol {tol:.0e})")


def rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def load(d, name, dtype):
    return np.fromfile(os.path.join(d, name), dtype=dtype)


class Model:
    """GPT-2 over a dict of Hugging Face-named parameters."""

    def __init__(self, cfg, table, flat):
        self.cfg = cfg
        self.table = table
        self.params = {}
        for name, off, d0, d1, _ in table:
            shape = (d0, d1) if d1 else (d0,)
            n = d0 * (d1 or 1)
            t = torch.tensor(flat[off:off + n].reshape(shape), dtype=torch.float32)
            self.params[name] = t.requires_grad_(True)

    def forward(self, tokens, pos, noise=None):
        P, c = self.params, self.cfg
        B, T = tokens.shape
        C, H = c["n_embd"], c["n_head"]
        hs = C // H
        t_idx = torch.arange(T)
        # t attends to s when s <= t and s is in t's document: s >= t - pos[t]
        allowed = (t_idx[None, None, :] <= t_idx[None, :, None]) & \
                  (t_idx[None, None, :] >= (t_idx[None, :] - pos)[:, :, None])
        x = P["transformer.wte.weight"][tokens]
        if noise is not None:    # Trainer's NEFTune hook, on the token embedding's output
            x = x + noise
        x = x + P["transformer.wpe.weight"][pos]
        for i in range(c["n_layer"]):
            p = lambda s: P[f"transformer.h.{i}.{s}"]
            h = F.layer_norm(x, (C,), p("ln_1.weight"), p("ln_1.bias"), 1e-5)
            qkv = h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")
            q, k, v = qkv.split(C, dim=2)
            q, k, v = (z.view(B, T, H, hs).transpose(1, 2) for z in (q, k, v))
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
            att = att.masked_fill(~allowed[:, None], float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            x = x + y @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
            h = F.layer_norm(x, (C,), p("ln_2.weight"), p("ln_2.bias"), 1e-5)
            h = F.gelu(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias"), approximate="tanh")
            x = x + h @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
        x = F.layer_norm(x, (C,), P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], 1e-5)
        return x @ P["transformer.wte.weight"].T

    def loss_sums(self, logits, targets, smoothing=0.0):
        """Summed over the counted labels: the cross-entropy or, with smoothing e, Trainer's
        LabelSmoother's (1 - e) * nll + e * sum(-log p) / V (which divides these sums by
        num_items_in_batch since transformers#47261)."""
        V = self.cfg["vocab_size"]
        flat, tgt = logits.reshape(-1, V), targets.reshape(-1)
        counted = tgt >= 0
        if smoothing:
            log_probs = -F.log_softmax(flat[counted], dim=-1)
            nll = log_probs.gather(dim=-1, index=tgt[counted].unsqueeze(-1)).sum()
            smoothed = log_probs.sum(dim=-1, dtype=torch.float32).sum()
            loss_sum = (1 - smoothing) * nll + smoothing * smoothed / V
        else:
            loss_sum = F.cross_entropy(flat, tgt, ignore_index=-1, reduction="sum")
        correct = int((flat.argmax(-1)[counted] == tgt[counted]).sum())
        return loss_sum, int(counted.sum()), correct

    def grads_flat(self, n):
        out = np.zeros(n, dtype=np.float32)
        for name, off, d0, d1, _ in self.table:
            g = self.params[name].grad
            out[off:off + d0 * (d1 or 1)] = g.numpy().reshape(-1) if g is not None else 0
        return out

    def zero_grad(self):
        for t in self.params.values():
            t.grad = None


def lr_at(c, step):
    """transformers' get_cosine_with_min_lr_schedule_with_warmup, written out."""
    warm, total, peak, floor = c["warmup"], c["steps"], c["lr"], c["min_lr"]
    if step < warm:
        return peak * step / max(1, warm)
    progress = (step - warm) / max(1, total - warm)
    factor = max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
    return peak * (factor * (1 - floor / peak) + floor / peak)


def noise_unit(key, n):
    """lib/noise.h's llm_noise_unit(key, i) for i < n: splitmix64's mixer, top 24 bits."""
    i = np.arange(n, dtype=np.uint64)
    z = np.uint64(key) + (i + np.uint64(1)) * np.uint64(0x9e3779b97f4a7c15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
    z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(40)).astype(np.int64) - (1 << 23)).astype(np.float32) / np.float32(1 << 23)


def neftune_noise(cfg, alpha, key):
    """neftune_post_forward_hook's noise with our numbers for its uniform_: the bound
    alpha / sqrt(T * C) computed as the hook computes it."""
    B, T, C = cfg["B"], cfg["T"], cfg["n_embd"]
    mag_norm = alpha / torch.sqrt(torch.tensor(T * C))
    return torch.from_numpy(noise_unit(key, B * T * C)).reshape(B, T, C) * mag_norm


def check_case(d, cfg, table, flat, name, pos_given, smoothing=0.0, noise=None):
    B, T, V, n = cfg["B"], cfg["T"], cfg["vocab_size"], cfg["n_params"]
    model = Model(cfg, table, flat)
    tokens = torch.tensor(load(d, f"{name}_tokens.i32", np.int32).reshape(B, T), dtype=torch.long)
    targets = torch.tensor(load(d, f"{name}_targets.i32", np.int32).reshape(B, T), dtype=torch.long)
    if pos_given:
        pos = torch.tensor(load(d, f"{name}_pos.i32", np.int32).reshape(B, T), dtype=torch.long)
    else:
        pos = torch.arange(T).repeat(B, 1)
    logits = model.forward(tokens, pos, noise)
    loss_sum, count, correct = model.loss_sums(logits, targets, smoothing)
    (loss_sum / count).backward()
    ours_logits = load(d, f"{name}_logits.f32", np.float32).reshape(B, T, V)
    report(f"{name}: logits", rel(ours_logits, logits.detach().numpy()), TOL)
    s = open(os.path.join(d, f"{name}_stats.txt")).read().split()
    o_sum, o_count, o_correct = float(s[0]), int(s[1]), int(s[2])
    report(f"{name}: loss (mean over {count} counted)", abs(o_sum / o_count - float(loss_sum) / count) /
           (float(loss_sum) / count), TOL)
    report(f"{name}: counted and correct ({o_count}/{count}, {o_correct}/{correct})",
           0.0 if (o_count, o_correct) == (count, correct) else 1.0, 0.0)
    ours = load(d, f"{name}_grads.f32", np.float32)
    ref = model.grads_flat(n)
    worst, worst_name = 0.0, ""
    for tname, off, d0, d1, _ in table:
        m = d0 * (d1 or 1)
        e = rel(ours[off:off + m], ref[off:off + m])
        if e > worst:
            worst, worst_name = e, tname
    report(f"{name}: every gradient (worst {worst_name})", worst, TOL)


def check_decode(d, cfg, table, flat):
    """llm_model_decode over row 0 of the plain case: positions 3 .. T-1."""
    T, V = cfg["T"], cfg["vocab_size"]
    model = Model(cfg, table, flat)
    tokens = torch.tensor(load(d, "plain_tokens.i32", np.int32)[:T].reshape(1, T), dtype=torch.long)
    with torch.no_grad():
        logits = model.forward(tokens, torch.arange(T).reshape(1, T))[0, 3:].numpy()
    ours = load(d, "decode_logits.f32", np.float32).reshape(T - 3, V)
    report("decode: logits of cached generation", rel(ours, logits), TOL)


def check_training(d, cfg, table, flat):
    B, T, steps, accum, n = cfg["B"], cfg["T"], cfg["steps"], cfg["accum"], cfg["n_params"]
    model = Model(cfg, table, flat)
    decay = [model.params[t[0]] for t in table if t[4]]
    no_decay = [model.params[t[0]] for t in table if not t[4]]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["wd"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"])
    batches = load(d, "train_batches.i32", np.int32).reshape(steps, accum, 3, B, T)
    ours_log = load(d, "train_log.f32", np.float32).reshape(steps, 3)
    log = []
    for s in range(steps):
        mbs = [[torch.tensor(batches[s, k, j], dtype=torch.long) for j in range(3)] for k in range(accum)]
        total = sum(int((mb[1] >= 0).sum()) for mb in mbs)     # num_items_in_batch
        model.zero_grad()
        step_loss = 0.0
        for tokens, targets, pos in mbs:
            logits = model.forward(tokens, pos)
            loss_sum, _, _ = model.loss_sums(logits, targets, cfg["smoothing"])
            (loss_sum / total).backward()
            step_loss += float(loss_sum)
        norm = float(torch.nn.utils.clip_grad_norm_(list(model.params.values()), cfg["max_norm"]))
        lr = lr_at(cfg, s)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        log.append((step_loss / total, lr, norm))
    log = np.array(log)
    report("train: loss of each step", rel(ours_log[:, 0], log[:, 0]), TOL)
    report("train: learning rate of each step", rel(ours_log[:, 1], log[:, 1]), 1e-6)
    report("train: gradient norm of each step", rel(ours_log[:, 2], log[:, 2]), TOL)
    clipped = int((log[:, 2] > cfg["max_norm"]).sum())
    report(f"train: clipping happened ({clipped} of {steps} steps)", 0.0 if 0 < clipped < steps else 1.0, 0.0)
    ours = load(d, "params_final.f32", np.float32)
    worst, worst_name = 0.0, ""
    moved = 0.0
    for tname, off, d0, d1, _ in table:
        m = d0 * (d1 or 1)
        ref = model.params[tname].detach().numpy().reshape(-1)
        e = rel(ours[off:off + m], ref)
        moved = max(moved, rel(flat[off:off + m], ref))
        if e > worst:
            worst, worst_name = e, tname
    report(f"train: parameters after {steps} steps (worst {worst_name}; they moved {moved:.2f})",
           worst, TOL_TRAIN)


def main():
    d = sys.argv[1]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = {}
    for kv in open(os.path.join(d, "config.txt")).read().split():
        k, v = kv.split("=")
        cfg[k] = float(v) if any(ch in v for ch in ".e") or k in ("lr", "min_lr") else int(v)
    table = []
    for line in open(os.path.join(d, "tensors.txt")):
        name, off, d0, d1, dec = line.split()
        table.append((name, int(off), int(d0), int(d1), int(dec)))
    flat = load(d, "params0.f32", np.float32)
    check_case(d, cfg, table, flat, "doc", True)
    check_case(d, cfg, table, flat, "plain", False)
    check_case(d, cfg, table, flat, "neftune", False, noise=neftune_noise(cfg, cfg["neftune"], cfg["noise_key"]))
    B, T, V = cfg["B"], cfg["T"], cfg["vocab_size"]
    moved = rel(load(d, "neftune_logits.f32", np.float32), load(d, "plain_logits.f32", np.float32))
    report(f"neftune: the noise moved the logits (by {moved:.2e})", 0.0 if moved > 1e-3 else 1.0, 0.0)
    check_case(d, cfg, table, flat, "smooth", False, cfg["smoothing"])
    check_decode(d, cfg, table, flat)
    check_training(d, cfg, table, flat)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
