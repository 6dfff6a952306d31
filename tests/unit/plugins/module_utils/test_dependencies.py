# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dependencies: each case in a fresh interpreter (virtualenvs made here), as users meet it.

The distribution's pycriu is the one the criu package installed (bindep.txt); the fresh venvs see
only what each test puts in them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils import dependencies

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
COLLECTIONS = os.path.join(REPO, ".collections")
LOOKUP = os.path.join(REPO, "tests", "fixtures", "archives", "lookup-compromised.tar.gz")
DISTRO_PYCRIU = dependencies.distribution_pycriu()
needs_distro_pycriu = pytest.mark.skipif(DISTRO_PYCRIU is None, reason="the distribution's criu package is not installed")

# Runs in the fresh interpreter: the collection on sys.path, then the call; prints JSON.
CHILD = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {collections!r})
    from ansible_collections.forensic.checkpoint.plugins.module_utils import dependencies
    from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
    out = {{"executable": sys.executable}}
    try:
        out["result"] = {call}
    except CheckpointError as err:
        out["error"] = str(err)
    print(json.dumps(out))
""")


def venv(path, site_dirs=(), pip=False):
    """A fresh venv whose only extra import path is ``site_dirs`` (a .pth, as pip would add)."""
    args = [sys.executable, "-m", "venv", str(path)] + ([] if pip else ["--without-pip"])
    subprocess.check_call(args)
    python = os.path.join(str(path), "bin", "python")
    purelib = subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                      universal_newlines=True).strip()
    with open(os.path.join(purelib, "extra.pth"), "w") as handle:
        handle.write("".join(d + "\n" for d in site_dirs))
    return python


def run(python, call):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("PYTHON"))
    out = subprocess.check_output([python, "-c", CHILD.format(collections=COLLECTIONS, call=call)], env=env,
                                  universal_newlines=True, cwd="/")
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def with_protobuf(tmp_path_factory):
    """A venv with this test run's protobuf (and zstandard...) but no pycriu, like a user's venv."""
    return venv(tmp_path_factory.mktemp("venv") / "with-protobuf", [sysconfig.get_paths()["purelib"]])


@needs_distro_pycriu
def test_venv_loads_only_the_distributions_pycriu_and_decodes_an_archive(with_protobuf):
    pycache = os.path.join(DISTRO_PYCRIU, "images", "__pycache__")
    before = sorted(os.listdir(pycache)) if os.path.isdir(pycache) else []
    got = run(with_protobuf, textwrap.dedent("""[
        dependencies.import_pycriu('x').__file__,
        __import__('ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze',
                   fromlist=['analyze']).analyze({lookup!r}, include=['processes'])['processes'],
        [p for p in sys.path if 'dist-packages' in p or p.startswith('/usr/lib')],
        dependencies.has_module('apt'),
    ]""").format(lookup=LOOKUP).replace("\n", " "))
    assert "error" not in got, got
    origin, processes, system_paths, has_apt = got["result"]
    assert origin == os.path.join(DISTRO_PYCRIU, "images", "__init__.py")
    # Real decoding through the loaded pycriu: the lookup fixture's service and its busybox shell.
    commands = sorted(p["comm"] for p in processes)
    assert commands == ["busybox", "busybox", "python3", "sh"]
    # Only pycriu came along: the rest of the system site-packages (python3-apt...) stays invisible,
    # apart from pycriu's own images directory, which pycriu appends for its generated modules.
    assert system_paths in ([], [os.path.join(os.path.realpath(DISTRO_PYCRIU), "images")])
    assert not has_apt
    assert (sorted(os.listdir(pycache)) if os.path.isdir(pycache) else []) == before, "bytecode written"


@needs_distro_pycriu
def test_protobuf_missing_is_told_apart_from_pycriu_missing(tmp_path):
    python = venv(tmp_path / "bare")
    got = run(python, "dependencies.import_pycriu('evidence.tar')")
    assert got["error"] == (
        "evidence.tar: decoding CRIU images needs the Python package protobuf, which %s cannot import "
        "(pycriu at %s is present, protobuf is not): install it with '%s -m pip install protobuf'"
        % (python, DISTRO_PYCRIU, python))


def test_pycriu_missing_names_the_interpreter_and_the_distribution_package(tmp_path, with_protobuf):
    got = run(with_protobuf, "dependencies.import_pycriu('evidence.tar', search=[%r])" % str(tmp_path))
    hint = {"debian": "install it with 'apt-get install criu'", "rpm": "install it with 'dnf install python3-criu'"}.get(
        dependencies.os_family(), "install the distribution's package (Debian/Ubuntu: criu, Fedora/RHEL: python3-criu)")
    assert got["error"] == ("evidence.tar: decoding CRIU images needs the Python package pycriu, which %s cannot "
                            "import: %s" % (with_protobuf, hint))


@needs_distro_pycriu
def test_incompatible_protobuf_names_its_version_and_the_tested_range(tmp_path):
    # protobuf 3.19 predates the builder module that Debian's generated pycriu classes import.
    python = venv(tmp_path / "old", pip=True)
    subprocess.check_call([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "protobuf==3.19.6"])
    error = run(python, "dependencies.import_pycriu('evidence.tar')")["error"]
    assert error.startswith("evidence.tar: decoding CRIU images: pycriu at %s does not work with protobuf 3.19.6 "
                            "under %s (ImportError: cannot import name 'builder'" % (DISTRO_PYCRIU, python))
    assert error.endswith(": install a protobuf that matches the distribution's pycriu: "
                          "'%s -m pip install \"protobuf>=3.21,<8\"'" % python)
    assert "\n" not in error


@needs_distro_pycriu
def test_a_pycriu_others_can_write_is_not_loaded(tmp_path, with_protobuf):
    copy = tmp_path / "site" / "pycriu"
    shutil.copytree(DISTRO_PYCRIU, str(copy), ignore=shutil.ignore_patterns("__pycache__"))
    if os.stat(str(copy)).st_uid != 0:
        pytest.skip("needs root to make a root-owned copy")
    os.chmod(str(copy / "images"), 0o777)
    got = run(with_protobuf, "dependencies.import_pycriu('evidence.tar', search=[%r])" % str(tmp_path / "site"))
    assert got["error"].startswith("evidence.tar: decoding CRIU images needs pycriu; %s was found but is not "
                                   "root-owned and read-only to others, so it is not loaded" % copy)
    os.chmod(str(copy / "images"), 0o755)
    assert run(with_protobuf, "dependencies.import_pycriu('e', search=[%r]).__file__" % str(tmp_path / "site"))[
        "result"] == str(copy / "images" / "__init__.py")


def test_other_packages_name_the_interpreter_and_pip_in_a_venv(tmp_path):
    python = venv(tmp_path / "bare")
    got = run(python, "dependencies.import_module('jmespath', 'rules.yml', 'evaluating rules')")
    assert got["error"] == ("rules.yml: evaluating rules needs the Python package jmespath, which %s cannot import: "
                            "install it with '%s -m pip install jmespath'" % (python, python))
    got = run(python, "dependencies.import_module('zstandard', 'a.tar.zst', 'reading zstd archives')")
    assert got["error"].endswith("install it with '%s -m pip install zstandard'" % python)
    assert run(python, "dependencies.has_module('hyperscan')")["result"] is False


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="no system python3")
def test_the_system_interpreter_is_told_the_distribution_package(tmp_path):
    got = run("/usr/bin/python3", "[dependencies.is_system_python(), dependencies.install_hint('kubernetes')]")
    system, hint = got["result"]
    assert system is True
    if dependencies.os_family() == "debian":
        assert hint == "install it with 'apt-get install python3-kubernetes'"


@pytest.mark.parametrize("name, family, system, hint", [
    ("zstandard", "debian", True, "install it with 'apt-get install python3-zstandard'"),
    ("zstandard", "rpm", True, "install it with 'dnf install python3-zstandard'"),
    ("zstandard", "debian", False, "install it with '%s -m pip install zstandard'" % sys.executable),
    ("pycriu", "rpm", False, "install it with 'dnf install python3-criu'"),
    ("pycriu", None, False, "install the distribution's package (Debian/Ubuntu: criu, Fedora/RHEL: python3-criu)"),
    ("hyperscan", "debian", True, "install it with '%s -m pip install hyperscan'" % sys.executable),
])
def test_install_hint(name, family, system, hint, monkeypatch):
    monkeypatch.setattr(dependencies, "os_family", lambda: family)
    assert dependencies.install_hint(name, system=system) == hint


@pytest.mark.parametrize("text, family", [
    ('ID=debian\n', "debian"),
    ('ID=ubuntu\nID_LIKE=debian\n', "debian"),
    ('ID="rhel"\nID_LIKE="fedora"\n', "rpm"),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "rpm"),
    ('ID=alpine\n', None),
])
def test_os_family(text, family, tmp_path):
    path = tmp_path / "os-release"
    path.write_text(text)
    assert dependencies.os_family(str(path)) == family
    assert dependencies.os_family(str(tmp_path / "absent")) is None
