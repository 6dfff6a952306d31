# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Installed from the README: a fresh virtualenv made only from README.md's install lines, the
collection built and installed by them, modules run from a directory outside the repository.

pycriu comes from the distribution (the README's apt-get line; bindep.txt installs it here) and is
not importable in the venv: the collection has to load it itself (module_utils/dependencies.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re
import shlex
import shutil
import subprocess

import pytest

from packaging_helpers import REPO, clean_env

README_SECTION = "## Installing the collection elsewhere"
LOOKUP = os.path.join(REPO, "tests", "fixtures", "archives", "lookup-compromised.tar.gz")
BUTANE = os.path.join(REPO, "tests", "fixtures", "butane")


def readme_commands():
    """The console lines of the README's install section, in order."""
    with open(os.path.join(REPO, "README.md")) as handle:
        text = handle.read()
    section = text[text.index(README_SECTION):]
    block = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    return [line[2:].split("  #")[0].strip() for line in block.splitlines() if line.startswith("$ ")]


@pytest.fixture(scope="module")
def readme_install(clone, tmp_path_factory):
    """(venv python, collections path, home, env): every README line run in a fresh clone."""
    home = tmp_path_factory.mktemp("home")
    env = clean_env(HOME=str(home), tmp=str(home))
    commands = readme_commands()
    assert len(commands) == 5, commands
    for command in commands:
        argv = shlex.split(command.replace("~/", str(home) + "/"))
        if argv[0] == "sudo":
            # System packages: we cannot install them here, but they must be what the README names.
            assert argv[1:3] == ["apt-get", "install"]
            subprocess.check_call(["dpkg-query", "-W"] + argv[3:], stdout=subprocess.DEVNULL)
            continue
        if argv[0].endswith("ansible-galaxy") and argv[1:3] == ["collection", "install"]:
            # Galaxy is not reachable from here: kubernetes.core, the one dependency, is not needed
            # by what this test runs.
            argv = argv[:3] + ["--no-deps"] + argv[3:]
        argv = [a for pattern in argv for a in (sorted(_glob(clone, pattern)) or [pattern])]
        subprocess.run(argv, cwd=str(clone), env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    python = os.path.join(str(home), "forensic-venv", "bin", "python")
    # The venv is what the README made: no pycriu of its own.
    assert subprocess.call([python, "-c", "import pycriu"], env=env, stderr=subprocess.DEVNULL) != 0
    return python, home / ".ansible" / "collections", home, env


def _glob(tree, pattern):
    return glob.glob(os.path.join(str(tree), pattern)) if "*" in pattern else []


def adhoc(readme_install, tmp_path, module, args):
    """Run ``ansible localhost -m module -a args`` from a directory outside the repository."""
    python, _collections, _home, env = readme_install
    ansible = os.path.join(os.path.dirname(python), "ansible")
    out = subprocess.run([ansible, "localhost", "-o", "-m", module, "-a", args], cwd=str(tmp_path), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    line = [x for x in out.stdout.splitlines() if x.startswith("localhost | ")]
    assert line, out.stdout + out.stderr
    status, _sep, result = line[-1].partition(" => ")
    return status.split(" | ")[1], json.loads(result)


@pytest.fixture()
def evidence(tmp_path):
    path = shutil.copy(LOOKUP, str(tmp_path / "lookup-compromised.tar.gz"))
    os.chmod(path, 0o444)
    return path


def test_the_installed_collection_is_the_one_used(readme_install, tmp_path):
    python, collections, _home, env = readme_install
    out = subprocess.check_output([os.path.join(os.path.dirname(python), "ansible-galaxy"), "collection", "list",
                                   "forensic.checkpoint", "--format", "json"], cwd=str(tmp_path), env=env)
    assert list(json.loads(out)) == [str(collections / "ansible_collections")]


def test_butane_filter_renders_as_butane_does(readme_install, tmp_path):
    shutil.copy(os.path.join(BUTANE, "05-worker-enable-criu.bu"), str(tmp_path / "criu.bu"))
    status, result = adhoc(readme_install, tmp_path, "debug",
                           "msg={{ lookup('file', 'criu.bu', rstrip=false) | forensic.checkpoint.butane(output='yaml') }}")
    assert status == "SUCCESS"
    with open(os.path.join(BUTANE, "05-worker-enable-criu.yaml")) as handle:
        assert result["msg"] == handle.read()


def test_checkpoint_analyze_finds_the_intrusion(readme_install, tmp_path, evidence):
    status, result = adhoc(readme_install, tmp_path, "forensic.checkpoint.checkpoint_analyze", "path=%s" % evidence)
    assert status == "SUCCESS", result.get("msg")
    analysis = result["ansible_facts"]["checkpoint_analysis"]
    assert sorted(p["comm"] for p in analysis["processes"]) == ["busybox", "busybox", "python3", "sh"]
    found = {f["id"] for f in analysis["findings"]}
    assert {"net.shell-connection", "process.netcat-from-service", "process.shell-from-netcat",
            "file.deleted-log", "rootfs.temp-executable", "secret.aws-secret-key"} <= found


def test_checkpoint_memory_finds_the_secret(readme_install, tmp_path, evidence):
    # redact_secrets (on by default) would hide the key found: ask for it in clear, as a responder may
    status, result = adhoc(readme_install, tmp_path, "forensic.checkpoint.checkpoint_memory",
                           "path=%s pattern=wJalrXUtnFEMI/K7MDENG pid=1 redact_secrets=false" % evidence)
    assert status == "SUCCESS", result.get("msg")
    assert result["matches"] and all(m["pid"] == 1 and m["match"] == "wJalrXUtnFEMI/K7MDENG"
                                     for m in result["matches"])
    assert {m["source"] for m in result["matches"]} >= {"dump"}
    status, redacted = adhoc(readme_install, tmp_path, "forensic.checkpoint.checkpoint_memory",
                             "path=%s pattern=wJalrXUtnFEMI/K7MDENG pid=1" % evidence)
    assert status == "SUCCESS" and len(redacted["matches"]) == len(result["matches"])
    assert "wJalrXUtnFEMI/K7MDENG" not in json.dumps(redacted)
