#!/usr/bin/env bash
# Training on the CPU against PyTorch: steps/s of the same small GPT-2 (6 layers, 6 heads,
# width 384, block 256, vocabulary 50257, batch 4 x 256) in our CPU path (build/bench/train_bench:
# lib/model + lib/adamw) and in PyTorch (bench/train_peer.py: nn.Module, autograd,
# torch.optim.AdamW, clip_grad_norm_), on the same number of threads, runs alternating, the
# fastest of each kept, plus both peak RSS. Prints the ratio ours/peer and a verdict for the
# issue's targets (ratio >= 1, peak memory no higher).
#   BENCH_TRAIN_THREADS=$(nproc), BENCH_TRAIN_STEPS=5 (timed steps after one warm-up step),
#   BENCH_REPEAT=2, BENCH_TRAIN_SHAPE="4 256 6 6 384 50257" (B T layers heads width vocab)
# `bench/run.sh train` runs it alone. Exit status: 0 when both sides ran (whatever the ratio),
# 1 on an error, 2 when something is missing.
set -u
cd "$(dirname "$0")/.." || exit 2
: "${LLM_BUILD:=$PWD/build}"
: "${BENCH_TRAIN_THREADS:=$(nproc)}" "${BENCH_TRAIN_STEPS:=5}" "${BENCH_REPEAT:=2}"
: "${BENCH_TRAIN_SHAPE:=4 256 6 6 384 50257}"
OURS=$LLM_BUILD/bench/train_bench
PY=/usr/bin/python3    # Debian's python3-torch imports under the system python only

die() { echo "bench/train_cpu_bench.sh: $*" >&2; exit 1; }
missing() { echo "bench/train_cpu_bench.sh: $*" >&2; exit 2; }
. bench/lib.sh
maxof() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b > a) ? b : a }'; }
[ -x "$OURS" ] || missing "$OURS is not built (make $OURS)"
"$PY" -c 'import torch' 2>/dev/null || missing "PyTorch not importable by $PY (make deps: python3-torch)"
[ -x /usr/bin/time ] || missing "/usr/bin/time not found (make deps)"

work=$(mktemp -d "${TMPDIR:-/tmp}/llm-bench-train.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

read -r B T L H C V <<<"$BENCH_TRAIN_SHAPE"
args="$BENCH_TRAIN_THREADS $BENCH_TRAIN_STEPS $B $T $L $H $C $V"
echo "== llm-train's CPU path vs PyTorch: a training step of a $L-layer GPT-2, best of $BENCH_REPEAT each"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(uname -srm)"
echo "cpu:     $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "torch:   $("$PY" -c 'import torch; print(torch.__version__)'), $("$PY" -c 'import torch; print(torch.__config__.parallel_info())' | sed -n 's/^ATen parallel backend: //p')"
echo "blas:    $(readlink -f /usr/lib/x86_64-linux-gnu/libopenblas.so.0 2>/dev/null || echo unknown) (ours); torch: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD -- lib 2>/dev/null || echo ' (lib/ modified)')"
echo "model:   $L layers, $H heads, width $C, block $T, vocabulary $V, tied head; batch $B x $T;"
echo "         AdamW (weight decay on matrices), clipping at 1.0; $BENCH_TRAIN_THREADS threads each"
echo "ours:    $OURS $args"
echo "peer:    $PY bench/train_peer.py $args"
echo "         (steps/s over $BENCH_TRAIN_STEPS steps after a warm-up step, timed inside each process;"
echo "         torch.set_num_threads and OPENBLAS_NUM_THREADS both set to the thread count)"
echo

for ((rep = 1; rep <= BENCH_REPEAT; rep++)); do
    timed "$work/peer.txt" "$PY" bench/train_peer.py $args
    s=$(kv steps_per_s "$work/peer.txt")
    peer_best=$(maxof "${peer_best:-}" "$s"); peer_rss=$(( RSS > ${peer_rss:-0} ? RSS : ${peer_rss:-0} ))
    peer_loss=$(kv loss_first "$work/peer.txt")
    timed "$work/ours.txt" "$OURS" $args
    s=$(kv steps_per_s "$work/ours.txt")
    ours_best=$(maxof "${ours_best:-}" "$s"); ours_rss=$(( RSS > ${ours_rss:-0} ? RSS : ${ours_rss:-0} ))
    ours_loss=$(kv loss_first "$work/ours.txt")
    params=$(kv params "$work/ours.txt")
done
r=$(ratio "$ours_best" "$peer_best" 2)
fmt='%-8s %10s %12s %10s %12s\n'
# shellcheck disable=SC2059
printf "$fmt" side "steps/s" "tokens/s" "peak RSS" "first loss"
# shellcheck disable=SC2059
printf "$fmt" pytorch "$peer_best" "$(awk -v s="$peer_best" -v n=$((B * T)) 'BEGIN { printf "%.0f", s * n }')" \
    "$((peer_rss / 1024))M" "$peer_loss"
# shellcheck disable=SC2059
printf "$fmt" ours "$ours_best" "$(awk -v s="$ours_best" -v n=$((B * T)) 'BEGIN { printf "%.0f", s * n }')" \
    "$((ours_rss / 1024))M" "$ours_loss"
echo
echo "parameters: $params; first loss near ln($V) = $(awk -v v="$V" 'BEGIN { printf "%.2f", log(v) }') on both sides"
echo "ours/pytorch steps/s >= 1: $(atleast "$r" 1) ($r)"
echo "peak RSS no higher than pytorch's: $([ "$ours_rss" -le "$peer_rss" ] && echo yes || echo no)" \
     "($((ours_rss / 1024)) MiB vs $((peer_rss / 1024)) MiB)"
