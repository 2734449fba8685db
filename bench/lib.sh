# Timing helpers the bench scripts share (sourced, not run). Each needs $OUT, a scratch folder.

# Runs a command once, its output kept in $OUT/<name>.log; appends "wall_seconds peak_rss_mb" to
# $OUT/<name>.runs and says it on stderr. A failed command stops the bench, showing its output.
measure_once() {
  local name=$1; shift
  /usr/bin/time -o "$OUT/time" -f "%e %M" "$@" >"$OUT/$name.log" 2>&1 ||
    { cat "$OUT/$name.log" >&2; echo "failed: $*" >&2; exit 1; }
  local out
  out=$(tail -1 "$OUT/time")
  echo "${out% *} $((${out#* } / 1024))" >>"$OUT/$name.runs"
  echo "  $name: ${out% *} s, $((${out#* } / 1024)) MB" >&2
}

# Prints "median_wall_seconds max_peak_rss_mb" of a case's runs.
summarize() {
  sort -n "$OUT/$1.runs" | awk '{w[NR]=$1; if ($2 > r) r=$2} END {print w[int((NR+1)/2)], r}'
}
