#!/usr/bin/env bash
# Set up with the test tools and run the whole test suite: lint, then pytest. The storage tests
# also run against PostgreSQL at 127.0.0.1:5432 (database "test"); set VIDSEARCH_TEST_POSTGRES_URL
# to use another server. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --dev

# The web page's tests drive Debian's chromium through Playwright (no browser download).
if [[ ! -x /usr/bin/chromium ]]; then
  echo "==> installing chromium for the browser tests"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

# docker-compose.yml is validated by Compose itself (no engine needed).
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  echo "==> installing docker-compose to validate docker-compose.yml"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq docker-compose >/dev/null
fi

# PostgreSQL is expected to be running; start the local cluster if it is installed but stopped.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi

export HF_HUB_OFFLINE=1  # the tests never reach a model hub
.venv/bin/ruff check vidsearch tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"

# Apollo's published model code loads only on transformers 4.43-4.44, so its adapter is also tested in
# Apollo's own environment (the one `scripts/setup.sh --apollo` makes for users), against a tiny
# random-weight model behind real remote code.
scripts/setup.sh --apollo --dev
.venv-apollo/bin/python -m pytest tests/apollo_env tests/models/test_apollo.py

# The processors of Qwen2.5-VL, SmolVLM2 and LLaVA-OneVision need torchvision, which the default install
# must not depend on: the hf-video adapter runs on tiny random-weight models of those classes in a
# test-only environment with a torch/torchvision pair (about 5.5 GB).
scripts/setup.sh --torchvision --dev
.venv-torchvision/bin/python -m pytest tests/torchvision_env
