#!/usr/bin/env bash
# Set up vidsearch on this machine: system packages (ffmpeg, espeak-ng, fonts), a virtual
# environment, torch first (a CPU build unless told otherwise), then vidsearch itself.
# Safe to run again: every step checks whether it is already done.
#   scripts/setup.sh                 the application, in .venv
#   scripts/setup.sh --dev           the application and the test tools
#   scripts/setup.sh --apollo        Apollo's own environment, .venv-apollo: Apollo's published model
#                                    code loads only on transformers 4.43-4.44 (the main one has 5.x)
#   scripts/setup.sh --apollo --dev  the same with the test tools (the test command makes it)
#   scripts/setup.sh --torchvision --dev   a test-only environment, .venv-torchvision, with torch 2.14.1 +
#                                    torchvision 0.29.1 (~5.5 GB, a CUDA build that runs on the CPU) for the
#                                    torchvision processors of Qwen2.5-VL, SmolVLM2, LLaVA-OneVision
set -euo pipefail
cd "$(dirname "$0")/.."

venv=".venv"
dev=false
apollo=false
torchvision=false
for arg in "$@"; do
  case "$arg" in
    --dev) dev=true ;;
    --apollo) apollo=true ;;
    --torchvision) torchvision=true ;;
    *) echo "usage: scripts/setup.sh [--dev] [--apollo | --torchvision]" >&2; exit 2 ;;
  esac
done
extras=""
$dev && extras="[dev]"
if $apollo; then
  venv=".venv-apollo"
  extras="[apollo]"  # its tests need only pytest besides (below), not the whole dev toolset
fi
# The torch requirement installed before anything that depends on torch. 2.13.0 resolves to a local
# CPU build on our machines; elsewhere set VIDSEARCH_TORCH_SPEC, e.g. to a CUDA or CPU build of your choice.
torch_spec="${VIDSEARCH_TORCH_SPEC:-torch==2.13.0}"
if $torchvision; then
  venv=".venv-torchvision"
  # On our machines pip on Python 3.11 takes this pair from local files; elsewhere it downloads them.
  torch_spec="torch==2.14.1 torchvision==0.29.1"
fi

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# 1. System packages: ffmpeg and espeak-ng make the demo and test videos; DejaVu draws their titles.
missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ]] || missing+=(fonts-dejavu-core)
if ((${#missing[@]})); then
  say "installing system packages: ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  if ! command -v apt-get >/dev/null; then
    echo "error: please install ${missing[*]} with your system's package manager" >&2
    exit 1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Python >= 3.11 and the virtual environment.
python=""
for candidate in python3.11 python3.12 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python=$candidate
    break
  fi
done
[[ -n "$python" ]] || { echo "error: vidsearch needs Python 3.11 or newer" >&2; exit 1; }
if [[ ! -x $venv/bin/python ]]; then
  say "creating $venv with $($python --version)"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)

# 3. torch first: a looser requirement pulled in by a dependency would fetch a multi-GB CUDA build.
# torchvision comes as a pair with its torch: one built for another torch fails to import.
probe_torch='import torch'
$torchvision && probe_torch='import torch, torchvision'
if ! "$venv/bin/python" -c "$probe_torch" 2>/dev/null; then
  say "installing $torch_spec"
  # shellcheck disable=SC2086  # the spec may carry pip options on purpose
  "${pip[@]}" install $torch_spec
fi

# 4. vidsearch, re-installed only when pyproject.toml changed.
stamp="$venv/.vidsearch-installed${extras}$($dev && echo -dev || true)"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
  say "installing vidsearch${extras} into $venv"
  pins=$(mktemp)
  trap 'rm -f "$pins"' EXIT
  # Held to the torch build installed above, so no dependency swaps it.
  "$venv/bin/python" -c 'import importlib.metadata as m
for name in ("torch", "torchvision"):
    try:
        print(f"{name}=={m.version(name)}")
    except m.PackageNotFoundError:
        pass' >"$pins"
  "${pip[@]}" install -c "$pins" -e ".${extras}"
  if $apollo && $dev; then "${pip[@]}" install "pytest>=8"; fi
  touch "$stamp"
fi
say "ready: $venv/bin/vidsearch"
