#!/usr/bin/env bash
# The test suites behind `make test`: ansible-test sanity, pytest (unit and integration),
# and ansible-test integration targets. Usage: scripts/test.sh all|sanity|units|integration
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.venv
what=${1:-all}

# ansible-test needs the collection at ansible_collections/<namespace>/<name>: test a copy of the
# files git tracks or would track (so uncommitted work is tested too).
stage() {
  local dest=$root/.build/ansible_collections/forensic/checkpoint
  rm -rf "$dest" && mkdir -p "$dest"
  git ls-files -z -co --exclude-standard \
    | while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
    | xargs -0 tar -cf - --no-recursion | tar -xf - -C "$dest"
  # ansible-test resolves doc fragments (kubernetes.core.k8s_auth_options) from sibling collections.
  rm -rf "$root/.build/ansible_collections/kubernetes"
  mkdir -p "$root/.build/ansible_collections/kubernetes"
  cp -r "$("$venv/bin/python" -c 'import ansible_collections.kubernetes.core as c; print(list(c.__path__)[0])')" \
    "$root/.build/ansible_collections/kubernetes/core"
  # .build is ignored by the outer repo, so ansible-test would see no files: give the copy its own.
  (cd "$dest" && git init -q && git add -A) >&2
  echo "$dest"
}

run_sanity() {
  local dest; dest=$(stage)
  echo "==> ansible-test sanity"
  (cd "$dest" && "$venv/bin/ansible-test" sanity --local --python 3.11 --color no)
  echo "==> generated docs match the code"
  scripts/docs.sh --check
}

run_pytest() {
  echo "==> pytest $*"
  "$venv/bin/pytest" "$@"
}

run_integration_targets() {
  local dest; dest=$(stage)
  echo "==> ansible-test integration"
  (cd "$dest" && "$venv/bin/ansible-test" integration --local --python 3.11 --color no)
}

case $what in
  sanity) run_sanity ;;
  units) run_pytest tests/unit tools/simcluster/tests ;;
  integration) run_pytest tests/integration; run_integration_targets ;;
  all)
    run_sanity
    run_pytest tests/unit tools/simcluster/tests tests/integration
    run_integration_targets
    echo "==> all test suites passed"
    ;;
  *) echo "usage: $0 all|sanity|units|integration" >&2; exit 2 ;;
esac
