# Sourced by the benchmark scripts: timing one process, keeping the best of the repeats, and
# the arithmetic of their tables. The caller sets $work (a scratch folder) and defines die.

# timed OUT CMD...: runs CMD (its stdin is timed's) with stdout to OUT and stderr to
# $work/err, and sets WALL (seconds, wall clock around the process), CPU (user + sys
# seconds) and RSS (peak KiB). OUT is a fresh file for every run: truncating the previous
# run's output would add its page-cache work to this run's time.
timed() {
    local out=$1 t0 t1 u s
    shift
    [ "$out" = /dev/null ] || rm -f "$out"
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M %U %S' -o "$work/time" "$@" >"$out" 2>"$work/err" ||
        { cat "$work/err" >&2; die "failed: $*"; }
    t1=$(date +%s.%N)
    read -r RSS u s <"$work/time"
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    CPU=$(awk -v a="$u" -v b="$s" 'BEGIN { printf "%.2f", a + b }')
}

# best NAME: keeps the fastest run's wall and CPU time, and the largest RSS of all runs.
declare -A best_wall best_cpu max_rss
best() {
    local k=$1
    if [ -z "${best_wall[$k]:-}" ] || awk -v a="$WALL" -v b="${best_wall[$k]}" 'BEGIN { exit !(a < b) }'; then
        best_wall[$k]=$WALL
        best_cpu[$k]=$CPU
    fi
    if [ -z "${max_rss[$k]:-}" ] || [ "$RSS" -gt "${max_rss[$k]}" ]; then
        max_rss[$k]=$RSS
    fi
}

# kv KEY FILE: the value of KEY=... in the key=value line a helper program printed.
kv() { tr ' ' '\n' <"$2" | sed -n "s/^$1=//p" | head -n 1; }

mbs() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", b / 1e6 / t }'; }
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { printf "%.*f", d, a / b }'; }
atleast() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? "yes" : "no" }'; }
minof() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
