#!/usr/bin/env bash
# Set up, index a folder of videos (or, with none given, a demo library made from packaged sample
# media), show a few searches, then serve the web page and API. Everything runs offline on the CPU, on the
# embedded default: SQLite and FAISS files, models that ship in PyPI packages.
#   scripts/quickstart.sh [FOLDER ...] [--data DIR] [--no-serve]
# The demo and your own videos get data folders of their own, so a search of one never finds the other:
#   the demo library:  ./vidsearch-data/demo (its videos in ./vidsearch-data/demo/videos)
#   your folders:      ./vidsearch-data/library, or $VIDSEARCH_DATA_DIR when it is set
# --data DIR puts either one in DIR instead.
set -euo pipefail

usage() { sed -n '2,9s/^# \{0,1\}//p' "$0"; }
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

serve=1
data=""
folders=()
while (($#)); do
  case "$1" in
    --no-serve) serve=0 ;;
    --data) [[ $# -ge 2 ]] || { echo "error: --data needs a folder" >&2; exit 2; }; data="$(realpath -m "$2")"; shift ;;
    --data=*) data="$(realpath -m "${1#--data=}")" ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
      [[ -e "$1" ]] || { echo "error: no such file or folder: $1" >&2; exit 2; }
      folders+=("$(realpath "$1")")
      ;;
  esac
  shift
done
# Paths given are taken from where the script was started; the rest from the repository's root.
library_data="${VIDSEARCH_DATA_DIR:+$(realpath -m "$VIDSEARCH_DATA_DIR")}"
cd "$(dirname "$0")/.."

scripts/setup.sh
vidsearch="$PWD/.venv/bin/vidsearch"  # absolute: the hints below work from any folder

demo=0
if ((${#folders[@]} == 0)); then
  demo=1
  # The demo never goes into a library of your own, even one named by VIDSEARCH_DATA_DIR.
  data="${data:-$PWD/vidsearch-data/demo}"
  folders=("$data/videos")
  say "making the demo library in ${folders[0]}"
  "$vidsearch" demo "${folders[0]}"
else
  data="${data:-${library_data:-$PWD/vidsearch-data/library}}"
  if [[ -z "$library_data" && -f "$PWD/vidsearch-data/vidsearch.db" ]]; then
    echo "note: $PWD/vidsearch-data/vidsearch.db is from an earlier quick start that kept the demo and your" \
      "videos together; delete it when you no longer need it (now: vidsearch-data/demo, vidsearch-data/library)"
  fi
fi
export VIDSEARCH_DATA_DIR="$data"

say "indexing ${folders[*]} into $data"
"$vidsearch" index "${folders[@]}"

if ((demo)); then
  # The demo's searches are worded unlike what the videos say: found by meaning, not by the words.
  queries=("how much will the city spend on public transport" "harbor bridge closed" "grandma's apple pie recipe")
else
  # Phrases from what your videos say (the database only, no model: quick).
  mapfile -t queries < <("$vidsearch" suggest --count 3)
fi

if ((${#queries[@]})); then
  say "a few searches"
  for query in "${queries[@]}"; do
    "$vidsearch" search "$query" -k 3
  done
else
  echo "(no speech, on-screen text or subtitles were found in these videos to suggest a search from)"
fi

cat <<MSG

Search this library:   $vidsearch search "what you are looking for" --data "$data"   (--json for JSON)
More searches to try:  $vidsearch suggest --data "$data"
Ask it a question:     $vidsearch ask "your question" --data "$data"
Or once for the shell: export VIDSEARCH_DATA_DIR="$data"
MSG

if ((serve)); then
  example="q=launch+pad"
  ((demo)) || example="q=..."
  echo "Open http://127.0.0.1:8000/ to search and watch; API docs at /docs; JSON: /search?$example   (Ctrl-C stops)"
  exec "$vidsearch" serve
fi
