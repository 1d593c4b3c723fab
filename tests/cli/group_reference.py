"""Trainer's group_by_length order, transformers' get_length_grouped_indices
(trainer_pt_utils.py) transcribed, checked against llm-train's log.

    group_reference.py NAME PLAIN_LOG GROUPED_LOG BATCH RECORDS [GROUP_BATCH]

The data has RECORDS records of lengths all different. PLAIN_LOG is a run of one record a
step without --group-by-length: the tokens each step adds name its record, so the log gives
each epoch's shuffled order, what torch.randperm gives get_length_grouped_indices.
GROUPED_LOG is a run over the same data and seed with --group-by-length whose steps take BATCH
records (Trainer's train_batch_size x gradient_accumulation_steps). Each of its steps must
add the tokens of the BATCH records the transcription puts there. GROUP_BATCH, the batch
size the transcription groups for, is BATCH unless given (to show that a wrong one fails).
Prints "ok NAME" or "FAIL NAME: why".
"""
import json
import sys


def length_grouped(indices, lengths, batch_size):
    """get_length_grouped_indices with its randperm given."""
    mega_batch_mult = min(len(lengths) // (batch_size * 4), 50)
    if mega_batch_mult == 0:
        mega_batch_mult = 1
    megabatch_size = mega_batch_mult * batch_size
    megabatches = [indices[i:i + megabatch_size] for i in range(0, len(lengths), megabatch_size)]
    megabatches = [sorted(m, key=lambda i: lengths[i], reverse=True) for m in megabatches]
    maxima = [lengths[m[0]] for m in megabatches]
    max_idx = maxima.index(max(maxima))    # torch.argmax: the first of the largest
    megabatches[0][0], megabatches[max_idx][0] = megabatches[max_idx][0], megabatches[0][0]
    return [i for m in megabatches for i in m]


def step_tokens(path):
    """The tokens each optimizer step of a log took."""
    seen, out = 0, []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if "lr" in rec:
                out.append(rec["tokens"] - seen)
                seen = rec["tokens"]
    return out


def main():
    name, plain_log, grouped_log = sys.argv[1:4]
    batch, records = int(sys.argv[4]), int(sys.argv[5])
    group_batch = int(sys.argv[6]) if len(sys.argv) > 6 else batch
    plain = step_tokens(plain_log)
    if len(plain) % records or len(set(plain[:records])) != records:
        print(f"FAIL {name}: {plain_log} is not whole epochs of one record a step, lengths all different")
        return
    # The records by their lengths: record k is the k-th length of the first epoch.
    lengths = plain[:records]
    record_of = {n: k for k, n in enumerate(lengths)}
    want = []
    for e in range(len(plain) // records):
        order = [record_of[n] for n in plain[e * records:(e + 1) * records]]
        grouped = length_grouped(order, lengths, group_batch)
        want += [sum(lengths[i] for i in grouped[s:s + batch]) for s in range(0, records, batch)]
    got = step_tokens(grouped_log)
    if len(got) != len(want):
        print(f"FAIL {name}: {len(got)} steps, the transcription makes {len(want)}")
        return
    for s, (g, w) in enumerate(zip(got, want)):
        if g != w:
            print(f"FAIL {name}: step {s + 1} took {g} tokens, the transcription's batch has {w}")
            return
    print(f"ok {name}")


main()
