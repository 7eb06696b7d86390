#!/usr/bin/env bash
# Set up a virtual environment with the dev extra and run the whole test suite offline.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${LEAFSEARCH_TEST_VENV:-.venv-test}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# torch first: the pinned CPU build keeps pip from pulling a multi-GB CUDA build.
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "torch==2.13.0"
"$venv/bin/python" -m pip install --quiet -e ".[dev]"

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$venv/bin/python" -m mypy
"$venv/bin/python" -m pytest -q "$@"
