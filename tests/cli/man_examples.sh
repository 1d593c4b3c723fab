#!/usr/bin/env bash
# Runs the EXAMPLES of the man pages in man/, so that the docs cannot rot, and checks that
# each program's page lists the options its --help prints and that the pages lint clean.
#
# What counts as an example: every `.Bd -literal` block under `.Sh EXAMPLES`, except one
# that comes right after a comment line `.\" not run`. A block runs as a bash script
# (bash -e -o pipefail) in a directory shared by all the examples of its page, in order.
# In a block whose lines start with "$ ", those lines are commands (a trailing backslash
# continues one onto the next line) and the lines after each are its exact standard output.
# The pages use the file names that make_fixtures below provides; an example that needs
# another input file must create it, or this script must learn to.
#
# Prints "ok NAME" or "FAIL NAME" (with indented diagnostics) per check, and "ok NAME #
# skipped: why" when a tool an example needs is missing; always exits 0 (tests/run.sh
# counts the FAIL lines). Self-contained: it shares no helpers with the other cli tests.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${LLM_BIN:=$ROOT/bin}"
export LLM_BIN
export PATH="$LLM_BIN:$PATH"
export LC_ALL=C
exec </dev/null              # no example may wait on the terminal

T=$(mktemp -d "${TMPDIR:-/tmp}/llm-man.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir "$T/bin"

pass() { echo "ok $1"; }
skip() { echo "ok $1 # skipped: $2"; }
# fail NAME DETAIL...: the FAIL line, then each detail indented, at most 40 lines each.
fail() {
    local name=$1 d
    shift
    echo "FAIL $name"
    for d in "$@"; do
        printf '%s\n' "$d" | head -n 40 | sed 's/^/    /'
    done
}

TIMEOUT=()
command -v timeout >/dev/null && TIMEOUT=(timeout 300)

# Examples call `python3`; put one that has numpy first on PATH when there is one, since
# the first python3 on PATH (a pyenv shim, say) may lack it.
HAVE_NUMPY=0
for py in "$(command -v python3 2>/dev/null)" /usr/bin/python3 /usr/local/bin/python3; do
    if [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import numpy' 2>/dev/null; then
        ln -s "$py" "$T/bin/python3"
        export PATH="$T/bin:$PATH"
        HAVE_NUMPY=1
        break
    fi
done

# ---- fixtures: the input files the pages' examples name ---------------------------------

# make_fixtures DIR: small deterministic inputs in GPT-2's vocabulary (50257 ids, eos 50256).
make_fixtures() {
    local dir=$1
    # Park-Miller's generator is exact in awk's doubles: the same ids on every awk.
    awk 'BEGIN {
        s = 20261123
        for (d = 0; d < 2000; d++) {
            s = (s * 16807) % 2147483647; n = 8 + int(s / 2147483647 * 200)
            line = "{\"input_ids\":["
            for (i = 0; i < n; i++) {
                s = (s * 16807) % 2147483647; u = s / 2147483647
                line = line int(50000 * u * u * u) ","
            }
            print line "50256]}"
        }
    }' >"$dir/corpus.ids.jsonl" || return 1
    # Fine-tuning examples: the prompt labelled -100, the answer and its eos labelled as is.
    awk 'BEGIN {
        s = 77
        for (d = 0; d < 300; d++) {
            s = (s * 16807) % 2147483647; p = 4 + int(s / 2147483647 * 40)
            s = (s * 16807) % 2147483647; a = 2 + int(s / 2147483647 * 60)
            ids = ""; labels = ""
            for (i = 0; i < p + a; i++) {
                s = (s * 16807) % 2147483647; t = int(s / 2147483647 * 50000)
                ids = ids t ","; labels = labels (i < p ? -100 : t) ","
            }
            print "{\"input_ids\":[" ids "50256],\"labels\":[" labels "50256]}"
        }
    }' >"$dir/sft.ids.jsonl" || return 1
    # Mostly good lines, with one of each kind of bad one.
    {
        head -n 10 "$dir/corpus.ids.jsonl"
        echo '{"input_ids":[1,2,3'
        echo '{"input_ids":[15496,70000,50256]}'
        echo ''
        echo '{"text":"not tokenized"}'
        echo '{"input_ids":[1,2,3],"labels":[1,-100]}'
        sed -n 11,20p "$dir/corpus.ids.jsonl"
    } >"$dir/messy.ids.jsonl" || return 1
    # The streams the examples make first, so that a later example still has its input
    # when the import examples fail (they report that themselves).
    llm-cat -q --from=ids --vocab-size=50257 --eos=50256 --tokenizer=gpt2 \
        "$dir/corpus.ids.jsonl" -o "$dir/corpus.bin" || return 1
    llm-cat -q --from=ids --kind=blocks --vocab-size=50257 --eos=50256 --pad=50256 \
        --tokenizer=gpt2 "$dir/sft.ids.jsonl" -o "$dir/sft.bin" || return 1
}

# ---- extracting the examples ------------------------------------------------------------

# extract_examples PAGE DIR: writes each example of PAGE to DIR/NNN.ex, or DIR/NNN.norun
# for one shown only, with the roff escapes of literal text undone.
extract_examples() {
    awk -v out="$2" '
    function unescape(s,    r, i, c, d, code) {
        r = ""
        for (i = 1; i <= length(s); i++) {
            c = substr(s, i, 1)
            if (c != "\\") { r = r c; continue }
            d = substr(s, i + 1, 1)
            if (d == "e" || d == "\\") { r = r "\\"; i++ }
            else if (d == "-") { r = r "-"; i++ }
            else if (d == "&") { i++ }
            else if (d == "(") {
                code = substr(s, i + 2, 2); i += 3
                if (code == "aq") r = r "\047"
                else if (code == "dq") r = r "\""
                else if (code == "ga") r = r "`"
                else if (code == "ti") r = r "~"
                else if (code == "ha") r = r "^"
                else r = r "\\(" code
            }
            else r = r c
        }
        return r
    }
    inblock && /^\.Ed/ { inblock = 0; close(file); next }
    inblock { print unescape($0) > file; next }
    /^\.Sh / { examples = ($0 ~ /^\.Sh +"?EXAMPLES"?[ \t]*$/); norun = 0; next }
    !examples { next }
    /^\.\\" *not run[ \t]*$/ { norun = 1; next }
    /^\.Bd[ \t]+-literal/ {
        n++; inblock = 1
        file = sprintf("%s/%03d.%s", out, n, norun ? "norun" : "ex")
        printf "" > file
        norun = 0
        next
    }
    !/^\.\\"/ { norun = 0 }
    ' "$1"
}

# missing_tool FILE: prints what FILE needs that this machine lacks, if anything.
missing_tool() {
    local t
    for t in zstd xxd od python3 seq xargs; do
        if grep -qE "(^|[^a-z0-9_.-])$t([^a-z0-9_-]|$)" "$1" && ! command -v "$t" >/dev/null; then
            echo "$t"
            return
        fi
    done
    if grep -q numpy "$1" && [ "$HAVE_NUMPY" = 0 ]; then echo "python3 with numpy"; fi
}

# run_script NAME FILE DIR: runs a block as one script.
run_script() {
    local name=$1 file=$2 dir=$3 rc
    (cd "$dir" && "${TIMEOUT[@]}" bash -e -o pipefail "$file") >"$T/out" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "$name"
    else
        fail "$name" "example:" "$(cat "$file")" "exit status $rc; output (last lines):" "$(tail -n 40 "$T/out")"
    fi
}

# run_transcript NAME FILE DIR: runs each "$ " command and compares its standard output.
run_transcript() {
    local name=$1 file=$2 dir=$3 lines i n cmd want got rc bad=0
    mapfile -t lines <"$file"
    n=${#lines[@]}
    i=0
    while [ "$i" -lt "$n" ]; do
        if [[ ${lines[i]} != '$ '* ]]; then
            fail "$name" "output line before any command: ${lines[i]}"
            return
        fi
        cmd=${lines[i]#'$ '}
        i=$((i + 1))
        while [[ $cmd == *\\ ]] && [ "$i" -lt "$n" ]; do
            cmd=$cmd$'\n'${lines[i]}
            i=$((i + 1))
        done
        want=
        while [ "$i" -lt "$n" ] && [[ ${lines[i]} != '$ '* ]]; do
            want=$want${lines[i]}$'\n'
            i=$((i + 1))
        done
        got=$(cd "$dir" && "${TIMEOUT[@]}" bash -e -o pipefail -c "$cmd" 2>"$T/err")
        rc=$?
        if [ "$rc" -ne 0 ]; then
            fail "$name" "command: $cmd" "exit status $rc; stderr:" "$(tail -n 20 "$T/err")"
            bad=1
        elif [ "$got" != "${want%$'\n'}" ]; then
            fail "$name" "command: $cmd" "want:" "${want%$'\n'}" "got:" "$got"
            bad=1
        fi
        [ "$bad" -eq 0 ] || return
    done
    pass "$name"
}

# ---- the checks ---------------------------------------------------------------------------

# check_options PAGE PROG: the options in PROG --help and those under OPTIONS are the same.
check_options() {
    local page=$1 prog=$2 name="man-options ${1##*/}" help doc
    if ! help=$("$prog" --help 2>&1); then
        fail "$name" "$prog --help failed:" "$help"
        return
    fi
    help=$( {
        printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z0-9-]*'
        printf '%s\n' "$help" | grep -oE -- '^ +-[a-zA-Z0-9],' | tr -d ' ,'
    } | sort -u)
    # .It lines in OPTIONS: "Fl o" is -o, "Fl \-output" is --output.
    doc=$(awk '/^\.Sh /{ on = ($2 == "OPTIONS") } on && /^\.It /' "$page" | sed 's/\\-/-/g' |
        grep -oE 'Fl -?[a-zA-Z0-9][a-zA-Z0-9-]*' | sed 's/^Fl /-/' | sort -u)
    local missing extra
    missing=$(comm -23 <(printf '%s\n' "$help") <(printf '%s\n' "$doc"))
    extra=$(comm -13 <(printf '%s\n' "$help") <(printf '%s\n' "$doc"))
    if [ -z "$missing$extra" ]; then
        pass "$name"
    else
        fail "$name" "in --help but not under OPTIONS: ${missing//$'\n'/ }" \
            "under OPTIONS but not in --help: ${extra//$'\n'/ }"
    fi
}

# check_lint PAGE: no mandoc warning, style included (references to pages that are not
# installed aside), or no groff warning when mandoc is missing.
check_lint() {
    local page=$1 name="man-lint ${1##*/}" out
    if command -v mandoc >/dev/null; then
        out=$(mandoc -T lint -W style "$page" 2>&1 | grep -v -e 'referenced manual not found' -e 'mandoc\.db')
    elif command -v groff >/dev/null; then
        out=$(groff -mandoc -ww -z -Tutf8 "$page" 2>&1)
    else
        skip "$name" "neither mandoc nor groff is installed"
        return
    fi
    if [ -z "$out" ]; then pass "$name"; else fail "$name" "$out"; fi
}

pages=("$ROOT"/man/*.[1-9])
if ! [ -e "${pages[0]}" ]; then
    fail man-pages "no man pages in $ROOT/man"
    exit 0
fi

for page in "${pages[@]}"; do
    base=${page##*/}
    section=${base##*.}
    prog=${base%.*}
    check_lint "$page"
    if [ "$section" = 1 ]; then
        if ! [ -x "$LLM_BIN/$prog" ]; then
            skip "man-examples $base" "$LLM_BIN/$prog is not built"
            continue
        fi
        check_options "$page" "$LLM_BIN/$prog"
    fi

    dir=$T/run-$base
    ex=$T/ex-$base
    mkdir "$dir" "$ex"
    if ! make_fixtures "$dir" >"$T/fixtures.out" 2>&1; then
        fail "man-fixtures $base" "$(cat "$T/fixtures.out")"
        continue
    fi
    extract_examples "$page" "$ex"
    found=0
    for file in "$ex"/*; do
        [ -e "$file" ] || continue
        found=1
        n=${file##*/}
        n=$((10#${n%%.*}))
        name="man-example $base:$n"
        [ "${file##*.}" = norun ] && continue
        need=$(missing_tool "$file")
        if [ -n "$need" ]; then
            skip "$name" "needs $need"
        elif grep -q '^\$ ' "$file"; then
            run_transcript "$name" "$file" "$dir"
        else
            run_script "$name" "$file" "$dir"
        fi
    done
    if [ "$found" = 0 ] && [ "$section" = 1 ]; then
        fail "man-examples $base" "no literal blocks under EXAMPLES"
    fi
    # A run that ends cleanly leaves no temporary output files behind.
    left=$(cd "$dir" && ls -A | grep '^\.' || true)
    if [ -n "$left" ]; then
        fail "man-examples $base: temporaries" "left behind: $left"
    fi
done
exit 0
