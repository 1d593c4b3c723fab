#!/usr/bin/env bash
# `make bench`: the stream library (llm_writer / llm_reader) against the zstd CLI at the same
# level on the same raw u16 tokens, best of BENCH_REPEAT runs each, printed as ratios.
#   BENCH_MIB=1024 (size of the raw token file), BENCH_SEED=1, BENCH_REPEAT=3, BENCH_LEVELS="1 3"
# Then bench/clean_bench.sh: llm-clean against a Python cleaning loop, and
# bench/tokenize_bench.sh: llm-tokenize against tiktoken and Hugging Face tokenizers (see
# bench/README.md).
# bench/pack_bench.sh: llm-pack against `zstd -dc | zstd -1`, bench/collate_bench.sh:
# llm-collate against llm-tokenize on the text it renders, and bench/train_cpu_bench.sh:
# a training step of the CPU model against PyTorch's. bench/gpu_bench.sh (only when asked:
# `bench/run.sh gpu`, on a machine with a GPU): llm-train and llm-eval on the GPU against
# torch.compile.
#   bench/run.sh [all|stream|clean|tokenize|pack|collate|train|gpu], or BENCH_ONLY=...: one of
#   them only (default all).
# Exit status: 0 when every measurement ran and read back the same tokens (whatever the
# ratios), 1 on an error or a checksum mismatch, 2 when a tool is missing.
set -u
cd "$(dirname "$0")/.." || exit 2
BENCH_ONLY=${1:-${BENCH_ONLY:-all}}
case $BENCH_ONLY in
    all|stream) ;;
    clean) exec bench/clean_bench.sh ;;
    tokenize) exec bench/tokenize_bench.sh ;;
    pack) exec bench/pack_bench.sh ;;
    collate) exec bench/collate_bench.sh ;;
    train) exec bench/train_cpu_bench.sh ;;
    gpu) exec bench/gpu_bench.sh ;;
    *) echo "usage: bench/run.sh [all|stream|clean|tokenize|pack|collate|train|gpu]" >&2; exit 2 ;;
esac
: "${LLM_BUILD:=$PWD/build}" "${LLM_BIN:=$PWD/bin}"
: "${BENCH_MIB:=1024}" "${BENCH_SEED:=1}" "${BENCH_REPEAT:=3}" "${BENCH_LEVELS:=1 3}"
BLOCK=1024
TARGET_RATIO=0.90
TARGET_RSS_KIB=65536
BENCH=$LLM_BUILD/bench/stream_bench

die() { echo "bench/run.sh: $*" >&2; exit 1; }
. bench/lib.sh
[ -x "$BENCH" ] || { echo "bench/run.sh: $BENCH is not built (make $BENCH)" >&2; exit 2; }
command -v zstd >/dev/null || { echo "bench/run.sh: zstd not found (make deps)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench/run.sh: /usr/bin/time not found (make deps)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/llm-bench.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM


echo "== llm-stream vs zstd: write and read ${BENCH_MIB} MiB of u16 tokens, best of $BENCH_REPEAT"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(uname -srm)"
echo "cpu:     $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), nproc $(nproc)"
echo "zstd:    $(zstd --version)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD -- lib 2>/dev/null || echo ' (lib/ modified)')"
echo

raw=$work/raw.u16
"$BENCH" gen "$raw" "$BENCH_MIB" "$BENCH_SEED" >"$work/gen.txt" || die "stream_bench gen failed"
"$BENCH" sum "$raw" >"$work/sum.txt" || die "stream_bench sum failed"
raw_bytes=$(kv raw_bytes "$work/sum.txt")
want_sum=$(kv checksum "$work/sum.txt")
echo "input:   $raw_bytes bytes, $(kv tokens "$work/sum.txt") tokens (stream_bench gen, seed $BENCH_SEED)," \
     "checksum $want_sum"
echo "ours:    llm_writer records of $BLOCK tokens, default frame size, index; llm_reader_next + checksum"
echo "peer:    zstd -LEVEL -q -f -c RAW > X.zst; zstd -dc -q X.zst > /dev/null"
echo

declare -A zsize osize
for level in $BENCH_LEVELS; do
    for ((rep = 1; rep <= BENCH_REPEAT; rep++)); do
        rm -f "$work/x.zst" "$work/o.bin"
        timed "$work/x.zst" zstd "-$level" -q -f -c "$raw"
        best "zstd-write-$level"
        timed "$work/write.txt" "$BENCH" write "$raw" "$work/o.bin" "$level" "$BLOCK"
        best "ours-write-$level"
        own=$(kv peak_rss_kib "$work/write.txt")
        [ "$own" -gt "${max_rss[ours-write-$level]}" ] && max_rss[ours-write-$level]=$own

        timed /dev/null zstd -dc -q "$work/x.zst"
        best "zstd-read-$level"
        timed "$work/read.txt" "$BENCH" read "$work/o.bin"
        best "ours-read-$level"
        own=$(kv peak_rss_kib "$work/read.txt")
        [ "$own" -gt "${max_rss[ours-read-$level]}" ] && max_rss[ours-read-$level]=$own
        got_sum=$(kv checksum "$work/read.txt")
        [ "$got_sum" = "$want_sum" ] ||
            die "level $level: read back checksum $got_sum, the raw file's is $want_sum"
        [ "$(kv raw_bytes "$work/read.txt")" = "$raw_bytes" ] || die "level $level: read back a different size"
    done
    zsize[$level]=$(stat -c %s "$work/x.zst")
    osize[$level]=$(stat -c %s "$work/o.bin")
done

fmt='%-5s %-5s %10s %10s %9s %8s %8s %12s %12s %8s %8s\n'
# shellcheck disable=SC2059
printf "$fmt" level op "zstd MB/s" "ours MB/s" ours/zstd "zstd cpu" "ours cpu" "zstd bytes" "ours bytes" "zstd RSS" "ours RSS"
write_ok=yes read_ok=yes rss_ok=yes worst_rss=0 write_list="" read_list=""
for level in $BENCH_LEVELS; do
    for op in write read; do
        z=zstd-$op-$level o=ours-$op-$level
        zm=$(mbs "$raw_bytes" "${best_wall[$z]}")
        om=$(mbs "$raw_bytes" "${best_wall[$o]}")
        r=$(ratio "$om" "$zm" 3)
        # shellcheck disable=SC2059
        printf "$fmt" "$level" "$op" "$zm" "$om" "$r" "${best_cpu[$z]}s" "${best_cpu[$o]}s" \
            "${zsize[$level]}" "${osize[$level]}" "$((max_rss[$z] / 1024))M" "$((max_rss[$o] / 1024))M"
        pass=$(awk -v r="$r" -v t="$TARGET_RATIO" 'BEGIN { print (r >= t) ? "yes" : "no" }')
        if [ "$op" = write ]; then
            write_list="$write_list${write_list:+, }level $level: $r"
            [ "$pass" = yes ] || write_ok=no
        else
            read_list="$read_list${read_list:+, }level $level: $r"
            [ "$pass" = yes ] || read_ok=no
        fi
        [ "${max_rss[$o]}" -lt "$TARGET_RSS_KIB" ] || rss_ok=no
        [ "${max_rss[$o]}" -gt "$worst_rss" ] && worst_rss=${max_rss[$o]}
    done
done
echo
echo "MB/s: 10^6 bytes of raw tokens per second of wall clock around the process, best of $BENCH_REPEAT;"
echo "cpu: user + sys seconds of that run; ours bytes include the header frame, record headers and the index."
echo
echo "write ratio >= $TARGET_RATIO: $write_ok ($write_list)"
echo "read ratio >= $TARGET_RATIO: $read_ok ($read_list)"
echo "peak RSS < $((TARGET_RSS_KIB / 1024)) MiB: $rss_ok (ours at most $((worst_rss / 1024)).$(((worst_rss % 1024) * 10 / 1024)) MiB)"
echo "checksums: every read matched the raw file ($want_sum)"

if [ "$BENCH_ONLY" = all ]; then
    rm -rf "$work"
    echo
    bench/clean_bench.sh || exit $?
    echo
    bench/tokenize_bench.sh || exit $?
    echo
    bench/pack_bench.sh || exit $?
    echo
    bench/collate_bench.sh || exit $?
    echo
    bench/train_cpu_bench.sh || exit $?
fi
