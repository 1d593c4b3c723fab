#!/usr/bin/env bash
# llm-cat determinism and zstd compatibility: the same command gives the same bytes, and
# every stream written, whichever way, passes `zstd -t`.
. "$(dirname "$0")/lib.sh"

$GEN --seed 81 --records 1500 --vocab 50257 --max-len 150 >a.jsonl
$GEN --seed 82 --records 700 --vocab 151936 --max-len 150 >w.jsonl
$GEN --seed 83 --records 300 --vocab 50257 --min-len 48 --max-len 48 >k.jsonl

# twice NAME CMD: runs the shell command CMD twice, each writing file OUT, and compares.
twice() {
    local name=$1 cmd=$2
    rm -f OUT && sh -c "$cmd" 2>/dev/null && mv OUT first
    rm -f OUT && sh -c "$cmd" 2>/dev/null && mv OUT second
    if [ -s first ] && cmp -s first second; then
        pass "$name"
    else
        fail "$name" "command: $cmd" "$(cmp first second 2>&1)" "sizes: $(wc -c first second 2>&1 | tr '\n' ' ')"
    fi
    rm -f first second
}
twice same-import-u16 "llm-cat -q --from=ids --vocab-size=50257 a.jsonl -o OUT"
twice same-import-u32 "llm-cat -q --from=ids --vocab-size=151936 w.jsonl -o OUT"
twice same-import-pipe "cat a.jsonl | llm-cat -q --from=ids --vocab-size=50257 | cat >OUT"
twice same-import-stdout-file "llm-cat -q --from=ids --vocab-size=50257 a.jsonl >OUT"
twice same-import-level-19 "llm-cat -q --from=ids --vocab-size=50257 -l 19 --frame-size=8k a.jsonl -o OUT"
twice same-import-level-1 "llm-cat -q --from=ids --vocab-size=50257 --level=1 --frame-size=64k a.jsonl -o OUT"
stream_from_ids a.bin a.jsonl 50257
stream_from_ids w.bin w.jsonl 151936
stream_from_ids k.bin k.jsonl 50257 --kind=blocks --block-size=48
twice same-copy "llm-cat -q a.bin -o OUT"
twice same-merge "llm-cat -q a.bin a.bin --skip=100 --head=2000 -o OUT"
twice same-ids "llm-cat -q w.bin --to=ids >OUT"
twice same-raw "llm-cat -q w.bin --to=raw -o OUT"
twice same-npy "llm-cat -q k.bin --to=npy -o OUT"
twice same-stats "llm-cat -q a.bin --stats --json >OUT"
twice same-header "llm-cat a.bin --header >OUT"

# The provenance names the program, not the path it was run by, so the bytes do not
# depend on where llm-cat is installed.
"$LLM_BIN/llm-cat" -q a.bin -o p1.bin
(PATH=$LLM_BIN:$PATH && cd "$LLM_BIN" && ./llm-cat -q "$W/a.bin" -o "$W/p2.bin")
expect_eq same-bytes-any-argv0 "llm-cat llm-cat" \
    "$(for f in p1.bin p2.bin; do llm-cat --header $f | py 'import json,sys; print(json.load(sys.stdin)["provenance"][-1]["argv"][0])'; done | tr '\n' ' ' | sed 's/ $//')"

# Frame size and level change the bytes, never the records.
want=$(md5sum <a.jsonl)
for opts in "--frame-size=4k" "--frame-size=256M" "-l 1" "-l 22 --frame-size=16k"; do
    llm-cat -q a.bin $opts -o re.bin
    expect_eq "records-kept-${opts// /}" "$want" "$(llm-cat -q re.bin --to=ids | md5sum)"
done

# ---- zstd -t on every stream this script and its pipelines can write -------------------

llm-cat -q --from=ids --vocab-size=50257 a.jsonl | cat >pipe.bin                  # no index
llm-cat -q --from=ids --vocab-size=50257 a.jsonl >stdout.bin                      # index
llm-cat -q --from=ids --vocab-size=50257 --frame-size=4k a.jsonl -o small-frames.bin
llm-cat -q --from=ids --vocab-size=50257 -l 22 a.jsonl -o l22.bin
llm-cat -q --from=raw --vocab-size=50257 --eos=0 <(llm-cat -q a.bin --to=raw) -o raw.bin
cat a.bin pipe.bin stdout.bin >concat.bin
llm-cat -q a.bin pipe.bin w.bin -o mixed.bin 2>/dev/null                           # refused: no file
llm-cat -q a.bin pipe.bin stdout.bin -o merged.bin
cat concat.bin | llm-cat -q --skip=10 >skipped.bin
llm-cat -q concat.bin --shard=1/3 --head=100 -o shard.bin
llm-cat -q --from=ids --vocab-size=50257 /dev/null -o empty.bin
llm-cat -q a.bin --skip=99999 -o none.bin
bad=""
n=0
for f in *.bin; do
    n=$((n + 1))
    zstd -q -t "$f" 2>/dev/null || bad="$bad $f"
done
if [ -z "$bad" ] && [ "$n" -ge 15 ] && ! [ -e mixed.bin ]; then pass zstd-t-all-streams; else fail zstd-t-all-streams "zstd -t rejects:$bad ($n streams)"; fi

# zstd itself decompresses a stream (skipping header and index frames) to the record bytes.
expect_eq zstd-decompresses "0" "$(zstd -q -dc a.bin >/dev/null; echo $?)"
expect_eq empty-stream-reads-back "0 0" "$(llm-cat -q empty.bin --to=ids | wc -c) $(llm-cat -q none.bin --to=ids | wc -c)"

exit 0
