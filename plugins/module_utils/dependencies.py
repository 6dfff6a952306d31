# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Third-party libraries the engines import, and what to tell the user when one is missing.

Messages name the interpreter that ran the module (``sys.executable``: on a managed node that is
``ansible_python_interpreter``, often a virtualenv) and the exact package for that interpreter: the
distribution's package for the system Python, ``<interpreter> -m pip install`` for any other.

pycriu is only shipped by distributions (Debian/Ubuntu ``criu``, Fedora/RHEL ``python3-criu``), in
the system site-packages, which a virtualenv does not see. ``import_pycriu`` then loads the
distribution's pycriu package directory itself, and nothing else from the system site-packages.
That is safe because pycriu is pure Python (generated protobuf classes and the image magic table)
with protobuf as its one dependency, which still comes from the running interpreter; the directory
must be root-owned and not writable by group or others (it is what the package manager installed),
and no bytecode is written into it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import importlib.util
import os
import stat
import sys

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import MissingDependency

# import name -> (pip name, Debian/Ubuntu package, Fedora/RHEL package); None: not packaged there.
PACKAGES = {
    "pycriu": (None, "criu", "python3-criu"),
    "google.protobuf": ("protobuf", "python3-protobuf", "python3-protobuf"),
    "zstandard": ("zstandard", "python3-zstandard", "python3-zstandard"),
    "jmespath": ("jmespath", "python3-jmespath", "python3-jmespath"),
    "kubernetes": ("kubernetes", "python3-kubernetes", "python3-kubernetes"),
    "yaml": ("PyYAML", "python3-yaml", "python3-pyyaml"),
    "hyperscan": ("hyperscan", None, None),
}
# What CI tests pycriu with: Debian's python3-protobuf 3.21 (analyser pods) and the newest 7.x (.venv).
PROTOBUF_SPEC = "protobuf>=3.21,<8"
DEBIAN_FAMILY = frozenset(("debian", "ubuntu"))
RPM_FAMILY = frozenset(("fedora", "rhel", "centos", "rocky", "almalinux", "ol", "amzn"))


def os_family(os_release="/etc/os-release"):
    """'debian', 'rpm' or None, from os-release's ID and ID_LIKE."""
    ids = set()
    try:
        with open(os_release) as handle:
            for line in handle:
                key, _sep, value = line.strip().partition("=")
                if key in ("ID", "ID_LIKE"):
                    ids.update(value.strip("\"'").split())
    except (IOError, OSError):
        return None
    if ids & DEBIAN_FAMILY:
        return "debian"
    if ids & RPM_FAMILY:
        return "rpm"
    return None


def is_system_python(executable=None, prefix=None, base_prefix=None):
    """True for the distribution's interpreter (/usr/bin/python3.X outside any virtualenv)."""
    prefix = sys.prefix if prefix is None else prefix
    base_prefix = getattr(sys, "base_prefix", sys.prefix) if base_prefix is None else base_prefix
    executable = sys.executable if executable is None else executable
    return prefix == base_prefix == "/usr" and os.path.dirname(os.path.realpath(executable)) == "/usr/bin"


def install_hint(name, family=None, system=None):
    """What to run so that the interpreter running this code can import ``name``."""
    pip_name, deb, rpm = PACKAGES[name]
    family = os_family() if family is None else family
    system = is_system_python() if system is None else system
    distro = {"debian": ("apt-get", deb), "rpm": ("dnf", rpm)}.get(family)
    if distro and distro[1] and (system or pip_name is None):
        return "install it with '%s install %s'" % distro
    if pip_name:
        return "install it with '%s -m pip install %s'" % (sys.executable, pip_name)
    return "install the distribution's package (Debian/Ubuntu: %s, Fedora/RHEL: %s)" % (deb, rpm)


def missing(subject, what, name, detail=None):
    """The MissingDependency for ``name``, which ``what`` needs, naming the interpreter."""
    why = " (%s)" % detail if detail else ""
    return MissingDependency(subject, "%s needs the Python package %s, which %s cannot import%s: %s"
                             % (what, PACKAGES[name][0] or name, sys.executable, why, install_hint(name)))


def import_module(name, subject, what):
    """``name`` imported, or MissingDependency naming the interpreter and the package to install."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise missing(subject, what, name, _first_line(err) if getattr(err, "name", name) != name else None)


def _first_line(err):
    return ("%s: %s" % (type(err).__name__, err)).splitlines()[0]


def _version_dirs():
    """Where distributions install pycriu for this interpreter: Debian's version-independent
    dist-packages, Fedora/RHEL's site-packages for this Python version (lib and lib64)."""
    version = "python%d.%d" % sys.version_info[:2]
    return ["/usr/lib/python3/dist-packages",
            "/usr/lib/%s/site-packages" % version,
            "/usr/lib64/%s/site-packages" % version]


def distribution_pycriu(search=None):
    """The directory of the distribution's pycriu package, or None."""
    for base in _version_dirs() if search is None else search:
        candidate = os.path.join(base, "pycriu")
        if os.path.isfile(os.path.join(candidate, "__init__.py")):
            return candidate
    return None


def _trusted(directory):
    """Installed by the package manager: root-owned, writable by nobody else, down to the files."""
    for path in [directory] + [os.path.join(top, entry) for top, dirs, files in os.walk(directory)
                               for entry in dirs + files]:
        info = os.lstat(path)
        if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
    return True


def _load_package(name, directory):
    """Import the package in ``directory`` as ``name``; nothing else joins sys.path."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(directory, "__init__.py"),
                                                  submodule_search_locations=[directory])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    keep = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # never write into the distribution's directory
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.dont_write_bytecode = keep
    return module


def _drop(name):
    for key in [key for key in sys.modules if key == name or key.startswith(name + ".")]:
        del sys.modules[key]


def import_pycriu(subject="pycriu", search=None):
    """``pycriu.images``, from this interpreter or else from the distribution's pycriu directory.

    Tells apart pycriu missing from pycriu present but its protobuf missing or incompatible.
    """
    what = "decoding CRIU images"
    try:
        return importlib.import_module("pycriu.images")
    except ImportError as err:
        if getattr(err, "name", None) not in ("pycriu", "pycriu.images"):
            return _protobuf_problem(subject, what, _where("pycriu"), err)
    except Exception as err:  # pylint: disable=broad-except  # generated code raises TypeError & co.
        return _protobuf_problem(subject, what, _where("pycriu"), err)
    _drop("pycriu")
    directory = distribution_pycriu(search)
    if directory is None:
        raise missing(subject, what, "pycriu")
    if not _trusted(directory):
        raise MissingDependency(subject, "%s needs pycriu; %s was found but is not root-owned and read-only "
                                "to others, so it is not loaded: make %s able to import pycriu (%s)"
                                % (what, directory, sys.executable, install_hint("pycriu")))
    try:
        _load_package("pycriu", directory)
        return importlib.import_module("pycriu.images")
    except Exception as err:  # pylint: disable=broad-except
        _drop("pycriu")
        return _protobuf_problem(subject, what, directory, err)


def _where(name):
    try:
        return os.path.dirname(importlib.util.find_spec(name).origin)
    except (ImportError, ValueError, AttributeError, TypeError):
        return name


def _protobuf_problem(subject, what, where, err):
    """pycriu is there but does not import: say whether protobuf is missing or incompatible."""
    try:
        protobuf = importlib.import_module("google.protobuf")
    except ImportError:
        raise missing(subject, what, "google.protobuf", "pycriu at %s is present, protobuf is not" % where)
    version = getattr(protobuf, "__version__", "unknown")
    raise MissingDependency(subject, "%s: pycriu at %s does not work with protobuf %s under %s (%s): "
                            "install a protobuf that matches the distribution's pycriu: '%s -m pip install \"%s\"'"
                            % (what, where, version, sys.executable, _first_line(err), sys.executable, PROTOBUF_SPEC))


def has_module(name):
    """Whether ``name`` can be imported, without importing it (optional accelerators)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
