#!/usr/bin/env bash
# llm-pack against the zstd CLI moving the same data: `zstd -dc DOCS | zstd -1` is the floor
# of any program that reads a compressed stream and writes one at level 1. llm-pack reads
# the same docs stream (synthetic tokenized text from stream_bench gen, documents of a few
# hundred tokens) and writes blocks at level 1, in both modes. Prints MB/s and the ratios.
#   BENCH_PACK_MIB=512 (raw u16 tokens), BENCH_SEED=1, BENCH_REPEAT=3 (runs of each, alternating,
#   the fastest kept). `bench/run.sh pack` runs it alone; `make bench` runs it after the others.
# Exit status: 0 when every run worked and the blocks hold the documents' tokens (whatever
# the ratios), 1 on an error, 2 when something is missing.
set -u
cd "$(dirname "$0")/.." || exit 2
: "${LLM_BUILD:=$PWD/build}" "${LLM_BIN:=$PWD/bin}"
: "${BENCH_PACK_MIB:=512}" "${BENCH_SEED:=1}" "${BENCH_REPEAT:=3}"
TARGET=0.80
BENCH=$LLM_BUILD/bench/stream_bench
PACK=$LLM_BIN/llm-pack
CAT=$LLM_BIN/llm-cat

die() { echo "bench/pack_bench.sh: $*" >&2; exit 1; }
missing() { echo "bench/pack_bench.sh: $*" >&2; exit 2; }
. bench/lib.sh
[ -x "$BENCH" ] || missing "$BENCH is not built (make $BENCH)"
[ -x "$PACK" ] && [ -x "$CAT" ] || missing "llm-pack or llm-cat is not built (make)"
command -v zstd >/dev/null || missing "zstd not found (make deps)"
[ -x /usr/bin/time ] || missing "/usr/bin/time not found (make deps)"

work=$(mktemp -d "${TMPDIR:-/tmp}/llm-bench-pack.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

echo "== llm-pack vs zstd -dc | zstd -1: $BENCH_PACK_MIB MiB of u16 tokens, best of $BENCH_REPEAT"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(uname -srm)"
echo "cpu:     $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), nproc $(nproc)"
echo "zstd:    $(zstd --version)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD -- lib pack 2>/dev/null || echo ' (lib/ or pack/ modified)')"

"$BENCH" gen "$work/raw.u16" "$BENCH_PACK_MIB" "$BENCH_SEED" >/dev/null || die "stream_bench gen failed"
"$CAT" -q --from=raw --vocab-size=50257 --eos=50256 --tokenizer=gpt2 "$work/raw.u16" -o "$work/docs.bin" ||
    die "llm-cat --from=raw failed"
raw_bytes=$(stat -c %s "$work/raw.u16")
rm -f "$work/raw.u16"
"$CAT" --stats --json "$work/docs.bin" >"$work/stats.json" 2>/dev/null || die "llm-cat --stats failed"
docs=$(sed -n 's/.*"records":\([0-9]*\).*/\1/p' "$work/stats.json")
tokens=$(sed -n 's/.*"tokens":\([0-9]*\).*/\1/p' "$work/stats.json")
echo "input:   docs stream of $docs documents, $tokens tokens ($raw_bytes bytes as u16), $(stat -c %s "$work/docs.bin") bytes at level 3"
echo "peer:    zstd -dc -q DOCS | zstd -1 -q -c > OUT"
echo "ours:    llm-pack -q -l 1 -b 1024 [--mode=fit] -j N DOCS -o OUT"
echo

runs=(peer concat-j1 concat-jall fit-jall)
for ((rep = 1; rep <= BENCH_REPEAT; rep++)); do
    for r in "${runs[@]}"; do
        case $r in
            peer) timed "$work/out" bash -c 'zstd -dc -q "$1" | zstd -1 -q -c' _ "$work/docs.bin" ;;
            concat-j1) timed /dev/null "$PACK" -q -l 1 -b 1024 -j 1 "$work/docs.bin" -o "$work/out.bin" ;;
            concat-jall) timed /dev/null "$PACK" -q -l 1 -b 1024 "$work/docs.bin" -o "$work/out.bin" ;;
            fit-jall) timed /dev/null "$PACK" -q -l 1 -b 1024 --mode=fit "$work/docs.bin" -o "$work/out.bin" ;;
        esac
        best "$r"
        rm -f "$work/out" "$work/out.bin"
    done
done

# The blocks hold the documents' tokens: all of them but the remainder (concat), all of them
# with padding (fit).
"$PACK" -l 1 -b 1024 "$work/docs.bin" -o "$work/c.bin" 2>"$work/c.err" || die "llm-pack failed"
"$PACK" -l 1 -b 1024 --mode=fit "$work/docs.bin" -o "$work/f.bin" 2>"$work/f.err" || die "llm-pack --mode=fit failed"
c_in=$(sed -n 's/.*blocks of 1024 (\([0-9]*\) tokens.*/\1/p' "$work/c.err")
c_rem=$(sed -n 's/.*; \([0-9]*\) tokens of remainder dropped.*/\1/p' "$work/c.err")
f_in=$(sed -n 's/.*blocks of 1024 (\([0-9]*\) tokens.*/\1/p' "$work/f.err")
f_pad=$(sed -n 's/.*padding, \([0-9.]*%\) of the blocks.*/\1/p' "$work/f.err")
[ "$((c_in + ${c_rem:-0}))" = "$tokens" ] || die "concat: $c_in tokens in blocks + ${c_rem:-0} dropped != $tokens"
[ "$f_in" = "$tokens" ] || die "fit: $f_in tokens in blocks != $tokens"

printf '%-22s %9s %9s %9s %9s\n' run "MB/s" "cpu s" RSS "vs peer"
peer_mbs=$(mbs "$raw_bytes" "${best_wall[peer]}")
lowest=
for r in "${runs[@]}"; do
    m=$(mbs "$raw_bytes" "${best_wall[$r]}")
    rt=$(ratio "${best_wall[peer]}" "${best_wall[$r]}")
    [ "$r" = peer ] || lowest=$(minof "$lowest" "$rt")
    printf '%-22s %9s %9s %8sM %9s\n' "$r" "$m" "${best_cpu[$r]}" "$((max_rss[$r] / 1024))" "${rt}x"
done
echo
echo "MB/s: 10^6 bytes of u16 tokens per second of wall clock around the process (the peer: the"
echo "whole pipe), best of $BENCH_REPEAT; cpu: user + sys of that run; vs peer: peer time / ours."
echo "fit padding: $f_pad of the blocks; concat: every token in a block but ${c_rem:-0} of the remainder."
echo
echo "llm-pack >= ${TARGET}x the pipe's throughput: $(atleast "$lowest" "$TARGET") (lowest ${lowest}x; peer $peer_mbs MB/s)"
