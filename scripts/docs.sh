#!/usr/bin/env bash
# Generate docs/ from the plugins' own DOCUMENTATION with antsibull-docs (`make docs`).
# With --check, fail if the committed docs/ differ from what the code documents.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/plugins"
antsibull-docs collection --use-current --squash-hierarchy --output-format simplified-rst \
  --fail-on-error --dest-dir "$out/plugins" forensic.checkpoint >/dev/null
if [ "${1:-}" = --check ]; then
  if ! diff -ru docs/plugins "$out/plugins"; then
    echo "docs/plugins is out of date: run 'make docs' and commit the result" >&2
    exit 1
  fi
  echo "docs/plugins is up to date"
else
  rm -rf docs/plugins && cp -r "$out/plugins" docs/plugins
  echo "docs/plugins regenerated"
fi
