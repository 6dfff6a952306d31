# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ignition configs as the Machine Config Operator treats them: validate, merge a pool's
MachineConfigs into one rendered config, and read back the files a node ends up with (the
kubelet's feature gates and CRI-O's CRIU switch are derived from those files, not from flags)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import copy
import gzip
import hashlib
import json
import tomllib
import urllib.parse
import zlib

import yaml

SUPPORTED_VERSIONS = ("2.2.0", "3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0")
# the MCO parses Ignition 3.5 from 4.19 (machine-config-operator 995bf2614)
SUPPORTED_VERSIONS_419 = SUPPORTED_VERSIONS + ("3.5.0",)
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
CRIO_DROPIN_DIR = "/etc/crio/crio.conf.d/"
CRIO_CONF = "/etc/crio/crio.conf"


class IgnitionError(ValueError):
    pass


def decode_source(source, compression=""):
    """Decode an Ignition ``data:`` URL (percent-escaped or base64, optionally gzip)."""
    if not isinstance(source, str) or not source.startswith("data:"):
        raise IgnitionError("unsupported file source %r: only data: URLs are supported in "
                            "MachineConfigs" % (source,))
    header, sep, payload = source[5:].partition(",")
    if not sep:
        raise IgnitionError("invalid data URL %r: missing ','" % source[:40])
    try:
        if header.endswith(";base64"):
            data = base64.b64decode(urllib.parse.unquote(payload), validate=True)
        else:
            data = urllib.parse.unquote_to_bytes(payload)
        if compression == "gzip":
            data = gzip.decompress(data)
        elif compression not in ("", None):
            raise IgnitionError("unsupported compression %r" % compression)
    except (binascii.Error, ValueError, OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, IgnitionError):
            raise
        raise IgnitionError("invalid data URL: %s" % exc)
    return data


def encode_source(data):
    """Percent-escape like butane's plain ``data:,`` form."""
    return "data:," + urllib.parse.quote(data, safe="-_.!~*'()")


def validate(config, supported=SUPPORTED_VERSIONS):
    if not isinstance(config, dict):
        raise IgnitionError("config is not an object")
    version = (config.get("ignition") or {}).get("version")
    if version not in supported:
        raise IgnitionError("parsing Ignition config failed: unknown version. Supported spec "
                            "versions: %s" % ", ".join(v.rpartition(".")[0] for v in supported))
    for entry in (config.get("storage") or {}).get("files") or []:
        path = entry.get("path", "")
        if not path.startswith("/"):
            raise IgnitionError("path %r is not absolute" % path)
        mode = entry.get("mode")
        if mode is not None and not isinstance(mode, int):
            raise IgnitionError("file %s: mode must be an integer" % path)
        contents = entry.get("contents") or {}
        if contents.get("source") is not None:
            decode_source(contents["source"], contents.get("compression", ""))
        if entry.get("append"):
            raise IgnitionError("file %s: append is not supported by the MCO" % path)


def merge(machineconfigs, version="3.2.0", supported=SUPPORTED_VERSIONS):
    """Merge MachineConfig specs in name order (later files/units of the same name win) into
    one config of Ignition spec ``version``."""
    files, units = {}, {}
    kargs, extensions = [], []
    os_image, kernel_type, fips = "", "", False
    for mc in sorted(machineconfigs, key=lambda m: m["metadata"]["name"]):
        spec = mc.get("spec") or {}
        config = spec.get("config") or {}
        validate(config, supported)
        for entry in (config.get("storage") or {}).get("files") or []:
            files[entry["path"]] = copy.deepcopy(entry)
        for unit in (config.get("systemd") or {}).get("units") or []:
            units[unit.get("name")] = copy.deepcopy(unit)
        kargs.extend(spec.get("kernelArguments") or [])
        extensions.extend(e for e in spec.get("extensions") or [] if e not in extensions)
        os_image = spec.get("osImageURL") or os_image
        kernel_type = spec.get("kernelType") or kernel_type
        fips = fips or bool(spec.get("fips"))
    return {
        "config": {
            "ignition": {"version": version},
            "storage": {"files": [files[p] for p in sorted(files)]},
            "systemd": {"units": [units[n] for n in sorted(units)]},
        },
        "extensions": extensions,
        "fips": fips,
        "kernelArguments": kargs,
        "kernelType": kernel_type,
        "osImageURL": os_image,
    }


def rendered_name(pool, spec):
    digest = hashlib.md5(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return "rendered-%s-%s" % (pool, digest)


def files_of(spec):
    """{path: bytes} of a (rendered) MachineConfig spec."""
    out = {}
    for entry in ((spec or {}).get("config") or {}).get("storage", {}).get("files") or []:
        contents = entry.get("contents") or {}
        try:
            out[entry["path"]] = decode_source(contents.get("source", "data:,"),
                                               contents.get("compression", ""))
        except IgnitionError:
            continue
    return out


def units_of(spec):
    """{unit name: unit} of a (rendered) MachineConfig spec."""
    return {u.get("name"): u for u in ((spec or {}).get("config") or {}).get(
        "systemd", {}).get("units") or []}


def kubelet_feature_gates(files):
    """featureGates of the node's kubelet.conf (empty when absent or unparsable)."""
    data = files.get(KUBELET_CONF)
    if not data:
        return {}
    try:
        conf = yaml.safe_load(data) or {}
    except yaml.YAMLError:
        return {}
    gates = conf.get("featureGates") if isinstance(conf, dict) else None
    return dict(gates) if isinstance(gates, dict) else {}


def crio_config(files):
    """Effective CRI-O settings: crio.conf, then the drop-ins as Go's filepath.Walk visits them
    (lexical order, subdirectories included: cri-o pkg/config/config.go UpdateFromPath); later
    keys win.

    Returns (settings, error); ``error`` is what CRI-O would die with on a bad drop-in.
    """
    settings = {}
    paths = ([CRIO_CONF] if CRIO_CONF in files else []) + sorted(
        (p for p in files if p.startswith(CRIO_DROPIN_DIR)), key=lambda p: p.split("/"))
    for path in paths:
        try:
            doc = tomllib.loads(files[path].decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            return settings, "failed to load config file %s: %s" % (path, exc)
        for table, values in doc.items():
            if isinstance(values, dict):
                for sub, value in values.items():
                    if isinstance(value, dict):
                        settings.setdefault("%s.%s" % (table, sub), {}).update(value)
                    else:
                        settings.setdefault(table, {})[sub] = value
    return settings, None
