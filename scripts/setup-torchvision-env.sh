#!/usr/bin/env bash
# A second, test-only virtual environment in .venv-torchvision with torch 2.14.1 + torchvision 0.29.1
# (a CUDA build that also runs on the CPU, ~5.5 GB): the processors of Qwen2.5-VL, SmolVLM2 and
# LLaVA-OneVision need torchvision, which the default install (.venv, a CPU torch 2.13.0) must not
# depend on. tests/torchvision_env runs in it:
#   scripts/setup-torchvision-env.sh
#   HF_HUB_OFFLINE=1 .venv-torchvision/bin/python -m pytest tests/torchvision_env
# Safe to run again: every step checks whether it is already done. .venv is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-torchvision
# On our machines pip on Python 3.11 takes this pair from local files; elsewhere it downloads them.
torch_pin="torch==2.14.1"
torchvision_pin="torchvision==0.29.1"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

python=""
for candidate in python3.11 python3.12 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python=$candidate
    break
  fi
done
[[ -n "$python" ]] || { echo "error: vidsearch needs Python 3.11 or newer" >&2; exit 1; }
if [[ ! -x "$venv/bin/python" ]]; then
  say "creating $venv with $($python --version)"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)

versions() {
  "$venv/bin/python" -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__)' 2>/dev/null
}
wanted="${torch_pin#torch==} ${torchvision_pin#torchvision==}"

# 1. torch and torchvision first, as a pair: a torchvision built for another torch fails to import.
if [[ "$(versions | sed 's/+[^ ]*//g')" != "$wanted" ]]; then
  say "installing $torch_pin $torchvision_pin (several GB)"
  "${pip[@]}" install "$torch_pin" "$torchvision_pin"
fi

# 2. vidsearch with the test tools, held to that pair so no dependency swaps the torch build.
stamp="$venv/.vidsearch-installed[dev]"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
  say "installing vidsearch[dev] into $venv"
  pins=$(mktemp)
  trap 'rm -f "$pins"' EXIT
  printf '%s\n%s\n' "$torch_pin" "$torchvision_pin" >"$pins"
  "${pip[@]}" install -c "$pins" -e ".[dev]"
  touch "$stamp"
fi

found=$(versions | sed 's/+[^ ]*//g')
if [[ "$found" != "$wanted" ]]; then
  echo "error: $venv has torch/torchvision '$found', expected '$wanted'" >&2
  exit 1
fi
say "ready: $venv (torch/torchvision $found)"
