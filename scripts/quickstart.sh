#!/usr/bin/env bash
# Set up, index a folder of videos (or, with none given, a demo library made from packaged sample
# media), show a few searches, then serve the web page and API. Everything runs offline on the CPU, on the
# embedded default: SQLite and FAISS files in ./vidsearch-data, models that ship in PyPI packages.
#   scripts/quickstart.sh [FOLDER ...] [--no-serve]
set -euo pipefail
cd "$(dirname "$0")/.."

serve=1
folders=()
for arg in "$@"; do
  case "$arg" in
    --no-serve) serve=0 ;;
    *) folders+=("$(realpath "$arg")") ;;
  esac
done

scripts/setup.sh
export VIDSEARCH_DATA_DIR="${VIDSEARCH_DATA_DIR:-$PWD/vidsearch-data}"
vidsearch=.venv/bin/vidsearch

if ((${#folders[@]} == 0)); then
  folders=("$VIDSEARCH_DATA_DIR/demo-library")
  printf '\033[1m==> making the demo library in %s\033[0m\n' "${folders[0]}"
  "$vidsearch" demo "${folders[0]}"
  queries=("how much will the city spend on public transport" "harbor bridge closed" "grandma's apple pie recipe")
else
  queries=()
fi

printf '\033[1m==> indexing %s\033[0m\n' "${folders[*]}"
"$vidsearch" index "${folders[@]}"

for query in "${queries[@]}"; do
  "$vidsearch" search "$query" -k 3
done
cat <<MSG

Search this library:  $vidsearch search "what you are looking for" --data "$VIDSEARCH_DATA_DIR"   (--json for JSON)
Ask it a question:    $vidsearch ask "your question" --data "$VIDSEARCH_DATA_DIR"
Or once for the shell: export VIDSEARCH_DATA_DIR="$VIDSEARCH_DATA_DIR"
MSG

if ((serve)); then
  echo "Open http://127.0.0.1:8000/ to search and watch; API docs at /docs; JSON: /search?q=launch+pad   (Ctrl-C stops)"
  exec "$vidsearch" serve
fi
