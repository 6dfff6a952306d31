# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built tarball, and the installed collection as ansible-builder sees it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import json
import os
import tarfile

import yaml

from packaging_helpers import BIN, REPO, run

SHIPPED_TOP = {"MANIFEST.json", "FILES.json", "README.md", "LICENSE", "requirements.txt", "requirements.yml",
               "bindep.txt", "execution-environment.yml", "meta", "plugins", "roles", "playbooks", "docs",
               "changelogs"}
NEVER = ("*__pycache__*", "*.pyc", "*.pyo", "*.swp", "*~", "*.#*", "*.hypothesis*", "*.pytest_cache*", "*.mypy_cache*",
         "*.idea*", "*.vscode*", "*.DS_Store", "tests*", "extensions*", "scripts*", ".venv*", ".ci*", "demo-output*",
         "*.tar.gz", ".ansible*", "*simcluster*", "playbooks/demo.yml", "changelogs/fragments*", "requirements-dev.txt",
         "ansible.cfg", "Makefile", "pytest.ini")
TEST_ONLY_SYSTEM = ("bubblewrap", "gdb", "binutils", "shellcheck", "chromium", "python3-venv", "git")
TEST_ONLY_PYTHON = ("pytest", "hypothesis", "aiohttp", "trustme", "pyelftools", "molecule", "ansible-lint", "bindep",
                    "antsibull", "ansible-builder", "yara-python")


def members(tarball):
    with tarfile.open(tarball) as tar:
        return [m.name.rstrip("/") for m in tar.getmembers()]


def test_tarball_ships_what_users_need_and_nothing_else(tarball):
    names = members(tarball)
    assert {n.split("/")[0] for n in names} == SHIPPED_TOP
    shipped_junk = [n for n in names if any(fnmatch.fnmatch(n, p) for p in NEVER)]
    assert shipped_junk == []
    # Every module, filter and role of the source tree is there (the ignore list cut no content).
    for folder in ("plugins/modules", "plugins/filter", "plugins/module_utils", "roles"):
        expected = sorted(os.listdir(os.path.join(REPO, folder)))
        expected = [e for e in expected if e != "__pycache__" and not e.endswith(".pyc")]
        assert sorted({n.split("/")[len(folder.split("/"))] for n in names
                       if n.startswith(folder + "/")}) == expected, folder


def test_tarball_metadata_and_license(tarball):
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
        license_text = tar.extractfile("LICENSE").read().decode()
    with open("/usr/share/common-licenses/GPL-3" if os.path.exists("/usr/share/common-licenses/GPL-3")
              else os.path.join(REPO, "LICENSE")) as handle:
        assert license_text == handle.read()
    assert license_text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007")
    assert manifest["license"] == ["GPL-3.0-or-later"]
    assert manifest["dependencies"] == {"kubernetes.core": ">=5.0.0"}
    # One placeholder project (no public host yet), consistently.
    base = manifest["repository"]
    assert manifest["documentation"].startswith(base + "/") and manifest["issues"].startswith(base + "/")
    assert all("<" in author and author.endswith(">") for author in manifest["authors"])


def test_ansible_builder_introspect_lists_runtime_dependencies_only(installed):
    path, collection = installed
    out = run([os.path.join(BIN, "ansible-builder"), "introspect", "--sanitize", str(path)], cwd=path)
    data = yaml.safe_load(out.split("---", 1)[1])
    python = [line.split("#")[0].strip() for line in data["python"]]
    system = [line.split("#")[0].strip() for line in data["system"]]
    assert all(line.endswith("# from collection forensic.checkpoint") for line in data["python"] + data["system"])
    # PyYAML is an ansible-core dependency, which ansible-builder leaves out by design.
    assert python == ["protobuf>=3.21,<8", "zstandard>=0.21", "kubernetes>=24.2.0", "jmespath>=1.0",
                      "hyperscan>=0.9"]
    assert system == ["criu [platform:dpkg]", "python3-criu [platform:rpm]", "zstd", "tar",
                      "kubernetes-client [platform:rpm]"]
    assert not [p for p in python if p.lower().startswith(TEST_ONLY_PYTHON)]
    assert not [s for s in system if s.split()[0] in TEST_ONLY_SYSTEM]
    with open(str(collection / "meta" / "execution-environment.yml")) as handle:
        meta = yaml.safe_load(handle)
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}


def test_ansible_builder_create_on_the_installed_collection(installed, tmp_path):
    _path, collection = installed
    context = tmp_path / "context"
    run([os.path.join(BIN, "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", str(context)],
        cwd=collection)
    for name in ("requirements.txt", "bindep.txt", "requirements.yml"):
        assert (context / "_build" / name).read_text() == (collection / name).read_text(), name
    (image,) = [f for f in ("Containerfile", "Dockerfile") if (context / f).exists()]
    text = (context / image).read_text()
    assert 'ARG EE_BASE_IMAGE="registry.fedoraproject.org/fedora:40"' in text
    assert "introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in text
    assert "ansible-galaxy collection install" in text


def test_bindep_profiles():
    """Run time needs only bindep.txt; the demo adds the simulator's sandbox, the tests their tools."""
    bindep = os.path.join(BIN, "bindep")

    def listed(path, *profiles):
        out = run([bindep, "-l", "newline", "-f", path] + list(profiles), cwd=REPO)
        return set(out.split())

    runtime = listed(os.path.join(REPO, "bindep.txt"))
    assert runtime in ({"criu", "zstd", "tar"}, {"python3-criu", "zstd", "tar", "kubernetes-client"})  # dpkg, rpm
    demo = listed(os.path.join(REPO, "tests", "bindep.txt"), "demo")
    test = listed(os.path.join(REPO, "tests", "bindep.txt"), "test")
    assert "bubblewrap" in demo and not demo & {"gdb", "chromium", "shellcheck"}
    assert demo < test and {"gdb", "chromium", "shellcheck", "binutils"} <= test
