#!/usr/bin/env bash
# Set up a virtual environment, index the bundled sample corpus into the embedded store and
# run a few example searches. Models come from the Hugging Face Hub unless
# LEAFSEARCH_QUERY_MODEL / LEAFSEARCH_DOCUMENT_MODEL name local model directories.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${LEAFSEARCH_DEMO_VENV:-.venv-demo}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# torch first: the pinned CPU build keeps pip from pulling a multi-GB CUDA build.
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "torch==2.13.0"
"$venv/bin/python" -m pip install --quiet .

export LEAFSEARCH_STORE=${LEAFSEARCH_STORE:-.leafsearch/demo}
sample=$("$venv/bin/python" -c 'import leafsearch.samples as s; print(s.sample_corpus_dir())')
leafsearch="$venv/bin/leafsearch"

"$leafsearch" index "$sample" --collection stdlib --filter-field module --filter-field kind
for query in "parse command line arguments" "compute the median of a list of numbers" "copy a directory tree recursively"; do
    echo
    echo "search: $query"
    "$leafsearch" search "$query" --collection stdlib -k 5
done
echo
echo "search: open a file compressed with gzip (only functions)"
"$leafsearch" search "open a file compressed with gzip" --collection stdlib -k 5 --filter '{"kind": "function"}'

echo
echo "smoke evaluation on the bundled query set (40 queries)"
"$leafsearch" eval "$sample" --collection stdlib --modes full,rescore --quiet
