# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MachineConfigs from butane configs: render, compare, apply.

Any change to a MachineConfig makes the Machine Config Operator roll out a new rendered config,
which reboots every node of the pool. So "the same" is judged on what the nodes would get: file
contents are compared decoded, and a MachineConfig that only differs in how its contents are
encoded (another butane version, say) is left alone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

try:
    import tomllib as _toml  # Python 3.11+
except ImportError:
    try:
        import tomli as _toml
    except ImportError:
        _toml = None

from ansible_collections.forensic.checkpoint.plugins.module_utils.butane import render as butane
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

API = "/apis/machineconfiguration.openshift.io/v1/machineconfigs"
ROLE_LABEL = butane.ROLE_LABEL
GENERATED_BY = "machineconfiguration.openshift.io/generated-by-controller-version"
CRIO_DROPIN = "/etc/crio/crio.conf.d/05-enable-criu"
CRIO_CRIU = "[crio.runtime]\nenable_criu_support = true\n"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
CRIO_DROPINS = "/etc/crio/crio.conf.d/"
CRIO_CONF = "/etc/crio/crio.conf"
# CRI-O turns CRIU support on by default from 1.30 (it follows the Kubernetes minor).
CRIO_CRIU_DEFAULT_MINOR = 30


def preset_config(preset, role, name, spec_version):
    """The butane config of a preset: ``crio_criu`` is the documented CRI-O drop-in."""
    if preset != "crio_criu":
        raise CheckpointError("preset %r" % preset, "unknown preset (known: crio_criu)")
    return {
        "variant": "openshift",
        "version": spec_version,
        "metadata": {"name": name or "05-%s-enable-criu" % role, "labels": {ROLE_LABEL: role}},
        "storage": {"files": [{"path": CRIO_DROPIN, "mode": 0o644, "overwrite": True,
                               "contents": {"inline": CRIO_CRIU}}]},
    }


def desired(config, name=None, role=None, files_dir=None):
    """Render ``config`` (butane YAML text or dict); ``name``/``role`` fill in or must agree with
    the config's metadata."""
    config = butane.load_config(config)
    if not isinstance(config, dict):
        raise CheckpointError("butane config", "expected a mapping at the top level")
    config = dict(config)
    metadata = config.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    labels = metadata.get("labels")
    labels = dict(labels) if isinstance(labels, dict) else {}
    for field, value, holder, key in (("name", name, metadata, "name"), ("role", role, labels, ROLE_LABEL)):
        if value is None:
            continue
        current = holder.get(key)
        current = getattr(current, "text", current)
        if current not in (None, "", value):
            raise CheckpointError("butane config", "metadata %s is %r but the module's %s is %r"
                                  % ("name" if field == "name" else "role label", current, field, value))
        holder[key] = value
    metadata["labels"] = labels
    config["metadata"] = metadata
    return butane.render(config, files_dir)


def comparable(spec):
    """A MachineConfig spec as the nodes see it: contents decoded, encodings and empties dropped."""
    spec = copy.deepcopy(spec or {})
    for key in [k for k, v in spec.items() if k != "config" and v in (None, "", [], {})]:
        del spec[key]
    for entry in ((spec.get("config") or {}).get("storage") or {}).get("files") or []:
        contents = entry.get("contents")
        if not isinstance(contents, dict) or "source" not in contents:
            continue
        try:
            data = butane.decode_data_url(contents["source"], contents.get("compression"))
        except ValueError:
            continue  # not ours to judge: compare it as written
        rest = dict((k, v) for k, v in contents.items() if k not in ("source", "compression"))
        entry["contents"] = dict(rest, data=data)
    return spec


def readable(mc):
    """What a diff should show: labels and spec, file contents as text where they are text."""
    if not mc:
        return {}
    spec = comparable(mc.get("spec"))
    for entry in ((spec.get("config") or {}).get("storage") or {}).get("files") or []:
        data = (entry.get("contents") or {}).pop("data", None)
        if data is not None:
            try:
                entry["contents"]["text"] = data.decode("utf-8")
            except UnicodeDecodeError:
                entry["contents"]["bytes"] = len(data)
    return {"metadata": {"name": mc["metadata"]["name"], "labels": (mc["metadata"].get("labels") or {})},
            "spec": spec}


def _existing(cluster, name):
    subject = "MachineConfig %s" % name
    existing = cluster.get("%s/%s" % (API, name), subject, missing_ok=True)
    if existing is not None and (existing["metadata"].get("annotations") or {}).get(GENERATED_BY):
        raise CheckpointError(subject, "is generated by the Machine Config Operator; choose another name")
    return existing


def remove(cluster, name, check_mode=False):
    """Make MachineConfig ``name`` absent. Returns the module result."""
    subject = "MachineConfig %s" % name
    existing = _existing(cluster, name)
    if existing is None:
        return {"changed": False, "name": name, "result": None, "msg": "%s is absent" % subject}
    cluster.delete("%s/%s" % (API, name), subject)
    return {"changed": True, "name": name, "result": None, "diff": {"before": readable(existing), "after": {}},
            "msg": "%s deleted%s" % (subject, _dry(check_mode))}


def ensure(cluster, rendered, check_mode=False, preset=None, force=False):
    """Make MachineConfig ``rendered.machine_config`` present and current. Returns the module result."""
    wanted = rendered.machine_config
    name = wanted["metadata"]["name"]
    subject = "MachineConfig %s" % name
    path = "%s/%s" % (API, name)
    existing = _existing(cluster, name)
    result = {"changed": False, "name": name, "rendered": rendered.text, "warnings": list(rendered.warnings)}

    if preset == "crio_criu" and not force:
        minor = cluster.kubernetes_minor()
        if minor is not None and minor >= CRIO_CRIU_DEFAULT_MINOR and existing is None:
            result.update(result=None, default_on=True,
                          msg="CRI-O enables CRIU support by default on Kubernetes 1.%d (CRI-O 1.%d): "
                              "nothing to change (force=true writes the drop-in anyway)" % (minor, minor))
            return result

    if existing is None:
        created = cluster.create(API, subject, wanted)
        result.update(changed=True, result=created, diff={"before": {}, "after": readable(wanted)},
                      msg="%s created%s" % (subject, _dry(check_mode)))
        return result

    labels = dict(existing["metadata"].get("labels") or {})
    same_labels = all(labels.get(k) == v for k, v in wanted["metadata"]["labels"].items())
    if same_labels and comparable(existing.get("spec")) == comparable(wanted["spec"]):
        note = "" if existing.get("spec") == wanted["spec"] else " (same contents, encoded differently: left alone)"
        result.update(result=existing, msg="%s is up to date%s" % (subject, note))
        return result
    labels.update(wanted["metadata"]["labels"])
    replacement = copy.deepcopy(existing)
    replacement["metadata"]["labels"] = labels
    replacement["spec"] = wanted["spec"]
    replacement.pop("status", None)
    updated = cluster.replace(path, subject, replacement)
    result.update(changed=True, result=updated, diff={"before": readable(existing), "after": readable(replacement)},
                  msg="%s updated%s" % (subject, _dry(check_mode)))
    return result


def apply(connect, state="present", name=None, role=None, preset=None, config=None, files_dir=None,
          spec_version="4.13.0", force=False, check_mode=False):
    """The machine_config module's work: render the preset or the butane ``config`` (before any
    API call, so a bad config fails without touching the cluster), then ensure or remove it."""
    rendered = None
    if preset:
        rendered = desired(preset_config(preset, role or "worker", name, spec_version), files_dir=files_dir)
    elif config is not None:
        rendered = desired(config, name, role, files_dir)
    cluster = connect()
    if state == "absent":
        return remove(cluster, rendered.machine_config["metadata"]["name"] if rendered else name, check_mode)
    return ensure(cluster, rendered, check_mode, preset, force)


def _dry(check_mode):
    return " (check mode: server-side dry run)" if check_mode else ""


# -- what a (rendered) MachineConfig gives a node


def crio_criu_setting(files):
    """``enable_criu_support`` of ``[crio.runtime]`` as CRI-O ends up with it, or None when no file sets
    it. CRI-O reads crio.conf, then every file under crio.conf.d through Go's filepath.Walk (lexical
    order, subdirectories included; cri-o pkg/config/config.go UpdateFromPath), each decoded over the
    last, so the last file that sets the key wins. A file that is not TOML raises CheckpointError:
    CRI-O would refuse to start with it."""
    value = None
    dropins = sorted((p for p in files if p.startswith(CRIO_DROPINS)), key=lambda p: p.split("/"))
    for path in ([CRIO_CONF] if CRIO_CONF in files else []) + dropins:
        try:
            runtime = (toml_loads(files[path]).get("crio") or {}).get("runtime") or {}
        except ValueError as err:
            raise CheckpointError("CRI-O configuration %s" % path, "not valid TOML (CRI-O would not start): %s" % err)
        setting = runtime.get("enable_criu_support") if isinstance(runtime, dict) else None
        if setting is not None and not isinstance(setting, bool):
            raise CheckpointError("CRI-O configuration %s" % path, "enable_criu_support is %r, not true or false "
                                  "(CRI-O would not start)" % (setting,))
        if setting is not None:
            value = setting
    return value


def toml_loads(text):
    """A TOML document: tomllib (Python 3.11+) or tomli when importable, else ``_minimal_toml``."""
    if _toml is not None:
        try:
            return _toml.loads(text)
        except _toml.TOMLDecodeError as err:
            raise ValueError(str(err))
    return _minimal_toml(text)


# The controller may run Python 3.10 (ansible-core 2.16) without tomli. This reader covers what a
# CRI-O drop-in holds, for its scalars: ``[table]`` headers (``[[...]]`` read as their table) and
# ``key = value`` lines with bare, quoted or dotted keys; booleans, integers and one-line strings;
# comments. Multi-line arrays and strings are skipped over, not read; anything else is refused.
_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = r"\s*(%s(?:\s*\.\s*%s)*)\s*" % (_KEY, _KEY)
_SCALAR = re.compile(r"""^(true|false|[+-]?[0-9][0-9_]*|"(?:[^"\\]|\\.)*"|'[^']*')\s*(?:#.*)?$""")


def _keys(text):
    return [json.loads(k) if k.startswith('"') else k.strip("'") for k in re.findall(_KEY, text)]


def _minimal_toml(text):
    doc = table = {}
    lines = iter(text.splitlines())
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        header = re.match(r"^\[\[?%s\]\]?\s*(?:#.*)?$" % _DOTTED, line)
        if header:
            table = doc
            for key in _keys(header.group(1)):
                table = table.setdefault(key, {})
            continue
        pair = re.match(r"^%s=\s*(.*)$" % _DOTTED, line)
        if not pair:
            raise ValueError("cannot read %r" % line)
        keys, raw = _keys(pair.group(1)), pair.group(2)
        quote = raw[:3] if raw[:3] in ('"""', "'''") else None
        while (raw.count(quote) < 2) if quote else (raw.count("[") > raw.count("]")):
            more = next(lines, None)
            if more is None:
                raise ValueError("unterminated value of %s" % ".".join(keys))
            raw += "\n" + more
        target = table
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        word = _SCALAR.match(raw)
        if word:
            word = word.group(1)
            target[keys[-1]] = word == "true" if word in ("true", "false") else word.strip("'") \
                if word.startswith("'") else json.loads(word.replace("_", "") if word[0] != '"' else word)
    return doc


def kubelet_gate(files, gate="ContainerCheckpoint"):
    """A gate in featureGates of the rendered kubelet.conf (JSON, or simple YAML): True/False, None if unset."""
    text = files.get(KUBELET_CONF)
    if not text:
        return None
    try:
        return ((json.loads(text) or {}).get("featureGates") or {}).get(gate)
    except (ValueError, AttributeError):
        match = re.search(r"^\s+%s:\s*(true|false)\s*$" % gate, text, re.M)
        return None if match is None else match.group(1) == "true"


def rendered_files(mc):
    """{path: text} of a MachineConfig's files, contents decoded."""
    out = {}
    for entry in (((mc.get("spec") or {}).get("config") or {}).get("storage") or {}).get("files") or []:
        contents = entry.get("contents") or {}
        try:
            data = butane.decode_data_url(contents.get("source") or "data:,", contents.get("compression"))
        except ValueError:
            continue
        out[entry.get("path")] = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return out
