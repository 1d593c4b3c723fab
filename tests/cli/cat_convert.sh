#!/usr/bin/env bash
# llm-cat format conversions: JSONL ids <-> stream round trips (u16 and u32), --to=raw,
# --to=npy, and --from=raw.
. "$(dirname "$0")/lib.sh"

# ---- round trips through --from=ids / --to=ids ------------------------------------------

$GEN --seed 11 --records 400 --vocab 50257 --max-len 90 >u16.jsonl
$GEN --seed 12 --records 300 --vocab 151936 --max-len 90 >u32.jsonl

roundtrip() {    # roundtrip NAME JSONL VOCAB WIDTH
    local name=$1 in=$2 vocab=$3 width=$4
    run llm-cat -q --from=ids --vocab-size="$vocab" -o "$name.bin" "$in"
    if [ "$RC" -ne 0 ]; then fail "$name" "import failed" "$(last_diag)"; return; fi
    llm-cat -q "$name.bin" --to=ids >"$name.out"
    expect_same_file "$name" "$in" "$name.out"
    got=$(llm-cat --header "$name.bin" | py 'import json,sys; h=json.load(sys.stdin); print(h["token_bytes"], h["vocab_size"], h["kind"])')
    expect_eq "$name-header" "$width $vocab docs" "$got"
}
roundtrip roundtrip-u16 u16.jsonl 50257 2
roundtrip roundtrip-u32 u32.jsonl 151936 4

# The same through pipes: stdin to stdout on both sides.
llm-cat -q --from=ids --vocab-size=50257 <u16.jsonl | llm-cat -q --to=ids >pipe.out
expect_same_file roundtrip-u16-pipes u16.jsonl pipe.out
cat u32.jsonl | llm-cat -q --from=ids --vocab-size=151936 | llm-cat -q --to=ids >pipe32.out
expect_same_file roundtrip-u32-pipes u32.jsonl pipe32.out

# A small vocabulary stored as u32 on request, and a large one that u16 cannot hold.
$GEN --seed 13 --records 50 --vocab 1000 >small.jsonl
llm-cat -q --from=ids --vocab-size=1000 --token-bytes=4 small.jsonl -o wide.bin
expect_eq token-bytes-4-header 4 "$(llm-cat --header wide.bin | py 'import json,sys; print(json.load(sys.stdin)["token_bytes"])')"
llm-cat -q wide.bin --to=ids >wide.out
expect_same_file token-bytes-4-roundtrip small.jsonl wide.out
expect_fail token-bytes-2-too-narrow 2 "does not fit" llm-cat --from=ids --vocab-size=151936 --token-bytes=2 u32.jsonl

# Blocks: every record block_size tokens long.
$GEN --seed 14 --records 40 --vocab 50257 --min-len 32 --max-len 32 >blocks.jsonl
llm-cat -q --from=ids --vocab-size=50257 --kind=blocks --block-size=32 blocks.jsonl -o blocks.bin
llm-cat -q blocks.bin --to=ids >blocks.out
expect_same_file roundtrip-blocks blocks.jsonl blocks.out

# Edge values: empty records, one token, ids 0 and vocab-1, every label masked.
cat >edge.jsonl <<'EOF'
{"input_ids":[],"labels":[]}
{"input_ids":[0],"labels":[0]}
{"input_ids":[50256],"labels":[-100]}
{"input_ids":[0,50256,7],"labels":[-100,-100,-100],"doc_starts":[0,1,2]}
{"input_ids":[],"labels":[]}
EOF
llm-cat -q --from=ids --vocab-size=50257 edge.jsonl | llm-cat -q --to=ids >edge.out
expect_same_file roundtrip-edge-values edge.jsonl edge.out

# Input in other spellings comes out normalised: labels always written (-100 where masked),
# labels null or missing mean "all counted", empty doc_starts dropped, blank lines ignored.
cat >loose.jsonl <<'EOF'
{ "input_ids" : [ 1, 2, 3 ] }

{"labels": [-100, 5], "input_ids": [4, 5], "extra": "ignored"}
{"input_ids":[6],"labels":null,"doc_starts":[]}
   
{"input_ids":[7,8,9],"labels":[7,8,9],"doc_starts":[0,2],"text":"x"}
{"input_ids":[10,11],"doc_starts":null}
EOF
py '
import json, sys
for line in open("loose.jsonl"):
    if not line.strip(): continue
    o = json.loads(line); ids = o["input_ids"]
    r = {"input_ids": ids, "labels": o.get("labels") or ids}
    if o.get("doc_starts"): r["doc_starts"] = o["doc_starts"]
    print(json.dumps(r, separators=(",", ":")))' >loose.want
llm-cat -q --from=ids --vocab-size=100 loose.jsonl | llm-cat -q --to=ids >loose.out
expect_same_file from-ids-normalises loose.want loose.out

# CRLF line ends and a last line without a newline are fine.
printf '{"input_ids":[1,2]}\r\n{"input_ids":[3]}\r\n\r\n{"input_ids":[4],"labels":[-100]}' >crlf.jsonl
llm-cat -q --from=ids --vocab-size=10 crlf.jsonl --to=ids >crlf.out
expect_eq from-ids-crlf-no-final-newline '{"input_ids":[1,2],"labels":[1,2]}
{"input_ids":[3],"labels":[3]}
{"input_ids":[4],"labels":[-100]}' "$(cat crlf.out)"

# Records far larger than a frame, and a line of megabytes.
$GEN --seed 16 --lengths 200000,5000,3,70000,1 --vocab 50257 >long.jsonl
llm-cat -q --from=ids --vocab-size=50257 --frame-size=4k long.jsonl -o long.bin
llm-cat -q long.bin --to=ids >long.out
expect_same_file roundtrip-records-above-frame-size long.jsonl long.out

# Vocabulary sizes at the width boundaries: 65536 still fits u16, 65537 and 2^32-1 do not.
vocab_edge() {    # vocab_edge VOCAB WIDTH IDS...
    local vocab=$1 width=$2
    shift 2
    local ids
    ids=$(IFS=,; echo "$*")
    echo "{\"input_ids\":[$ids],\"labels\":[-100,$(IFS=,; shift; echo "$*")]}" >edge$vocab.jsonl
    llm-cat -q --from=ids --vocab-size="$vocab" edge$vocab.jsonl -o edge$vocab.bin
    local got
    got="$(llm-cat --header edge$vocab.bin | py 'import json,sys; print(json.load(sys.stdin)["token_bytes"])') $(llm-cat -q edge$vocab.bin --to=ids)"
    expect_eq "vocab-edge-$vocab" "$width $(cat edge$vocab.jsonl)" "$got"
}
vocab_edge 65536 2 65535 0 1
vocab_edge 65537 4 65536 65535 0
vocab_edge 4294967295 4 4294967294 65536 0

# The summary: one line on stderr, none with -q.
run llm-cat roundtrip-u16.bin --to=ids
expect_eq summary-line "llm-cat: 400 records read from 1 input: 400 written as JSONL" "$(cat "$LAST_ERR")"
run llm-cat -q roundtrip-u16.bin --to=ids
expect_eq quiet-no-stderr "0 0" "$RC $(wc -c <"$LAST_ERR")"

# ---- --to=raw ------------------------------------------------------------------------

tokens_of u16.jsonl 2 >u16.want.raw
llm-cat -q roundtrip-u16.bin --to=raw >u16.raw
expect_same_file to-raw-u16 u16.want.raw u16.raw
tokens_of u32.jsonl 4 >u32.want.raw
llm-cat -q roundtrip-u32.bin --to=raw -o u32.raw
expect_same_file to-raw-u32 u32.want.raw u32.raw
# numpy reads it back as the same token sequence
got=$(py '
import numpy as np, json
a = np.fromfile("u32.raw", dtype="<u4")
want = [t for l in open("u32.jsonl") for t in json.loads(l)["input_ids"]]
print(a.dtype == np.uint32 and a.tolist() == want)')
expect_eq to-raw-u32-numpy True "$got"
# The loss mask does not survive raw or npy: a note says how many masked tokens were written.
llm-cat -q --from=ids --vocab-size=50257 edge.jsonl -o edge.bin
run llm-cat --to=raw edge.bin -o edge.raw
expect_file_has to-raw-mask-note "note: 4 masked tokens (label -100) are written as ordinary tokens: raw output" \
    "$LAST_ERR"
run llm-cat --to=npy edge.bin -o edge.npy
expect_file_has to-npy-mask-note "npy output has no loss mask" "$LAST_ERR"
run llm-cat -q --to=raw edge.bin -o edge.raw
expect_eq to-raw-mask-quiet "0 0" "$RC $(wc -c <"$LAST_ERR")"

# ---- --to=npy ------------------------------------------------------------------------

npy_check() {    # npy_check FILE.npy JSONL DTYPE SHAPE: prints "ok" or what differs
    py '
import json, sys, numpy as np
path, src, dtype, shape = sys.argv[1:]
a = np.load(path)
recs = [json.loads(l)["input_ids"] for l in open(src) if l.strip()]
flat = [t for r in recs for t in r]
want_shape = eval(shape)
if str(a.dtype) != dtype: print("dtype", a.dtype, "want", dtype)
elif a.shape != want_shape: print("shape", a.shape, "want", want_shape)
elif a.reshape(-1).tolist() != flat: print("values differ")
elif len(want_shape) == 2 and a.tolist() != recs: print("rows differ")
else: print("ok")' "$@" 2>&1
}

llm-cat -q roundtrip-u16.bin --to=npy -o docs.npy
expect_eq to-npy-docs-1d ok "$(npy_check docs.npy u16.jsonl uint16 "($(tokens_of u16.jsonl 2 | wc -c)//2,)")"
llm-cat -q blocks.bin --to=npy -o blocks.npy
expect_eq to-npy-blocks-2d ok "$(npy_check blocks.npy blocks.jsonl uint16 "(40, 32)")"

$GEN --seed 15 --records 25 --vocab 151936 --min-len 16 --max-len 16 >blocks32.jsonl
llm-cat -q --from=ids --vocab-size=151936 --kind=blocks --block-size=16 blocks32.jsonl -o blocks32.bin
llm-cat -q blocks32.bin --to=npy -o blocks32.npy
expect_eq to-npy-blocks-2d-u32 ok "$(npy_check blocks32.npy blocks32.jsonl uint32 "(25, 16)")"

# A blocks stream whose last record is short is not rectangular: 1-D.
{ cat blocks.jsonl; echo '{"input_ids":[1,2,3],"labels":[1,2,3]}'; } >ragged.jsonl
llm-cat -q --from=ids --vocab-size=50257 --kind=blocks --block-size=32 ragged.jsonl -o ragged.bin
llm-cat -q ragged.bin --to=npy -o ragged.npy
expect_eq to-npy-blocks-ragged-1d ok "$(npy_check ragged.npy ragged.jsonl uint16 "($((40 * 32 + 3)),)")"

# Selection applies before the shape is worked out.
llm-cat -q blocks.bin --skip=5 --head=7 --to=npy -o sel.npy
sed -n '6,12p' blocks.jsonl >sel.jsonl
expect_eq to-npy-selection ok "$(npy_check sel.npy sel.jsonl uint16 "(7, 32)")"

# Standard output redirected to a regular file is seekable, so it works there too.
llm-cat -q blocks.bin --to=npy >stdout.npy
expect_same_file to-npy-stdout-file blocks.npy stdout.npy

# Appending (>>) would put the shape's rewrite at the end: refused, and nothing written.
: >append.npy
llm-cat -q blocks.bin --to=npy >>append.npy 2>append.err
expect_eq to-npy-append-refused "1 0" "$? $(stat -c %s append.npy)"
expect_file_has to-npy-append-says "not opened to append" append.err

npy_to_pipe() {
    llm-cat blocks.bin --to=npy | cat >/dev/null
    return "${PIPESTATUS[0]}"
}
expect_fail to-npy-pipe-refused 1 "regular file" npy_to_pipe

# ---- --from=raw ----------------------------------------------------------------------

# Random u16 tokens over a small vocabulary so that EOS (0) turns up often; split in Python.
py '
import random, struct, sys
r = random.Random(21)
toks = [r.randrange(8) for _ in range(5000)] + [0, 5, 6]     # ends with a partial doc
open("docs.raw", "wb").write(struct.pack("<%dH" % len(toks), *toks))
' 
split_raw() {    # split_raw FILE WIDTH eos=ID|block=N: the records as JSONL, in Python
    py '
import json, sys, numpy as np
path, width, how = sys.argv[1:]
toks = np.fromfile(path, dtype="<u2" if width == "2" else "<u4").tolist()
kind, n = how.split("="); n = int(n)
recs, cur = [], []
for t in toks:
    cur.append(t)
    if (kind == "eos" and t == n) or (kind == "block" and len(cur) == n):
        recs.append(cur); cur = []
if cur: recs.append(cur)
for r in recs: print(json.dumps({"input_ids": r, "labels": r}, separators=(",", ":")))' "$@"
}
split_raw docs.raw 2 eos=0 >docs.want
llm-cat -q --from=raw --vocab-size=8 --eos=0 docs.raw --to=ids >docs.out
expect_same_file from-raw-docs-eos docs.want docs.out
expect_eq from-raw-docs-last-partial-kept '{"input_ids":[5,6],"labels":[5,6]}' "$(tail -n 1 docs.out)"

split_raw docs.raw 2 block=37 >blk.want
llm-cat -q --from=raw --vocab-size=8 --kind=blocks --block-size=37 docs.raw --to=ids >blk.out
expect_same_file from-raw-blocks blk.want blk.out
llm-cat -q --from=raw --vocab-size=8 --kind=blocks --block-size=37 docs.raw -o blk.bin
expect_eq from-raw-blocks-header "blocks 37" \
    "$(llm-cat --header blk.bin | py 'import json,sys; h=json.load(sys.stdin); print(h["kind"], h["block_size"])')"

# From a pipe, the same records.
cat docs.raw | llm-cat -q --from=raw --vocab-size=8 --eos=0 --to=ids >docs.pipe.out
expect_same_file from-raw-pipe docs.want docs.pipe.out

# u32 raw (nanoGPT-style for a large vocabulary), round trip raw -> stream -> raw.
py '
import random, struct
r = random.Random(22)
toks = [r.choice((151643, r.randrange(151936))) for _ in range(20000)]
open("big32.raw", "wb").write(struct.pack("<%dI" % len(toks), *toks))'
llm-cat -q --from=raw --vocab-size=151936 --eos=151643 big32.raw -o big32.bin
llm-cat -q big32.bin --to=raw >big32.back.raw
expect_same_file from-raw-u32-roundtrip big32.raw big32.back.raw
split_raw big32.raw 4 eos=151643 >big32.want
llm-cat -q big32.bin --to=ids >big32.out
expect_same_file from-raw-u32-docs big32.want big32.out

# Header options are recorded.
llm-cat -q --from=raw --vocab-size=151936 --eos=151643 --pad=151643 --bos=1 --tokenizer=qwen2 \
    --tokenizer-hash=xxh64:0123abcd big32.raw -o named.bin
got=$(llm-cat --header named.bin | py '
import json, sys
h = json.load(sys.stdin)
print(h["tokenizer"]["name"], h["tokenizer"]["hash"], h["special"]["eos"], h["special"]["pad"], h["special"]["bos"], h["token_bytes"])')
expect_eq from-raw-header-fields "qwen2 xxh64:0123abcd 151643 151643 1 4" "$got"

# Errors particular to raw input.
cp docs.raw odd.raw && printf 'x' >>odd.raw
expect_fail from-raw-odd-trailing-byte 1 "odd.raw: ends with 1 byte" \
    llm-cat -q --from=raw --vocab-size=8 --eos=0 odd.raw --to=ids
printf 'xyz' >odd32.raw
expect_fail from-raw-u32-partial-token 1 "4-byte token" \
    llm-cat -q --from=raw --vocab-size=151936 --eos=0 odd32.raw --to=ids
py 'import struct; open("over.raw","wb").write(struct.pack("<4H", 1, 2, 8, 0))'
expect_fail from-raw-token-over-vocab 1 "token 8 at byte offset 4" \
    llm-cat -q --from=raw --vocab-size=8 --eos=0 over.raw --to=ids
expect_fail from-raw-needs-eos 2 "needs --eos" llm-cat --from=raw --vocab-size=8 docs.raw
expect_fail from-raw-blocks-need-size 2 "--block-size" llm-cat --from=raw --vocab-size=8 --kind=blocks docs.raw
: >empty.raw
run llm-cat -q --from=raw --vocab-size=8 --eos=0 empty.raw --to=ids
expect_eq from-raw-empty "0:0" "$RC:$(wc -c <"$LAST_OUT")"

exit 0
