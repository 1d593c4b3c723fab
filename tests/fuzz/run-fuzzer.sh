#!/usr/bin/env bash
# run-fuzzer.sh FUZZER CORPUS_DIR SECONDS: runs a libFuzzer binary for SECONDS on a scratch copy
# of the seed corpus. Prints "ok fuzz NAME" when it found nothing; otherwise "FAIL fuzz NAME", the
# saved crash input (kept under $LLM_BUILD/fuzz/crashes, default build/) and the log's tail.
# Reproduce a crash with: FUZZER CRASH_FILE
set -u
if [ $# -ne 3 ]; then
    echo "usage: $0 FUZZER CORPUS_DIR SECONDS" >&2
    exit 2
fi
fuzzer=$1 corpus=$2 seconds=$3
name=$(basename "$fuzzer")
case $seconds in ''|*[!0-9]*) echo "$0: SECONDS must be a whole number, not '$seconds'" >&2; exit 2;; esac
if [ ! -x "$fuzzer" ]; then
    echo "FAIL fuzz $name: $fuzzer is not an executable"
    exit 1
fi
crashes=${LLM_BUILD:-build}/fuzz/crashes
mkdir -p "$crashes" || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/llm-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
if [ -d "$corpus" ]; then
    cp -R "$corpus"/. "$work/corpus/"
fi

# Readers take up to 64 KiB of input; a timeout per input catches hangs.
"$fuzzer" "$work/corpus" \
    -max_total_time="$seconds" -max_len=65536 -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=0 -artifact_prefix="$work/artifacts/" >"$work/log" 2>&1
status=$?

found=$(find "$work/artifacts" -type f | head -n 1)
if [ "$status" -eq 0 ] && [ -z "$found" ]; then
    echo "ok fuzz $name"
    exit 0
fi
echo "FAIL fuzz $name (exit $status)"
for f in "$work"/artifacts/*; do
    [ -f "$f" ] || continue
    kept="$crashes/$name-$(basename "$f")"
    cp "$f" "$kept" && echo "  input: $kept (run: $fuzzer $kept)"
done
tail -n 40 "$work/log" | sed 's/^/  /'
exit 1
