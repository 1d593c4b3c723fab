#!/usr/bin/python3
"""Checks llm-pack's blocks (as `llm-cat --to=ids` prints them) against the documents it
was given (the same form), independently of llm-pack's code.

  concat DOCS BLOCKS B [--group N] [--pad ID] [--boundaries]
      the blocks must be exactly what run_clm.py's group_texts gives (its code below,
      applied per group of N documents as map(batched=True, batch_size=N) does, or to
      all at once), with the padded last block when --pad is given;
  fit DOCS BLOCKS B [--drop-long]
      every block has B tokens; every document that fits lies whole, at a recorded start,
      in one block; padding (after the last start's document) is masked; longer documents
      are split into full blocks and a last piece (or absent with --drop-long); no token
      is lost or made up;
  same-docs A B C...  the documents of A are those of B, C... together (a multiset; the
      masked padding at the end of a record is left out);
  docs BLOCKS  prints each record's ids less its masked padding, one JSON list a line.
Prints "ok" or what differs, and exits 0 or 1."""
import json
import sys
from collections import Counter
from itertools import chain


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def unpadded(record):
    ids, labels = record["input_ids"], record["labels"]
    n = len(ids)
    while n and labels[n - 1] == -100:
        n -= 1
    return ids[:n]


def group_texts(examples, block_size):
    # run_clm.py (transformers/examples/pytorch/language-modeling), as written there.
    concatenated_examples = {k: list(chain(*examples[k])) for k in examples.keys()}
    total_length = len(concatenated_examples[list(examples.keys())[0]])
    total_length = (total_length // block_size) * block_size
    result = {
        k: [t[i: i + block_size] for i in range(0, total_length, block_size)]
        for k, t in concatenated_examples.items()
    }
    result["labels"] = result["input_ids"].copy()
    return result


def expected_concat(docs, b, group, pad, boundaries):
    groups = [docs[i:i + group] for i in range(0, len(docs), group)] if group else [docs]
    out = []
    for g in groups:
        ids = [d["input_ids"] for d in g]
        res = group_texts({"input_ids": ids}, b)
        blocks = [{"input_ids": x, "labels": list(y)} for x, y in zip(res["input_ids"], res["labels"])]
        flat = list(chain(*ids))
        tail = flat[len(blocks) * b:]
        if pad is not None and tail:
            blocks.append({"input_ids": tail + [pad] * (b - len(tail)),
                           "labels": tail + [-100] * (b - len(tail))})
        if boundaries:
            starts, at = [], 0
            for d in ids:
                if d:
                    starts.append(at)
                at += len(d)
            for k, blk in enumerate(blocks):
                s = [p - k * b for p in starts if k * b <= p < (k + 1) * b]
                if s:
                    blk["doc_starts"] = s
        out.extend(blocks)
    return out


def check_concat(docs, blocks, b, group, pad, boundaries):
    want = expected_concat(docs, b, group, pad, boundaries)
    if len(want) != len(blocks):
        return f"{len(blocks)} blocks, want {len(want)}"
    for k, (w, g) in enumerate(zip(want, blocks)):
        for key in ("input_ids", "labels", "doc_starts"):
            if w.get(key) != g.get(key):
                return f"block {k}: {key} differs: want {str(w.get(key))[:200]} got {str(g.get(key))[:200]}"
    return None


def check_fit(docs, blocks, b, drop_long):
    pieces = Counter()
    for k, blk in enumerate(blocks):
        ids, labels, starts = blk["input_ids"], blk["labels"], blk.get("doc_starts", [])
        if len(ids) != b:
            return f"block {k} has {len(ids)} tokens"
        if not starts or starts[0] != 0:
            return f"block {k}: starts {starts[:5]} do not begin at 0"
        ends = starts[1:] + [None]
        last_end = None
        for s, e in zip(starts, ends):
            if e is None:
                # the last piece ends where the masked padding starts
                e = b
                while e > s and labels[e - 1] == -100:
                    e -= 1
                last_end = e
            pieces[tuple(ids[s:e])] += 1
        if any(labels[i] != -100 for i in range(last_end, b)):
            return f"block {k}: padding not masked"
        if any(labels[i] == -100 for i in range(0, last_end)):
            return f"block {k}: a document token is masked"
    want = Counter()
    for d in docs:
        ids = d["input_ids"]
        if not ids:
            continue
        if len(ids) <= b:
            want[tuple(ids)] += 1
        elif not drop_long:
            for i in range(0, len(ids), b):
                want[tuple(ids[i:i + b])] += 1
    # A document whose own last tokens are the pad id would be cut short by the padding
    # rule above; the tests' documents end in an EOS that is not the pad, or are random.
    if pieces != want:
        missing = want - pieces
        extra = pieces - want
        return f"documents differ: {sum(missing.values())} missing, {sum(extra.values())} unexpected"
    return None


def main():
    args = sys.argv[1:]
    mode = args.pop(0)
    if mode == "docs":
        for r in load(args[0]):
            print(json.dumps(unpadded(r), separators=(",", ":")))
        return
    if mode == "same-docs":
        a = Counter(json.dumps(unpadded(d)) for d in load(args[0]))
        b = Counter()
        for p in args[1:]:
            b.update(json.dumps(unpadded(d)) for d in load(p))
        err = None if a == b else f"{sum((a - b).values())} only in the first, {sum((b - a).values())} only in the rest"
    else:
        docs, blocks, b = load(args[0]), load(args[1]), int(args[2])
        opts = args[3:]

        def opt(name, default=None):
            return int(opts[opts.index(name) + 1]) if name in opts else default
        if mode == "concat":
            err = check_concat(docs, blocks, b, opt("--group", 0), opt("--pad"), "--boundaries" in opts)
        else:
            err = check_fit(docs, blocks, b, "--drop-long" in opts)
    if err:
        print(err)
        sys.exit(1)
    print("ok")


main()
