#!/usr/bin/env bash
# llm-clean against the Python loop users write (bench/clean_loop.py), on a mixed corpus of
# English prose, Chinese poems and HTML e-mail bodies, one document a line (built once by
# scripts/make-clean-corpus.py and cached under $LLM_BUILD/bench). Prints MB/s, the ratios and
# a verdict per target. `bench/run.sh clean` runs it alone; `make bench` runs it after the
# stream benchmark.
#   BENCH_CLEAN_SIZE=200M (corpus size, head -c units), BENCH_REPEAT=5 (rounds of one run of
#   the Python loop and BENCH_SAME_RUNS=5 runs of the same job, the fastest of each kept: a
#   run of llm-clean is a fraction of a second, so it gets about as many seconds of runs as
#   the loop, as hyperfine's rule of several seconds a command has it),
#   BENCH_THREADS_REPEAT=25 (runs of -j 1 and of -j 2, likewise: a -j 2 run needs both cores
#   free at once, which a shared machine grants less often than one), CORPUS_SEED=1,
#   PYTHON=python3 (the first on PATH)
# Exit status: 0 when every run worked and -j 1 and -j 2 wrote the same bytes (whatever the
# ratios), 1 on an error, 2 when something is missing.
set -u
cd "$(dirname "$0")/.." || exit 2
: "${LLM_BUILD:=$PWD/build}" "${LLM_BIN:=$PWD/bin}"
: "${BENCH_CLEAN_SIZE:=200M}" "${BENCH_REPEAT:=5}" "${BENCH_SAME_RUNS:=5}" "${BENCH_THREADS_REPEAT:=25}" "${CORPUS_SEED:=1}" "${PYTHON:=python3}"
export CORPUS_SEED
TARGET_PY_RATIO=20
TARGET_MBS=200
TARGET_J2=1.8
CLEAN=$LLM_BIN/llm-clean
DATA=$PWD/data/npm

die() { echo "bench/clean_bench.sh: $*" >&2; exit 1; }
missing() { echo "bench/clean_bench.sh: $*" >&2; exit 2; }
. bench/lib.sh
declare -A summary
[ -x "$CLEAN" ] || missing "$CLEAN is not built (make)"
[ -d "$DATA/node_modules" ] || missing "$DATA is missing (make data)"
[ -x /usr/bin/time ] || missing "/usr/bin/time not found (make deps)"
PYTHON_PATH=$(command -v "$PYTHON") || missing "$PYTHON not found"

# The corpus is cached by size and seed, and rebuilt when the generator changes.
mkdir -p "$LLM_BUILD/bench" || exit 1
corpus=$LLM_BUILD/bench/clean-corpus-$BENCH_CLEAN_SIZE-seed$CORPUS_SEED.txt
if ! [ -s "$corpus" ] || ! [ -s "$corpus.info" ] || [ scripts/make-clean-corpus.py -nt "$corpus" ]; then
    echo "building $corpus ..." >&2
    python3 scripts/make-clean-corpus.py "$BENCH_CLEAN_SIZE" "$DATA" >"$corpus.tmp" 2>"$corpus.info.tmp" ||
        { cat "$corpus.info.tmp" >&2; rm -f "$corpus.tmp" "$corpus.info.tmp"; die "make-clean-corpus.py failed"; }
    mv "$corpus.info.tmp" "$corpus.info" && mv "$corpus.tmp" "$corpus" || exit 1
fi

work=$(mktemp -d "$LLM_BUILD/bench/clean-work.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# Every timed run finds the whole corpus in the page cache: this VM's memory reclaim (DAMON
# pageout) was seen to evict 16 of its 200 MB within 20 idle seconds, and a run that reads
# them back from disk waits on I/O that has nothing to do with cleaning. How the pages lie
# matters too: llm-clean is slower on the same bytes in scattered 4 KiB pages than in 64 KiB
# folios (alternating runs, 2026-11-24: 185.3 vs 175.2 ms; Python's loop: no difference
# beyond its noise). So when any page is missing, the whole corpus is dropped and read back
# in one go rather than hole by hole, and the run counts how often. That lets readahead
# take large folios; it cannot promise them, which depends on the machine's free memory.
# fincore (util-linux) counts the resident pages; without it, cat reads the missing ones.
reloads=0
cached() {
    local resident
    if resident=$(fincore --noheadings --bytes --output RES "$corpus" 2>/dev/null) &&
        [ "$resident" -lt "$bytes" ] && dd if="$corpus" iflag=nocache count=0 status=none; then
        reloads=$((reloads + 1))
    fi
    cat "$corpus" >/dev/null
}

bytes=$(stat -c %s "$corpus")
lines=$(wc -l <"$corpus")
SAME_JOB="--in=lines --out=lines --collapse-newlines --min-chars 11 --normalize=none"

echo "== llm-clean vs a Python loop: clean $BENCH_CLEAN_SIZE of mixed text, best of $BENCH_REPEAT runs (same job: of $((BENCH_REPEAT * BENCH_SAME_RUNS)); -j 1 vs -j 2: of $BENCH_THREADS_REPEAT)"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(uname -srm)"
echo "cpu:     $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), nproc $(nproc)"
echo "python:  $("$PYTHON" --version 2>&1) ($PYTHON_PATH)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD -- lib clean 2>/dev/null || echo ' (lib/ or clean/ modified)')"
echo
echo "input:   $bytes bytes, $lines documents (scripts/make-clean-corpus.py $BENCH_CLEAN_SIZE, seed $CORPUS_SEED):"
echo "         $(sed -n 's/^make-clean-corpus.py: [0-9]* bytes: //p' "$corpus.info") bytes"
echo "peer:    $PYTHON bench/clean_loop.py < CORPUS > OUT  (re.sub tags, re.sub \\s+, strip, len > 10)"
echo "same:    llm-clean $SAME_JOB -j 1 < CORPUS > OUT"
echo "default: llm-clean --in=lines -j N < CORPUS > OUT  (N = 1, 2; NFC, markup stripped, line breaks kept)"
echo

# (a) the same job: rounds of one Python run and BENCH_SAME_RUNS llm-clean runs, so that a
# slow spell of a shared machine does not decide the ratio. PYTHONUNBUFFERED (set in some
# CI images) would make every write a system call.
for ((rep = 1; rep <= BENCH_REPEAT; rep++)); do
    cached
    timed "$work/python.out" env -u PYTHONUNBUFFERED "$PYTHON" bench/clean_loop.py <"$corpus"
    best python
    for ((k = 1; k <= BENCH_SAME_RUNS; k++)); do
        cached
        # shellcheck disable=SC2086
        timed "$work/same.out" "$CLEAN" $SAME_JOB -j 1 <"$corpus"
        best same
    done
    summary[same]=$(cat "$work/err")
done
py_kept=$(wc -l <"$work/python.out")
same_kept=$(wc -l <"$work/same.out")
# How far "the same job" is the same: output lines of each that the other lacks (multisets).
same_diff=$(python3 -c '
import collections, sys
a = collections.Counter(open(sys.argv[1], "rb"))
b = collections.Counter(open(sys.argv[2], "rb"))
print(sum((a - b).values()), sum((b - a).values()))' "$work/python.out" "$work/same.out")
rm -f "$work/python.out" "$work/same.out"

# (b) the default rules, -j 1 and -j 2, alternating; their outputs must be the same bytes.
for ((rep = 1; rep <= BENCH_THREADS_REPEAT; rep++)); do
    for j in 1 2; do
        cached
        timed "$work/j$j.out" "$CLEAN" --in=lines -j "$j" <"$corpus"
        best "j$j"
        summary[j$j]=$(cat "$work/err")
    done
    # The machine's own limit: two -j 1 processes side by side share nothing but the cores.
    rm -f "$work/pair2.out"
    cached
    timed "$work/pair1.out" sh -c '"$0" --in=lines -j 1 <"$1" >"$2" & "$0" --in=lines -j 1 <"$1"; wait' \
        "$CLEAN" "$corpus" "$work/pair2.out" <"$corpus"
    best pair
    cmp -s "$work/j1.out" "$work/j2.out" || die "llm-clean -j 1 and -j 2 wrote different output"
done
out_bytes=$(stat -c %s "$work/j1.out")

fmt='%-22s %9s %9s %9s %9s %10s\n'
# shellcheck disable=SC2059
printf "$fmt" run "MB/s" "wall" "cpu" "peak RSS" "kept"
row() {   # row LABEL KEY KEPT
    # shellcheck disable=SC2059
    printf "$fmt" "$1" "$(mbs "$bytes" "${best_wall[$2]}")" "${best_wall[$2]}s" "${best_cpu[$2]}s" \
        "$((max_rss[$2] / 1024))M" "$3"
}
kept_of() { sed -n 's/^llm-clean: [0-9]* in, \([0-9]*\) kept.*/\1/p' <<<"${summary[$1]}"; }
row "python loop" python "$py_kept"
row "llm-clean same job -j1" same "$same_kept"
row "llm-clean default -j1" j1 "$(kept_of j1)"
row "llm-clean default -j2" j2 "$(kept_of j2)"
echo
for k in same j1 j2; do
    case $k in same) echo "llm-clean same job -j1:" ;; j*) echo "llm-clean default -${k}:" ;; esac
    # shellcheck disable=SC2001
    sed 's/^/    /' <<<"${summary[$k]}"
done
echo
echo "MB/s: 10^6 bytes of input per second of wall clock around the process; cpu: user + sys seconds;"
echo "kept: output lines (documents); the default rules' output is JSONL, $out_bytes bytes."
echo "same job: ${same_diff% *} of the Python loop's $py_kept output lines are not in llm-clean's, ${same_diff#* }"
echo "of llm-clean's $same_kept not in the Python loop's (HTML e-mail: llm-clean decodes entities, drops"
echo "<script>/<style> and comments, turns block tags into spaces, leaves '<' that opens no tag)."
echo

r_py=$(ratio "${best_wall[python]}" "${best_wall[same]}")
mbs1=$(mbs "$bytes" "${best_wall[j1]}")
mbs2=$(mbs "$bytes" "${best_wall[j2]}")
per_core2=$(awk -v m="$mbs2" 'BEGIN { printf "%.1f", m / 2 }')
r_j2=$(ratio "${best_wall[j1]}" "${best_wall[j2]}")
r_pair=$(awk -v a="${best_wall[j1]}" -v b="${best_wall[pair]}" 'BEGIN { printf "%.2f", 2 * a / b }')
echo "same job ours/python >= ${TARGET_PY_RATIO}x: $(atleast "$r_py" "$TARGET_PY_RATIO") (${r_py}x:" \
     "$(mbs "$bytes" "${best_wall[same]}") vs $(mbs "$bytes" "${best_wall[python]}") MB/s;" \
     "by cpu time $(ratio "${best_cpu[python]}" "${best_cpu[same]}")x)"
echo "default rules -j1 >= $TARGET_MBS MB/s per core: $(atleast "$mbs1" "$TARGET_MBS") ($mbs1 MB/s;" \
     "-j2: $mbs2 MB/s, $per_core2 per core)"
echo "default rules -j2/-j1 >= ${TARGET_J2}x: $(atleast "$r_j2" "$TARGET_J2") (${r_j2}x on nproc $(nproc);" \
     "the machine's ceiling, two -j1 processes at once, is ${r_pair}x)"
echo "peak RSS: python $((max_rss[python] / 1024)) MiB; llm-clean same job $((max_rss[same] / 1024))," \
     "-j1 $((max_rss[j1] / 1024)), -j2 $((max_rss[j2] / 1024)) MiB"
echo "determinism: -j1 and -j2 wrote the same $out_bytes bytes in every run"
echo "page cache: the corpus was read back whole $reloads times, after memory reclaim took some of its pages"
