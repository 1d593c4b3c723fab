"""The learning rates of transformers' get_scheduler, written out from its formulas and run by
torch's own LambdaLR over a real torch.optim.AdamW, checked against llm-train's log.

    lr_reference.py NAME LOG.jsonl KIND STEPS WARMUP LR [KEY=VALUE...]

KIND is transformers' lr_scheduler_type; the KEY=VALUEs are its scheduler_specific_kwargs
(min_lr, num_cycles, power, lr_end, timescale, num_decay_steps, warmup_type, decay_type,
min_lr_ratio; for reduce_lr_on_plateau torch's ReduceLROnPlateau's: factor, patience,
threshold, cooldown, min_lr; for greedy GreedyLR's, written out below). The log's step s
must carry the learning rate of the s-th optimizer step, within 1e-7 relative (the log
prints 9 digits). reduce_lr_on_plateau and
greedy are stepped, as Trainer steps them, after each evaluation the log records, with its
val_loss; the first must have lowered the rate at least twice, the second must have raised
it and lowered it, and started over when given reset_start. Prints "ok NAME" or "FAIL NAME: why".
"""
import json
import math
import sys

import torch


def warmup(step, w):
    return float(step) / float(max(1, w))


def progress(step, w, total):
    return float(step - w) / float(max(1, total - w))


def linear(step, *, w, total):
    if step < w:
        return warmup(step, w)
    return max(0.0, float(total - step) / float(max(1, total - w)))


def cosine(step, *, w, total, num_cycles=0.5, min_lr_rate=0.0):
    if step < w:
        return warmup(step, w)
    factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress(step, w, total)))
    return max(0.0, factor * (1 - min_lr_rate) + min_lr_rate)


def cosine_with_restarts(step, *, w, total, num_cycles=1):
    if step < w:
        return warmup(step, w)
    p = progress(step, w, total)
    if p >= 1.0:
        return 0.0
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(num_cycles) * p) % 1.0))))


def polynomial(step, *, w, total, lr_init, lr_end=1e-7, power=1.0):
    if step < w:
        return warmup(step, w)
    if step > total:
        return lr_end / lr_init
    remaining = 1 - (step - w) / (total - w)
    return ((lr_init - lr_end) * remaining ** power + lr_end) / lr_init


def constant_with_warmup(step, *, w):
    return warmup(step, w) if step < w else 1.0


def inverse_sqrt(step, *, w, timescale=None):
    timescale = timescale or w or 10_000
    if step < w:
        return warmup(step, w)
    return 1.0 / math.sqrt((step + timescale - w) / timescale)


def wsd(step, *, w, total, num_decay_steps, warmup_type="linear", decay_type="cosine", min_lr_ratio=0.0):
    stable = total - w - num_decay_steps
    shapes_up = {"linear": lambda p: p, "cosine": lambda p: 0.5 * (1.0 - math.cos(math.pi * p)),
                 "1-sqrt": lambda p: 1.0 - math.sqrt(1.0 - p)}
    shapes_down = {"linear": lambda p: 1.0 - p, "cosine": lambda p: 0.5 * (1.0 + math.cos(math.pi * p)),
                   "1-sqrt": lambda p: 1.0 - math.sqrt(p)}
    if step < w:
        factor = shapes_up[warmup_type](warmup(step, w))
        return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)
    if step < w + stable:
        return 1.0
    if step < w + stable + num_decay_steps:
        factor = shapes_down[decay_type](float(step - w - stable) / float(max(1, num_decay_steps)))
        return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)
    return min_lr_ratio


def lambda_of(kind, w, total, peak, kw):
    """get_scheduler: which arguments each kind is given."""
    if kind == "constant":
        return lambda s: 1.0
    if kind == "constant_with_warmup":
        return lambda s: constant_with_warmup(s, w=w)
    if kind == "inverse_sqrt":
        return lambda s: inverse_sqrt(s, w=w, **kw)
    if kind == "warmup_stable_decay":
        return lambda s: wsd(s, w=w, total=total, **kw)
    if kind == "polynomial":
        return lambda s: polynomial(s, w=w, total=total, lr_init=peak, **kw)
    if kind == "cosine_with_min_lr":
        rate = kw["min_lr"] / peak
        return lambda s: cosine(s, w=w, total=total, min_lr_rate=rate)
    return lambda s: {"linear": linear, "cosine": cosine, "cosine_with_restarts": cosine_with_restarts}[kind](
        s, w=w, total=total, **kw)


class GreedyLR:
    """transformers' GreedyLR (optimization.py, 2026), written out: stepped with each eval loss
    in mode "min", it divides the rate by factor after more than patience evaluations in a
    row that beat the best by the threshold, multiplies it after more than patience that do
    not, each followed by warmup or cooldown evaluations left out; StreamingAverage smoothing;
    a reset to the start after reset_start reductions at min_lr."""

    def __init__(self, opt, factor=0.95, patience=10, threshold=1e-6, threshold_mode="abs", cooldown=0,
                 warmup=0, min_lr=1e-3, max_lr=1.0, eps=1e-8, smooth=False, window_size=50, reset_start=500):
        self.opt, self.factor, self.patience, self.threshold = opt, factor, patience, threshold
        self.threshold_mode, self.cooldown, self.warmup, self.min_lr, self.max_lr = (threshold_mode, cooldown,
                                                                                     warmup, min_lr, max_lr)
        self.eps, self.smooth, self.window_size = eps, smooth, window_size
        self.reset_start = self.reset_start_original = reset_start
        self.init_lr = opt.param_groups[0]["lr"]
        self.events = []
        self._reset_state()

    def _reset_state(self):
        self.best = float("inf")
        self.num_bad, self.num_good, self.cooldown_counter, self.warmup_counter = 0, 0, 0, 0
        self.values, self.sum = [], 0.0

    def _streamavg(self, value):
        self.values.append(value)
        self.sum += value
        if len(self.values) > self.window_size:
            self.sum -= self.values.pop(0)
        return self.sum / len(self.values)

    def _better(self, current):
        if self.threshold_mode == "rel":
            return current < self.best * (1.0 - self.threshold)
        return current < self.best - self.threshold

    def step(self, metric):
        current = self._streamavg(float(metric)) if self.smooth else float(metric)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad = self.num_good = 0
        elif self.warmup_counter > 0:
            self.warmup_counter -= 1
            self.num_bad = self.num_good = 0
        else:
            if self._better(current):
                self.best, self.num_bad, self.num_good = current, 0, self.num_good + 1
            else:
                self.num_bad, self.num_good = self.num_bad + 1, 0
            if self.num_good > self.patience:
                self._increase()
                self.warmup_counter, self.num_good = self.warmup, 0
            elif self.num_bad > self.patience:
                self._reduce()
                self.cooldown_counter, self.num_bad = self.cooldown, 0

    def _reduce(self):
        group = self.opt.param_groups[0]
        new = max(group["lr"] * self.factor, self.min_lr)
        if group["lr"] - new > self.eps:
            group["lr"] = new
            self.events.append("fall")
        if not group["lr"] > self.min_lr:
            self.reset_start -= 1
            if self.reset_start <= 0:
                group["lr"] = self.init_lr
                self._reset_state()
                self.reset_start = self.reset_start_original
                self.events.append("reset")

    def _increase(self):
        group = self.opt.param_groups[0]
        new = min(group["lr"] / self.factor, self.max_lr)
        if new - group["lr"] > self.eps:
            group["lr"] = new
            self.events.append("rise")
        self.reset_start = self.reset_start_original


def value(text):
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main():
    name, log, kind, total, w, peak = sys.argv[1:7]
    total, w, peak = int(total), int(w), float(peak)
    kw = dict((k, value(v)) for k, v in (a.split("=", 1) for a in sys.argv[7:]))
    got, evals = {}, {}
    with open(log) as f:
        for line in f:
            rec = json.loads(line)
            if "loss" in rec and "lr" in rec:
                got[rec["step"]] = rec["lr"]
            if "val_loss" in rec:
                evals[rec["step"]] = rec["val_loss"]
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=peak)
    plateau = kind in ("reduce_lr_on_plateau", "greedy")
    if kind == "greedy":
        sched = GreedyLR(opt, **kw)
    elif plateau:
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda_of(kind, w, total, peak, kw))
    want = []
    for s in range(1, total + 1):
        want.append(opt.param_groups[0]["lr"])
        param.grad = torch.ones(1)
        opt.step()
        if not plateau:
            sched.step()
        elif s in evals:
            sched.step(evals[s] if evals[s] is not None else float("nan"))
    need = {"rise", "fall", "reset"} if "reset_start" in kw else {"rise", "fall"}
    if kind == "greedy" and not need <= set(sched.events):
        print(f"FAIL {name}: GreedyLR's moves were {sched.events}; the test needs {sorted(need)}")
        return
    if plateau and len(set(want)) < 3:
        print(f"FAIL {name}: the rate was lowered {len(set(want)) - 1} times; the test needs two")
        return
    if sorted(got) != list(range(1, total + 1)):
        print(f"FAIL {name}: the log has steps {sorted(got)[:5]}..., not 1 to {total}")
        return
    for s in range(1, total + 1):
        a, b = got[s], want[s - 1]
        if abs(a - b) > 1e-7 * max(abs(a), abs(b)) + 1e-300:
            print(f"FAIL {name}: step {s}: llm-train's lr {a!r}, transformers' {b!r}")
            return
    print(f"ok {name}")


main()
