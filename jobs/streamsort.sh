#!/bin/sh
# GridMix2 streamSort: Hadoop Streaming with `-mapper cat -reducer cat` over text
# (VARINFLTEXT: `dirft gridmix generate --dataset text`). Not an MRJob: the framework's sort
# by key does all the work, so the output is the input's lines sorted by key bytes. Hadoop
# sorts by key only: values of equal keys come in its merge's order, which depends on the
# splits, so its output equals `LC_ALL=C sort` only up to the order of equal-key lines.
#
# usage: jobs/streamsort.sh [dirft|hadoop|plain] INPUT OUTPUT [more options]
#   dirft   (default) dirft streaming -input INPUT -output OUTPUT -mapper cat -reducer cat ...
#   hadoop  hadoop jar "$HADOOP_STREAMING_JAR" -input ... -mapper cat -reducer cat ...
#   plain   no framework: cat INPUT | LC_ALL=C sort -t TAB -k1,1 > OUTPUT/part-00000, the
#           same bytes as one reduce of dirft's local runner (both order equal keys by the
#           whole line, as GNU sort does); the same lines and key order as Hadoop's
# `dirft gridmix run` runs the same job (mapper cat, reducer cat) through its runner.
set -eu
mode=dirft
case "${1:-}" in dirft|hadoop|plain) mode=$1; shift ;; esac
[ $# -ge 2 ] || { echo "usage: $0 [dirft|hadoop|plain] INPUT OUTPUT [options]" >&2; exit 2; }
input=$1 output=$2
shift 2
case $mode in
  dirft)  exec "${DIRFT:-dirft}" streaming -input "$input" -output "$output" \
              -mapper cat -reducer cat "$@" ;;
  hadoop) exec hadoop jar "${HADOOP_STREAMING_JAR:?set HADOOP_STREAMING_JAR}" \
              -input "$input" -output "$output" -mapper cat -reducer cat "$@" ;;
  plain)  mkdir "$output"
          tab=$(printf '\t')
          cat "$input" | LC_ALL=C sort -t "$tab" -k1,1 > "$output/part-00000"
          : > "$output/_SUCCESS" ;;
esac
