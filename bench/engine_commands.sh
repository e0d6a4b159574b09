#!/bin/bash
# Whole-command figures for issue 25, this tree (ONNX twins) against another tree (e.g. a
# `git archive` of the commit before, which answers with torch), alternating, with the load:
#   bench/engine_commands.sh OTHER_TREE PNG_DIR [PYTHON]
# PNG_DIR: 2,000 Fashion-MNIST test images as 28×28 PNGs. Run once first so the twins exist.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
OTHER=$1; PNGS=$2; PY=${3:-$HERE/.venv/bin/python}
PHOTO=$HERE/resources/samples/photo_1_Trouser.jpg
load() { cut -d' ' -f1-3 /proc/loadavg; }
for i in 1 2 3 4 5; do
  for tree in "$HERE" "$OTHER"; do
    s=$(date +%s.%N); (cd "$tree" && "$PY" -m fmnist_desktop.cli predict "$PHOTO" >/dev/null 2>&1); e=$(date +%s.%N)
    echo "one photo  $tree $(echo "$e - $s" | bc) s  load $(load)"
  done
done
for i in 1 2; do
  for tree in "$HERE" "$OTHER"; do
    s=$(date +%s.%N); n=$(cd "$tree" && "$PY" -m fmnist_desktop.cli predict --jsonl "$PNGS" 2>/dev/null | wc -l); e=$(date +%s.%N)
    echo "$n PNGs $tree $(echo "$e - $s" | bc) s  load $(load)"
  done
done
