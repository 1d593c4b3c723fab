"""PyTorch reference for llm-eval (tests/cli/eval_*.sh): a GPT-2 written here in torch from
Hugging Face's definition (Conv1D weights (in, out), LayerNorm eps 1e-5, GELU tanh, tied head),
reading a checkpoint folder's config.json and model.safetensors with json, struct and numpy
only (no transformers, no safetensors package), float32 on the CPU.

  score MODEL IDS.jsonl --doc-attention on|off --check EVAL.json NAME
      IDS.jsonl is `llm-cat --to=ids` of the data; each record alone, no padding. Labels are
      the recipes': shifted by one, -100 not counted; with document attention each document
      attends to itself, positions restart at its start and its first token is no label
      (DataCollatorWithFlattening). Records longer than the context keep their start.
      Prints "ok NAME ..." or "FAIL NAME ..." for loss, perplexity, accuracy and counts, and
      for eval_loss, against Trainer's evaluation_loop transcribed (trainer_eval_loss) over
      batches of --batch records (llm-eval's -b).
  strided MODEL DOCS.ids --max-length N --stride S --check EVAL.json NAME
      The sliding-window perplexity of Hugging Face's "Perplexity of fixed-length models"
      over the documents of DOCS.ids concatenated, against llm-eval of llm-pack --stride.
  greedy MODEL --prompt-ids 1,2,3 --max-new N [--stop ID,...]
      Prints the greedy continuation's ids, comma-separated, stopping before a stop id or
      at the model's context.
  favour MODEL ID
      Rewrites MODEL/model.safetensors in place so that the final LayerNorm's bias points
      along token ID's embedding, made 4 times longer: greedy generation then picks ID first.

Run it with /usr/bin/python3 (Debian's python3-torch)."""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

TOL_LOSS = 1e-5     # relative, on the mean loss (and on perplexity)

torch.set_num_threads(2)


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[base + a:base + b], dtype="<f4").reshape(info["shape"])
        key = name[len("transformer."):] if name.startswith("transformer.") else name
        out[key] = torch.tensor(arr.copy())
    return out


class GPT2:
    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            self.cfg = json.load(f)
        self.w = load_safetensors(os.path.join(folder, "model.safetensors"))
        self.L = self.cfg["n_layer"]
        self.H = self.cfg["n_head"]
        self.C = self.cfg["n_embd"]
        self.block = self.cfg["n_positions"]

    def logits(self, ids, pos, allowed):
        """ids, pos: (T,) long; allowed: (T, T) bool, query row may see key column."""
        w, C, H = self.w, self.C, self.H
        T = ids.shape[0]
        hs = C // H
        x = w["wte.weight"][ids] + w["wpe.weight"][pos]
        for i in range(self.L):
            p = f"h.{i}."
            h = F.layer_norm(x, (C,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps=1e-5)
            qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
            q, k, v = (z.reshape(T, H, hs).transpose(0, 1) for z in qkv.split(C, dim=-1))
            s = (q @ k.transpose(1, 2)) / math.sqrt(hs)
            s = s.masked_fill(~allowed, float("-inf"))
            y = (s.softmax(-1) @ v).transpose(0, 1).reshape(T, C)
            x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            h = F.layer_norm(x, (C,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps=1e-5)
            h = F.gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"], approximate="tanh")
            x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = F.layer_norm(x, (C,), w["ln_f.weight"], w["ln_f.bias"], eps=1e-5)
        return x @ w["wte.weight"].T


def record_inputs(rec, block, doc_attention):
    ids = rec["input_ids"][:block]
    labels = list(rec["labels"][:block])
    T = len(ids)
    starts = [s for s in rec.get("doc_starts", []) if s < T] if doc_attention else []
    doc = [0] * T
    pos = list(range(T))
    if starts:
        d, begin = -1, 0
        sset = set(starts)
        for t in range(T):
            if t in sset:
                d, begin = d + 1, t
                labels[t] = -100       # a document's first token is no label of the one before
            doc[t] = d
            pos[t] = t - begin
    ids_t = torch.tensor(ids, dtype=torch.long)
    pos_t = torch.tensor(pos, dtype=torch.long)
    doc_t = torch.tensor(doc)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = causal & (doc_t[:, None] == doc_t[None, :])
    return ids_t, pos_t, allowed, torch.tensor(labels, dtype=torch.long)


def trainer_eval_loss(per_record, batch_size):
    """Trainer.evaluation_loop's eval_loss over (loss sum, count) a record, in file order
    (SequentialSampler): a batch's loss is the mean over its counted labels (the model's
    cross-entropy, or LabelSmoother's, reduction mean); each is repeated batch_size times
    (losses.repeat(batch_size)) and gather_for_metrics cuts the last batch's copies to the
    records it holds (the dataloader's remainder); eval_loss is the mean of them all. A batch
    with no counted label has the loss NaN there, and so would eval_loss: llm-eval leaves
    such a batch out, and so does this."""
    all_losses = []
    for first in range(0, len(per_record), batch_size):
        batch = per_record[first:first + batch_size]
        n = sum(c for _, c in batch)
        if n == 0:
            continue
        loss = sum(s for s, _ in batch) / n
        all_losses += [loss] * batch_size
        if len(batch) < batch_size:     # the remainder, at the end of the dataloader
            del all_losses[len(all_losses) - batch_size + len(batch):]
    return sum(all_losses) / len(all_losses) if all_losses else float("nan")


def score(args):
    model = GPT2(args.model)
    loss_sum, count, correct, records, min_gap = 0.0, 0, 0, 0, float("inf")
    per_record = []
    truncated = 0
    near_ties = 0
    with torch.no_grad():
        for line in open(args.ids):
            if not line.strip():
                continue
            rec = json.loads(line)
            records += 1
            per_record.append((0.0, 0))
            truncated += len(rec["input_ids"]) > model.block
            if not rec["input_ids"]:
                continue
            ids, pos, allowed, labels = record_inputs(rec, model.block, args.doc_attention == "on")
            logits = model.logits(ids, pos, allowed)[:-1]
            target = labels[1:]
            keep = target != -100
            if not keep.any():
                continue
            lg, tg = logits[keep], target[keep]
            if args.label_smoothing:    # Trainer's LabelSmoother, summed over the labels
                e = args.label_smoothing
                log_probs = -F.log_softmax(lg.double(), dim=-1)
                nll = log_probs.gather(dim=-1, index=tg.unsqueeze(-1)).sum()
                record_sum = ((1 - e) * nll + e * log_probs.sum() / log_probs.shape[-1]).item()
            else:
                record_sum = F.cross_entropy(lg.double(), tg, reduction="sum").item()
            loss_sum += record_sum
            count += int(keep.sum())
            per_record[-1] = (record_sum, int(keep.sum()))
            correct += int((lg.argmax(-1) == tg).sum())
            top2 = lg.topk(2, dim=-1).values
            gaps = top2[:, 0] - top2[:, 1]
            min_gap = min(min_gap, float(gaps.min()))
            near_ties += int((gaps < 1e-4).sum())
    with open(args.check) as f:
        got = json.load(f)
    name = args.name
    bad = 0

    def report(what, ok, detail):
        nonlocal bad
        bad += not ok
        print(f"{'ok' if ok else 'FAIL'} {name}: {what} ({detail})")

    loss = loss_sum / count
    report("tokens", got["tokens"] == count, f"llm-eval {got['tokens']}, torch {count}")
    report("records", got["records"] == records, f"llm-eval {got['records']}, torch {records}")
    report("truncated", got["truncated"] == truncated, f"llm-eval {got['truncated']}, reference {truncated}")
    err = abs(got["loss"] - loss) / abs(loss)
    report("loss", err <= TOL_LOSS, f"llm-eval {got['loss']:.9g}, torch {loss:.9g}, rel err {err:.2e}, tol {TOL_LOSS:.0e}")
    ppl = math.exp(loss)
    err = abs(got["perplexity"] - ppl) / ppl
    report("perplexity", err <= TOL_LOSS, f"llm-eval {got['perplexity']:.9g}, torch {ppl:.9g}, rel err {err:.2e}")
    want = trainer_eval_loss(per_record, args.batch)
    err = abs(got["eval_loss"] - want) / abs(want)
    report("eval_loss", got["batch_size"] == args.batch and err <= TOL_LOSS,
           f"llm-eval {got['eval_loss']:.9g} in batches of {got['batch_size']}, Trainer's loop {want:.9g} in "
           f"batches of {args.batch}, rel err {err:.2e}, tol {TOL_LOSS:.0e}")
    ours = round(got["accuracy"] * count)
    report("accuracy", abs(ours - correct) <= near_ties,
           f"llm-eval {got['accuracy']:.9g} ({ours} of {count}), torch {correct / count:.9g} ({correct}), "
           f"smallest top-2 gap {min_gap:.2e}, near ties {near_ties}")
    return 1 if bad else 0


def strided(args):
    """Hugging Face's "Perplexity of fixed-length models" loop, over the documents of IDS
    concatenated: a window of max_length tokens every stride, the labels of all but its last
    trg_len tokens -100, the loss summed over every label counted (num_loss_tokens)."""
    model = GPT2(args.model)
    seq = []
    for line in open(args.ids):
        if line.strip():
            seq += json.loads(line)["input_ids"]
    loss_sum, count, prev_end = 0.0, 0, 0
    with torch.no_grad():
        for begin in range(0, len(seq), args.stride):
            end = min(begin + args.max_length, len(seq))
            trg_len = end - prev_end
            ids = torch.tensor(seq[begin:end])
            labels = ids.clone()
            labels[:-trg_len] = -100
            T = end - begin
            logits = model.logits(ids, torch.arange(T), torch.ones(T, T, dtype=torch.bool).tril())[:-1]
            target = labels[1:]
            keep = target != -100
            loss_sum += F.cross_entropy(logits[keep].double(), target[keep], reduction="sum").item()
            count += int(keep.sum())
            prev_end = end
            if end == len(seq):
                break
    with open(args.check) as f:
        got = json.load(f)
    loss = loss_sum / count
    err = abs(got["loss"] - loss) / abs(loss)
    ok = got["tokens"] == count and err <= TOL_LOSS
    print(f"{'ok' if ok else 'FAIL'} {args.name}: loss llm-eval {got['loss']:.9g} over {got['tokens']} tokens, "
          f"torch {loss:.9g} over {count}, rel err {err:.2e}, tol {TOL_LOSS:.0e}")
    return 0 if ok else 1


def greedy(args):
    model = GPT2(args.model)
    ids = [int(x) for x in args.prompt_ids.split(",")]
    stops = {int(x) for x in args.stop.split(",")} if args.stop else set()
    out = []
    with torch.no_grad():
        for _ in range(args.max_new):
            if len(ids) >= model.block:
                break
            T = len(ids)
            lg = model.logits(torch.tensor(ids), torch.arange(T), torch.ones(T, T, dtype=torch.bool).tril())[-1]
            nxt = int(lg.argmax())
            if nxt in stops:
                break
            out.append(nxt)
            ids.append(nxt)
    print(",".join(map(str, out)))
    return 0


def favour(args):
    path = os.path.join(args.model, "model.safetensors")
    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        def where(name):
            info = header.get(name) or header["transformer." + name]
            return 8 + n + info["data_offsets"][0], info["shape"]
        off, shape = where("wte.weight")
        f.seek(off + args.id * shape[1] * 4)
        row = np.frombuffer(f.read(shape[1] * 4), dtype="<f4") * 4    # longer than any other row
        f.seek(off + args.id * shape[1] * 4)
        f.write(row.astype("<f4").tobytes())
        off, _ = where("ln_f.bias")
        f.seek(off)
        f.write((row * (100.0 / float(np.linalg.norm(row)))).astype("<f4").tobytes())
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("score")
    s.add_argument("model")
    s.add_argument("ids")
    s.add_argument("--doc-attention", choices=("on", "off"), default="on")
    s.add_argument("--label-smoothing", type=float, default=0.0)
    s.add_argument("--batch", type=int, default=8)
    s.add_argument("--check", required=True)
    s.add_argument("name")
    w = sub.add_parser("strided")
    w.add_argument("model")
    w.add_argument("ids")
    w.add_argument("--max-length", type=int, required=True)
    w.add_argument("--stride", type=int, required=True)
    w.add_argument("--check", required=True)
    w.add_argument("name")
    g = sub.add_parser("greedy")
    g.add_argument("model")
    g.add_argument("--prompt-ids", required=True)
    g.add_argument("--max-new", type=int, required=True)
    g.add_argument("--stop", default="")
    f = sub.add_parser("favour")
    f.add_argument("model")
    f.add_argument("id", type=int)
    a = p.parse_args()
    return {"score": score, "strided": strided, "greedy": greedy, "favour": favour}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
