#!/usr/bin/env bash
# llm-cat errors and usage: exit 2 with a hint for usage errors, exit 1 with FILE:LINE or
# a byte offset for bad data, --on-error=skip accounting, and --help / --version.
. "$(dirname "$0")/lib.sh"

$GEN --seed 61 --records 2000 --vocab 50257 --max-len 100 >good.jsonl
stream_from_ids good.bin good.jsonl 50257 --frame-size=4k
HINT="Try 'llm-cat --help' for more information."

# ---- usage -----------------------------------------------------------------------------

usage_case() {    # usage_case NAME ARGS...: exit 2, the hint, nothing on stdout
    local name=$1
    shift
    run llm-cat "$@" good.bin
    if [ "$RC" -eq 2 ] && grep -qF "$HINT" "$LAST_ERR" && grep -q '^llm-cat: ' "$LAST_ERR" && ! [ -s "$LAST_OUT" ]; then
        pass "$name"
    else
        fail "$name" "command: llm-cat $* good.bin" "want exit 2, 'llm-cat: ...' and the hint on stderr" "$(last_diag)"
    fi
}
usage_case usage-unknown-option --bogus
usage_case usage-unknown-short -Z
usage_case usage-missing-value --head
usage_case usage-shard-k-equals-n --shard=3/3
usage_case usage-shard-zero --shard=0/0
usage_case usage-shard-no-slash --shard=3
usage_case usage-shard-negative --shard=-1/3
usage_case usage-head-negative --head=-1
usage_case usage-head-garbage --head=10x
usage_case usage-skip-garbage --skip=
usage_case usage-skip-space "--skip= 5"
usage_case usage-skip-overflow --skip=99999999999999999999999
usage_case usage-to-unknown --to=parquet
usage_case usage-from-unknown --from=csv
usage_case usage-level-zero --level=0
usage_case usage-level-high --level=23
usage_case usage-frame-size-small --frame-size=1k
usage_case usage-frame-size-large --frame-size=1G
usage_case usage-frame-size-suffix --frame-size=4x
usage_case usage-from-ids-needs-vocab --from=ids
usage_case usage-from-raw-needs-vocab --from=raw --eos=0
usage_case usage-vocab-without-from --vocab-size=100
usage_case usage-eos-without-from --eos=1
usage_case usage-vocab-zero --from=ids --vocab-size=0
usage_case usage-kind-unknown --from=ids --vocab-size=10 --kind=pages
usage_case usage-token-bytes-3 --from=ids --vocab-size=10 --token-bytes=3
usage_case usage-eos-above-vocab --from=ids --vocab-size=10 --eos=10
usage_case usage-eos-negative --from=ids --vocab-size=10 --eos=-1
usage_case usage-block-size-zero --from=ids --vocab-size=10 --block-size=0
usage_case usage-on-error-unknown --from=ids --vocab-size=10 --on-error=ignore
usage_case usage-json-without-stats --json
usage_case usage-header-with-from --from=ids --vocab-size=10 --header
usage_case usage-stdin-twice - -
# Options that would do nothing with the output chosen are refused, not ignored.
usage_case usage-level-with-ids --to=ids --level=19
usage_case usage-frame-size-with-raw --to=raw --frame-size=8k
usage_case usage-level-with-stats --stats -l 5
usage_case usage-level-with-decode --decode --level=1
usage_case usage-head-with-header --header --head=1
usage_case usage-skip-with-ledger --ledger --skip=1
usage_case usage-shard-with-header --header --shard=0/2
expect_stderr_has usage-level-with-ids-message "--level goes with stream output, not with --to=ids" \
    llm-cat --to=ids -l 3 good.bin
expect_stderr_has usage-head-with-header-message "--head selects records; --header describes whole inputs" \
    llm-cat --header --head=1 good.bin
expect_stderr_has usage-names-option "'--bogus'" llm-cat --bogus good.bin
# In a group of short options the unknown one is named, not the argument before the group.
expect_fail usage-names-short-in-group 2 "unknown option, or one missing its value: '-Z'" llm-cat -Zq good.bin
expect_fail usage-names-short-after-option 2 "value: '-Z'" llm-cat --to=ids -Zq good.bin
expect_stderr_has usage-from-ids-message "--from=ids needs --vocab-size" llm-cat --from=ids good.jsonl
expect_stderr_has usage-shard-message "--shard: expected K/N" llm-cat --shard=3/3 good.bin

# Options that look like usage errors but are fine: "--" ends the options.
cp good.bin ./-x.bin
check usage-double-dash llm-cat -q --to=ids -- -x.bin

# ---- --help and --version -------------------------------------------------------------------

run llm-cat --help
if [ "$RC" -eq 0 ] && ! [ -s "$LAST_ERR" ] && head -n 1 "$LAST_OUT" | grep -q '^Usage: llm-cat ' &&
    grep -q -- '--shard=K/N' "$LAST_OUT" && grep -q 'Exit status' "$LAST_OUT"; then
    pass help-stdout
else
    fail help-stdout "$(last_diag)" "stdout: $(head -n 3 "$LAST_OUT")"
fi
run llm-cat -h
expect_eq help-short "0 $(llm-cat --help | md5sum)" "$RC $(md5sum <"$LAST_OUT")"
run llm-cat --help --bogus
expect_eq help-first-wins 0 "$RC"
run llm-cat --version
expect_eq version "0 llm-cat (llm-tools) $(sed -n 's/#define LLM_VERSION "\(.*\)"/\1/p' "$ROOT/lib/common.h")" \
    "$RC $(cat "$LAST_OUT")$(cat "$LAST_ERR")"
expect_fail help-write-error 1 "llm-cat: " sh -c 'llm-cat --help >/dev/full'
expect_fail version-write-error 1 "llm-cat: " sh -c 'llm-cat --version >/dev/full'

# ---- malformed JSONL ----------------------------------------------------------------------

{ head -n 3 good.jsonl; echo '{"input_ids":[1,2'; sed -n '4,6p' good.jsonl; echo 'not json'; tail -n +7 good.jsonl; } >bad.jsonl
expect_fail jsonl-malformed-line 1 "bad.jsonl:4:" llm-cat --from=ids --vocab-size=50257 bad.jsonl -o out.bin
if [ -e out.bin ]; then fail jsonl-malformed-no-output "out.bin was left behind"; else pass jsonl-malformed-no-output; fi
expect_no_temps jsonl-malformed-no-temps
bad_from_stdin() { llm-cat --from=ids --vocab-size=50257 --to=ids <bad.jsonl >/dev/null; }
expect_fail jsonl-malformed-stdin 1 "(stdin):4:" bad_from_stdin

# --on-error=skip: the good lines all come through and the summary counts the bad ones.
run llm-cat --from=ids --vocab-size=50257 --on-error=skip bad.jsonl --to=ids
if [ "$RC" -eq 0 ] && cmp -s good.jsonl "$LAST_OUT" &&
    grep -qF "bad.jsonl:4: skipped:" "$LAST_ERR" && grep -qF "bad.jsonl:8: skipped:" "$LAST_ERR" &&
    grep -qF "llm-cat: 2000 records read from 1 input: 2000 written as JSONL, 2 malformed input lines skipped" "$LAST_ERR"; then
    pass jsonl-skip
else
    fail jsonl-skip "$(last_diag)"
fi
# Many bad lines: only the first few are named, every one is counted.
{ for i in $(seq 1 40); do echo "{\"input_ids\":[$i]}"; echo '{"input_ids":["x"]}'; done; } >many.jsonl
run llm-cat --from=ids --vocab-size=100 --on-error=skip many.jsonl --to=ids
named=$(grep -c ': skipped: ' "$LAST_ERR")
expect_eq jsonl-skip-many "0 40 yes" \
    "$RC $(wc -l <"$LAST_OUT") $([ "$named" -ge 1 ] && [ "$named" -le 10 ] && grep -q '40 malformed input lines skipped' "$LAST_ERR" && echo yes || echo "no: $(cat "$LAST_ERR")")"
# The summary counts skips even when --head stops before the end of the input.
run llm-cat --from=ids --vocab-size=100 --on-error=skip --head=10 many.jsonl --to=ids
expect_file_has jsonl-skip-with-head-counted "9 malformed input lines skipped; stopped at --head 10" "$LAST_ERR"
# ... and over several inputs.
run llm-cat --from=ids --vocab-size=100 --on-error=skip many.jsonl many.jsonl --to=ids
expect_file_has jsonl-skip-two-inputs "80 records read from 2 inputs: 80 written as JSONL, 80 malformed input lines skipped" "$LAST_ERR"

jsonl_case() {    # jsonl_case NAME LINE TEXT: that one line is an error naming TEXT
    local name=$1 line=$2 text=$3
    { echo '{"input_ids":[1]}'; printf '%s\n' "$line"; } >case.jsonl
    run llm-cat --from=ids --vocab-size=100 case.jsonl --to=ids
    if [ "$RC" -eq 1 ] && grep -qF "case.jsonl:2: " "$LAST_ERR" && grep -qF -- "$text" "$LAST_ERR"; then
        pass "$name"
    else
        fail "$name" "line: $line" "want exit 1 and case.jsonl:2: ... $text" "$(last_diag)"
    fi
}
jsonl_case jsonl-token-at-vocab '{"input_ids":[5,100]}' "input_ids[1]"
jsonl_case jsonl-token-negative '{"input_ids":[-1]}' "input_ids[0]"
jsonl_case jsonl-token-float '{"input_ids":[1.5]}' "input_ids[0]"
jsonl_case jsonl-token-string '{"input_ids":["7"]}' "input_ids[0]"
jsonl_case jsonl-token-huge '{"input_ids":[4294967396]}' "input_ids[0]"
jsonl_case jsonl-no-input-ids '{"ids":[1,2]}' '"input_ids"'
jsonl_case jsonl-input-ids-not-array '{"input_ids":3}' '"input_ids"'
jsonl_case jsonl-not-object '[1,2,3]' '"input_ids"'
jsonl_case jsonl-label-other-id '{"input_ids":[1,2],"labels":[1,3]}' "labels[1]"
jsonl_case jsonl-label-minus-one '{"input_ids":[1,2],"labels":[-1,2]}' "labels[0]"
jsonl_case jsonl-labels-short '{"input_ids":[1,2],"labels":[1]}' '"labels"'
jsonl_case jsonl-labels-not-array '{"input_ids":[1,2],"labels":"x"}' '"labels"'
jsonl_case jsonl-doc-starts-descending '{"input_ids":[1,2,3],"doc_starts":[2,1]}' '"doc_starts"'
jsonl_case jsonl-doc-starts-repeated '{"input_ids":[1,2,3],"doc_starts":[1,1]}' '"doc_starts"'
jsonl_case jsonl-doc-starts-past-end '{"input_ids":[1,2,3],"doc_starts":[0,3]}' '"doc_starts"'
jsonl_case jsonl-doc-starts-not-array '{"input_ids":[1,2,3],"doc_starts":5}' '"doc_starts"'
jsonl_case jsonl-truncated '{"input_ids":[1,2' "case.jsonl:2:"
jsonl_case jsonl-trailing-garbage '{"input_ids":[1]} x' "case.jsonl:2:"
u32_over() { echo '{"input_ids":[151936]}' | llm-cat --from=ids --vocab-size=151936 --to=ids; }
expect_fail jsonl-u32-token-at-vocab 1 "below the vocabulary size 151936" u32_over

# A header value the reader would refuse (a control character in the tokenizer name) must
# be refused when writing too, never written into a stream that cannot be read back.
echo '{"input_ids":[1]}' >one.jsonl
run llm-cat -q --from=ids --vocab-size=10 "--tokenizer=$(printf 'tab\there')" one.jsonl -o tab.bin
if [ "$RC" -ne 0 ]; then
    if [ -e tab.bin ]; then fail header-control-char "refused, but tab.bin was written"; else pass header-control-char; fi
else
    run llm-cat --header tab.bin
    if [ "$RC" -eq 0 ]; then pass header-control-char; else fail header-control-char "the import succeeded but its stream does not read back:" "$(last_diag)"; fi
fi

# ---- inputs that are not streams ------------------------------------------------------------

printf 'hello, world\n' >text.txt
expect_fail not-stream-text 1 "text.txt: not an llm-stream" llm-cat text.txt --to=ids
zstd -q -f text.txt -o text.zst
expect_fail not-stream-zstd 1 "text.zst: zstd data without an llm-stream header" llm-cat text.zst --to=ids
: >empty.bin
expect_fail not-stream-empty 1 "empty.bin: empty input" llm-cat empty.bin --to=ids
expect_fail not-stream-jsonl 1 "good.jsonl: not an llm-stream" llm-cat good.jsonl --stats
expect_fail not-stream-missing-file 1 "nothere.bin: No such file or directory" llm-cat nothere.bin --to=ids
expect_fail not-stream-directory 1 "llm-cat: " llm-cat . --to=ids
expect_fail not-stream-second-input 1 "text.txt: not an llm-stream" llm-cat good.bin text.txt --to=ids
not_stream_pipe() { printf 'hello\n' | llm-cat --to=ids; }
expect_fail not-stream-pipe 1 "(stdin): not an llm-stream" not_stream_pipe
# A stream followed by junk: the good records may come out, but the run fails.
cat good.bin text.txt >junk.bin
expect_fail stream-then-junk 1 "offset" llm-cat junk.bin --to=ids

# ---- truncated streams ----------------------------------------------------------------------

size=$(wc -c <good.bin)
for cut in 5 40 300 1000 $((size / 3)) $((size / 2 + 17)) $((size - 40)) $((size - 1)); do
    head -c "$cut" good.bin >cut.bin
    echo old >out.bin
    run llm-cat cut.bin -o out.bin
    if [ "$RC" -eq 1 ] && grep -q 'offset' "$LAST_ERR" && [ "$(cat out.bin)" = old ] && [ -z "$(ls -A | grep '^\.')" ]; then
        pass "truncated-$cut"
    else
        fail "truncated-$cut" "want exit 1, 'offset' on stderr, out.bin unchanged and no temporary" "$(last_diag)" "$(ls -A)"
    fi
    rm -f out.bin
    run llm-cat cut.bin -o new.bin
    if [ "$RC" -eq 1 ] && ! [ -e new.bin ]; then pass "truncated-$cut-no-output"; else fail "truncated-$cut-no-output" "$(last_diag)" "$(ls -A)"; fi
    run llm-cat cut.bin --to=ids -o new.jsonl
    if [ "$RC" -eq 1 ] && ! [ -e new.jsonl ]; then pass "truncated-$cut-ids-no-output"; else fail "truncated-$cut-ids-no-output" "$(last_diag)" "$(ls -A)"; fi
done
truncated_pipe() { head -c $((size / 2)) good.bin | llm-cat --to=ids >/dev/null; }
expect_fail truncated-pipe 1 "truncated stream" truncated_pipe

# A corrupted byte in the middle of a frame is found (zstd checksum or content check).
cp good.bin flip.bin
printf '\xff\xff\xff\xff' | dd of=flip.bin bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_fail corrupt-middle 1 "offset" llm-cat flip.bin --to=ids

exit 0
