#!/usr/bin/env bash
# Generate docs/plugins from the plugins' own DOCUMENTATION with antsibull-docs, and
# docs/findings.md (the findings catalogue) from the built-in rules (`make docs`).
# With --check, fail if the committed files differ from what the code documents.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/plugins"
antsibull-docs collection --use-current --squash-hierarchy --output-format simplified-rst \
  --fail-on-error --dest-dir "$out/plugins" forensic.checkpoint >/dev/null
PYTHONPATH=$PWD/.collections python scripts/findings_catalogue.py "$out/findings.md"
if [ "${1:-}" = --check ]; then
  if ! diff -ru docs/plugins "$out/plugins" || ! diff -u docs/findings.md "$out/findings.md"; then
    echo "docs/plugins or docs/findings.md is out of date: run 'make docs' and commit the result" >&2
    exit 1
  fi
  echo "docs/plugins and docs/findings.md are up to date"
else
  rm -rf docs/plugins && cp -r "$out/plugins" docs/plugins
  cp "$out/findings.md" docs/findings.md
  echo "docs/plugins and docs/findings.md regenerated"
fi
