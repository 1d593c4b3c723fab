#!/usr/bin/env bash
# llm-cat concatenation: byte-concatenated streams, several FILE arguments, merged
# provenance, refusal of streams that differ in more than provenance, and --header.
. "$(dirname "$0")/lib.sh"

$GEN --seed 31 --records 120 --vocab 50257 >a.jsonl
$GEN --seed 32 --records 80 --vocab 50257 >b.jsonl
$GEN --seed 33 --records 60 --vocab 50257 >c.jsonl
cat a.jsonl b.jsonl >ab.jsonl
cat a.jsonl b.jsonl c.jsonl >abc.jsonl
stream_from_ids a.bin a.jsonl 50257 --tokenizer=gpt2 --eos=50256
stream_from_ids b.bin b.jsonl 50257 --tokenizer=gpt2 --eos=50256 --frame-size=4k
# c.bin goes through a pipe, so it has no index
llm-cat -q --from=ids --vocab-size=50257 --tokenizer=gpt2 --eos=50256 c.jsonl | cat >c.bin

# ---- concatenation ---------------------------------------------------------------------

cat a.bin b.bin | llm-cat -q --to=ids >piped.out
expect_same_file cat-pipe-equals-inputs ab.jsonl piped.out
llm-cat -q a.bin b.bin --to=ids >args.out
expect_same_file cat-args-equals-pipe piped.out args.out
cat a.bin b.bin c.bin >abc.bin
llm-cat -q abc.bin --to=ids >abc.out
expect_same_file cat-file-of-three abc.jsonl abc.out
cat b.bin | llm-cat -q a.bin - c.bin --to=ids >mixed2.out
expect_same_file cat-stdin-pipe-among-files abc.jsonl mixed2.out

# Standard input redirected from a regular file is read like the file itself.
run llm-cat -q --to=ids <a.bin
cp "$LAST_OUT" redirect.out
if [ "$RC" -eq 0 ] && cmp -s a.jsonl redirect.out; then
    pass cat-stdin-regular-file
else
    fail cat-stdin-regular-file "command: llm-cat --to=ids <a.bin" "want the records of a.bin" "$(last_diag)"
fi
run llm-cat -q a.bin - c.bin --to=ids <b.bin
if [ "$RC" -eq 0 ] && cmp -s abc.jsonl "$LAST_OUT"; then
    pass cat-stdin-regular-file-among-files
else
    fail cat-stdin-regular-file-among-files "command: llm-cat a.bin - c.bin --to=ids <b.bin" \
        "want the records of a.bin, b.bin, c.bin" "$(last_diag)" "records out: $(wc -l <"$LAST_OUT")"
fi

# ---- merging into one stream -------------------------------------------------------------

llm-cat -q a.bin b.bin c.bin -o m.bin
llm-cat -q m.bin --to=ids >m.out
expect_same_file merge-records abc.jsonl m.out
llm-cat --header m.bin >m.header
got=$(py '
import json, sys
h = json.load(open("m.header"))
prov = h["provenance"]
argvs = [" ".join(s["argv"]) for s in prov]
want = ["a.jsonl", "b.jsonl", "c.jsonl"]
ok = all(any(w in a for a in argvs[:-1]) for w in want)
last = prov[-1]
ok = ok and last["program"] == "llm-cat" and last["argv"][0] == "llm-cat" and "m.bin" in last["argv"]
ok = ok and len(prov) == 4 and all(s["program"] == "llm-cat" and s["version"] for s in prov)
print("ok" if ok else "provenance: " + json.dumps(prov))')
expect_eq merge-provenance-has-both-inputs ok "$got"
expect_eq merge-header-fields "gpt2 50256 2" \
    "$(py 'import json; h=json.load(open("m.header")); print(h["tokenizer"]["name"], h["special"]["eos"], h["token_bytes"])')"

# The same input twice: records twice, its step once.
llm-cat -q a.bin a.bin -o aa.bin
expect_eq merge-same-input-twice "240 1" "$(llm-cat -q aa.bin --to=ids | wc -l) $(llm-cat --header aa.bin | py '
import json, sys; p = json.load(sys.stdin)["provenance"]; print(sum("a.jsonl" in s["argv"] for s in p))')"

# Merging a merge keeps every step once.
llm-cat -q m.bin a.bin -o mm.bin
expect_eq merge-of-merge-steps 5 "$(llm-cat --header mm.bin | py 'import json,sys; print(len(json.load(sys.stdin)["provenance"]))')"

# A file of concatenated streams: the provenance of every one, found through its indexes.
steps_with() {    # steps_with WORD...: how many of the header's steps on stdin name each WORD
    py 'import json, sys
p = json.load(sys.stdin)["provenance"]
print(" ".join(str(sum(w in s["argv"] for s in p)) for w in sys.argv[1:]))' "$@"
}
cat a.bin b.bin >ab.bin
expect_eq header-of-concatenated-file "1 1" "$(llm-cat --header ab.bin | steps_with a.jsonl b.jsonl)"
run llm-cat ab.bin -o abm.bin
expect_eq merge-concatenated-file-steps "0 1 1 1" "$RC $(llm-cat --header abm.bin | steps_with a.jsonl b.jsonl abm.bin)"
expect_eq merge-concatenated-file-no-note "" "$(grep provenance "$LAST_ERR")"
# From a pipe the later stream is met after the header is out: its steps are missing, and said so.
pipe_merge() { cat a.bin b.bin | llm-cat -o pm.bin; }
expect_stderr_has merge-pipe-notes-unwritten-provenance \
    "1 input held concatenated streams whose provenance is not in the output header" pipe_merge
expect_eq merge-pipe-header-has-first "1 0" "$(llm-cat --header pm.bin | steps_with a.jsonl b.jsonl)"
pipe_same() { cat a.bin a.bin | llm-cat -o ps.bin; }
run pipe_same
expect_eq merge-pipe-same-steps-no-note "0" "$RC$(grep provenance "$LAST_ERR")"

# ---- refusals ------------------------------------------------------------------------------

stream_from_ids other.bin b.jsonl 50257 --tokenizer=other --eos=50256
stream_from_ids blocks.bin b.jsonl 50257 --tokenizer=gpt2 --eos=50256 --kind=blocks
stream_from_ids vocab.bin b.jsonl 60000 --tokenizer=gpt2 --eos=50256
stream_from_ids eos.bin b.jsonl 50257 --tokenizer=gpt2 --eos=0
stream_from_ids hash.bin b.jsonl 50257 --tokenizer=gpt2 --eos=50256 --tokenizer-hash=xxh64:1

refused() {    # refused NAME FILE WHY
    local name=$1 f=$2 why=$3
    run llm-cat a.bin "$f" -o refused.bin
    if [ "$RC" -eq 1 ] && grep -qF "$f" "$LAST_ERR" && grep -qF a.bin "$LAST_ERR" && grep -qF -- "$why" "$LAST_ERR" &&
        ! [ -e refused.bin ]; then
        pass "$name"
    else
        fail "$name" "command: llm-cat a.bin $f -o refused.bin" "want exit 1, both names and: $why; no refused.bin" "$(last_diag)"
    fi
}
refused merge-refuses-tokenizer other.bin 'tokenizer "gpt2" vs "other"'
refused merge-refuses-kind blocks.bin "kind docs vs blocks"
refused merge-refuses-vocab vocab.bin "vocabulary size 50257 vs 60000"
refused merge-refuses-specials eos.bin "special ids"
refused merge-refuses-tokenizer-hash hash.bin "tokenizer hash"
expect_no_temps merge-refusal-no-temps

pipe_refused() { cat a.bin other.bin | llm-cat -q --to=ids >/dev/null; }
expect_fail merge-pipe-refuses-tokenizer 1 'tokenizer "gpt2" vs "other"' pipe_refused
pipe_refused_kind() { cat a.bin blocks.bin | llm-cat -q -o pr.bin; }
expect_fail merge-pipe-refuses-kind 1 "kind docs vs blocks" pipe_refused_kind
expect_eq merge-pipe-refusal-no-output "" "$(ls pr.bin 2>/dev/null)"

# ---- --header --------------------------------------------------------------------------------

run llm-cat --header a.bin b.bin c.bin
got=$(py '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
hs = [json.loads(l) for l in lines]
ok = len(hs) == 3 and all(h["format"] == "llm-stream" and h["version"] == 1 for h in hs)
ok = ok and all(f in " ".join(h["provenance"][-1]["argv"]) for h, f in zip(hs, ["a.jsonl", "b.jsonl", "c.jsonl"]))
print("ok" if ok else lines)' "$LAST_OUT")
expect_eq header-one-line-per-input "0 ok" "$RC $got"
got=$(cat b.bin | llm-cat --header | py 'import json,sys; h=json.load(sys.stdin); print(h["kind"], h["vocab_size"], h["tokenizer"]["name"])')
expect_eq header-from-pipe "docs 50257 gpt2" "$got"
llm-cat --header a.bin -o hdr.json
expect_eq header-to-file 1 "$(py 'import json; print(len([json.loads(l) for l in open("hdr.json")]))')"
expect_fail header-bad-input 1 "not an llm-stream" llm-cat --header a.bin a.jsonl

exit 0
