#!/usr/bin/env bash
# The test suites behind `make test`: ansible-lint, ansible-test sanity, pytest (unit and
# integration), packaging (the built and installed collection), ansible-test integration targets,
# and sanity and unit tests on the older ansible-core releases meta/runtime.yml claims (these two
# in the background meanwhile: see run_all).
# Usage: scripts/test.sh all|sanity|units|integration|packaging|lint|versions [2.16 ...]|versions-sanity [2.16 ...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.venv
what=${1:-all}

# Each step's heading carries the time since the start, so a CI log shows where the minutes go.
say() {
  printf '==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"
}

# kubernetes.core (and ansible.posix, whose json callback tests ask for) come from the ansible
# package in .venv (Galaxy is not reachable); the venvs of older ansible-core releases
# (run_versions) use the same copies.
collection_dir() {
  "$root/.venv/bin/python" -c "import ansible_collections.$1 as c; print(list(c.__path__)[0])"
}
kubernetes_core() {
  collection_dir kubernetes.core
}

# ansible-test needs the collection at ansible_collections/<namespace>/<name>: test a copy of the
# files git tracks or would track (so uncommitted work is tested too), under BUILD (default .build;
# each older release has its own, so that their runs can overlap).
stage() {
  local build=${1:-$root/.build}
  local dest=$build/ansible_collections/forensic/checkpoint
  rm -rf "$dest" && mkdir -p "$dest"
  git ls-files -z -co --exclude-standard \
    | while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
    | xargs -0 tar -cf - --no-recursion | tar -xf - -C "$dest"
  # ansible-test resolves doc fragments (kubernetes.core.k8s_auth_options) from sibling collections.
  rm -rf "$build/ansible_collections/kubernetes"
  mkdir -p "$build/ansible_collections/kubernetes"
  cp -r "$(kubernetes_core)" "$build/ansible_collections/kubernetes/core"
  # .build is ignored by the outer repo, so ansible-test would see no files: give the copy its own.
  (cd "$dest" && git init -q && git add -A) >&2
  echo "$dest"
}

ansible_test_sanity() {
  local dest; dest=$(stage "${1:-}")
  say "ansible-test sanity (ansible-core $("$venv/bin/python" -c 'import ansible; print(ansible.__version__)'))"
  (cd "$dest" && "$venv/bin/ansible-test" sanity --local --python 3.11 --color no)
}

run_sanity() {
  ansible_test_sanity
  say "generated docs match the code"
  scripts/docs.sh --check
}

# Changelog fragments and ansible-lint (production profile, as Automation Hub certification applies
# it) in every run; any finding fails the run.
run_changelog_lint() {
  say "antsibull-changelog lint"
  "$venv/bin/antsibull-changelog" lint
}

run_ansible_lint() {
  say "ansible-lint --profile production (.ansible-lint)"
  PATH="$venv/bin:$PATH" "$venv/bin/ansible-lint" --nocolor -q
}

# pytest on every core (pytest-xdist): an integration test is one ansible-playbook or module
# process at a time, bound by one core. A file's tests stay on one worker (--dist loadfile), so a
# module-scoped fixture (a whole incident run) runs once; each worker starts its own simulator.
run_pytest() {
  say "pytest $*"
  "$venv/bin/pytest" -n "${PYTEST_WORKERS:-auto}" --dist loadfile "$@"
}

# tests/integration's test files, the longest first (measured: minutes each; the rest in name
# order), so that the workers finish together instead of one running a long file alone at the end.
# Files are named, not folders: pytest would fold a subfolder named before its parent back into the
# parent's order.
SLOWEST_FIRST=(roles/test_forensic_checkpoint.py roles/test_least_privilege.py roles/test_molecule.py
  roles/test_incident_run.py roles/test_checkpoint_analyser.py roles/test_enable_checkpointing.py
  roles/test_analyser_image.py roles/test_topologies.py cluster/test_container_checkpoint_module.py
  roles/test_enable_checkpointing_kubernetes.py cluster/test_machine_config_pool_module.py)
integration_paths() {
  local file
  for file in "${SLOWEST_FIRST[@]}"; do echo "tests/integration/$file"; done
  find tests/integration -name 'test_*.py' ! -path '*/targets/*' | sort | while read -r file; do
    [[ " ${SLOWEST_FIRST[*]} " == *" ${file#tests/integration/} "* ]] || echo "$file"
  done
}

# ansible-test's targets run on the fixture archives, locally (no cluster): BUILD as for stage.
run_integration_targets() {
  local dest; dest=$(stage "${1:-}")
  say "ansible-test integration"
  (cd "$dest" && "$venv/bin/ansible-test" integration --local --python 3.11 --color no)
}

# Sanity and unit tests on the older ansible-core releases meta/runtime.yml claims (.venv has the
# newest), each in its own venv, kept while requirements.txt, requirements-dev.txt and the release
# are unchanged: ansible-core, requirements.txt and the unit tests' pins from requirements-dev.txt.
# kubernetes.core joins through PYTHONPATH, as ansible-test adds it.
# Usage: run_versions "sanity units" [VERSION...]. Measured per release under load (2 shared
# cores): venv 1.5 minutes (first run only), sanity 2.8 (pylint 2.2 of it), units 7.5.
OLDER_CORES=(2.16 2.17 2.18)
# On the older releases, the unit tests whose outcome ansible-core can change: modules, filters,
# the cluster client and runners, and the hostile suites that judge what leaves a module (warnings,
# -vvv output, no_log). The engines' own tests (analysis, criu, memory, coredump, findings, report,
# butane) run once, on the newest release: that code never imports ansible (test_layout.py checks),
# so another ansible-core cannot change their outcome. The memory-bound tests (hostile/test_bounds*)
# also run on the newest only: at a minute or more of CPU each, four releases of them did not fit
# CI's time beside the integration suites (measured: 2.16's unit run took 11.8 minutes with them).
OLDER_UNIT_TESTS=(tests/unit/plugins/modules tests/unit/plugins/filter tests/unit/plugins/module_utils/cluster
  tests/unit/plugins/module_utils/rollout tests/unit/plugins/module_utils/targets tests/unit/plugins/module_utils/custody
  tests/unit/plugins/module_utils/hostile --ignore-glob=*/hostile/test_bounds*
  tests/unit/plugins/module_utils/test_dependencies.py tests/unit/plugins/module_utils/test_output.py
  tests/unit/plugins/module_utils/test_layout.py)
run_versions() {
  local suites=$1; shift
  local base=$root/.venv-versions main=$venv version
  mkdir -p "$base/collections/ansible_collections/kubernetes" "$base/collections/ansible_collections/ansible"
  ln -sfn "$(kubernetes_core)" "$base/collections/ansible_collections/kubernetes/core"
  ln -sfn "$(collection_dir ansible.posix)" "$base/collections/ansible_collections/ansible/posix"
  for version in "${@:-${OLDER_CORES[@]}}"; do
    venv=$base/$version
    local want stamp=$base/$version/.requirements.sha256
    want=$(cat requirements.txt requirements-dev.txt <(echo "$version") | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
      say "ansible-core $version: making $venv"
      rm -rf "$venv" && "${PYTHON:-python3}" -m venv "$venv"
      local pins; mapfile -t pins < <(grep -E '^(pytest|hypothesis|pyelftools|yara-python|protobuf|jsonschema)==' requirements-dev.txt)
      "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$version.*" -r requirements.txt "${pins[@]}"
      # pycriu as in .venv (scripts/setup.sh): the distribution's package alone, for the tests that
      # import it themselves.
      echo "$main/distro-packages" > "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/forensic-checkpoint-distro.pth"
      echo "$want" > "$stamp"
    fi
    if [[ $suites == *sanity* ]]; then
      scripts/ansible_test_get_pip.sh "$venv"
      ansible_test_sanity "$root/.build/versions/$version"
    fi
    if [[ $suites == *units* ]]; then
      say "pytest: the unit tests that go through Ansible (ansible-core $version)"
      PYTHONPATH=$base/collections "$venv/bin/pytest" -q -p no:cacheprovider "${OLDER_UNIT_TESTS[@]}"
    fi
  done
  venv=$main
}

kill_tree() {
  local child
  for child in $(pgrep -P "$1" || true); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}

# Everything. In the background from the start, logged to tests/output/background.log and shown at
# the end: the older releases' sanity and unit tests, then ansible-test's integration targets (in
# their own staging copy). Lint and sanity in the foreground keep about one core busy, so the
# background takes the other, and the main pytest run (on every core; its integration tests are
# CPU-bound: each task of a playbook is a process importing the kubernetes client) shares the
# machine with less of it. Measured (2 cores, fresh clone): the main pytest run took ~50 minutes
# serially, 32.7 on two workers; CI's whole `make test` 39.4 minutes when the background started
# after sanity and the targets ran last, in the foreground.
run_background() {
  run_versions "sanity units"
  run_integration_targets "$root/.build/targets"
}

run_all() {
  local log=$root/tests/output/background.log status=0
  mkdir -p "$(dirname "$log")"
  say "in the background (see $log): sanity and unit tests on ansible-core ${OLDER_CORES[*]}, then ansible-test integration"
  run_background > "$log" 2>&1 &
  background_pid=$!
  trap 'kill_tree "$background_pid"' EXIT  # a failure in the foreground leaves nothing running
  run_changelog_lint
  run_ansible_lint
  run_sanity
  local integration; mapfile -t integration < <(integration_paths)
  run_pytest --durations=30 "${integration[@]}" tests/unit tools/simcluster/tests tests/packaging
  say "waiting for the background"
  wait "$background_pid" || status=$?
  trap - EXIT
  grep -v "^WARNING: Location" "$log"
  if [ "$status" != 0 ]; then
    say "the background failed (exit $status): $log" >&2
    return "$status"
  fi
  say "all test suites passed"
}

case $what in
  sanity) run_sanity ;;
  units) run_pytest tests/unit tools/simcluster/tests ;;
  integration) mapfile -t paths < <(integration_paths); run_pytest "${paths[@]}"; run_integration_targets ;;
  packaging) run_pytest tests/packaging ;;
  lint) run_changelog_lint; run_ansible_lint ;;
  versions) shift; run_versions "sanity units" "$@" ;;
  versions-sanity) shift; run_versions sanity "$@" ;;
  all) run_all ;;
  *) echo "usage: $0 all|sanity|units|integration|packaging|lint|versions [2.16 ...]|versions-sanity [2.16 ...]" >&2; exit 2 ;;
esac
