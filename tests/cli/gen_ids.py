#!/usr/bin/python3
"""Random token records as JSONL, in the exact form `llm-cat --to=ids` writes them:
{"input_ids":[...],"labels":[...]} with -100 where masked, and "doc_starts" only when the
record has some. A fixed seed gives the same bytes every run. Used by tests/cli/*.sh."""
import argparse
import json
import random
import sys

p = argparse.ArgumentParser()
p.add_argument("--seed", type=int, default=1)
p.add_argument("--records", type=int, default=100)
p.add_argument("--vocab", type=int, default=50257)
p.add_argument("--min-len", type=int, default=0)
p.add_argument("--max-len", type=int, default=64)
p.add_argument("--mask", type=float, default=0.3, help="share of records with a loss mask")
p.add_argument("--starts", type=float, default=0.3, help="share of records with doc_starts")
p.add_argument("--lengths", help="comma-separated record lengths (overrides --records and lengths)")
a = p.parse_args()

r = random.Random(a.seed)
lengths = ([int(x) for x in a.lengths.split(",")] if a.lengths
           else [r.randint(a.min_len, a.max_len) for _ in range(a.records)])
out = []
for n in lengths:
    # The extremes of the vocabulary turn up now and then, to catch width and sign slips.
    ids = [r.choice((0, a.vocab - 1)) if r.random() < 0.05 else r.randrange(a.vocab) for _ in range(n)]
    labels = list(ids)
    if n and r.random() < a.mask:
        for i in range(n):
            if r.random() < 0.4:
                labels[i] = -100
    rec = {"input_ids": ids, "labels": labels}
    if n and r.random() < a.starts:
        rec["doc_starts"] = sorted(r.sample(range(n), r.randint(1, min(n, 4))))
    out.append(json.dumps(rec, separators=(",", ":")))
sys.stdout.write("".join(line + "\n" for line in out))
