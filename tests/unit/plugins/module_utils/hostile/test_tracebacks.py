# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 16, tracebacks: metadata documents of every wrong JSON shape either analyse (the wrong
parts dropped with a warning) or fail with one line naming the archive; a directory listing reports
a malformed archive as unreadable and the rest; any unexpected exception still ends as one line."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os
import shutil
import tarfile

import pytest

import hostile_archives as hostile
import hostile_round2 as h2
import module_outputs

DEEP = b"[" * 100000 + b"]" * 100000
DEEP_OBJECTS = b'{"a":' * 50000 + b"1" + b"}" * 50000
SHAPES = {
    "status-dict-of-lists": ("network.status", {"podman": ["eth0"]}),
    "status-interfaces-list": ("network.status", {"podman": {"interfaces": ["eth0"]}}),
    "status-subnets-string": ("network.status", {"podman": {"interfaces": {"eth0": {"subnets": "10.0.0.1/24"}}}}),
    "status-ipnet-int": ("network.status", {"podman": {"interfaces": {"eth0": {"subnets": [{"ipnet": 5}],
                                                                               "mac_address": ["x"]}}}}),
    "status-cni-garbage": ("network.status", [5, {"ips": "x"}, {"ips": [{"address": 7}]}]),
    "status-deep": ("network.status", DEEP),
    "spec-deep": ("spec.dump", DEEP),
    "config-deep-objects": ("config.dump", DEEP_OBJECTS),
    "spec-annotations-not-strings": ("spec.dump", {"annotations": {"io.container.manager": "libpod", "n": 5,
                                                                   "o": {"a": [1]}, "z": None}}),
    "spec-annotations-list": ("spec.dump", {"annotations": ["io.container.manager"]}),
    "config-fields-wrong-types": ("config.dump", {"id": 1e308, "name": ["x"], "rootfsImageName": {"a": 1},
                                                  "checkpointedTime": 12345, "createdTime": -1, "runtime": True}),
    "config-list": ("config.dump", [1, 2, 3]),
}


def _archive(archives, tmp_path, case):
    member, document = SHAPES[case]
    return h2.build(archives["lookup"], str(tmp_path / ("%s.tar" % case)), lambda m: h2.with_json(m, member, document))


@pytest.mark.parametrize("module", ["checkpoint_info", "checkpoint_analyze"])
@pytest.mark.parametrize("case", sorted(SHAPES))
def test_malformed_metadata_is_a_warning_or_one_line(archives, tmp_path, case, module):
    archive = _archive(archives, tmp_path, case)
    before = h2.sha256(archive)
    result = module_outputs.run_module(module, {"path": archive})
    text = json.dumps(result)
    assert "Traceback" not in text and "unexpected" not in text, result.get("msg")
    if result.get("failed"):
        assert h2.one_line(result, archive), result["msg"]
    else:
        container = result["checkpoints"][0] if module == "checkpoint_info" else result["analysis"]["container"]
        for key in ("id", "container", "image", "checkpointed", "created", "runtime", "ip"):
            assert container.get(key) is None or isinstance(container[key], str), key
        for warning in result.get("warnings", []):
            assert "\n" not in warning
    assert h2.sha256(archive) == before


CRIO_ANNOTATIONS = {  # OCI annotations are strings: every other shape, in the fields CRI-O archives are read by
    "int-metadata": {"io.kubernetes.cri-o.Metadata": 5},
    "float-metadata": {"io.kubernetes.cri-o.Metadata": 1e308},
    "deep-metadata": {"io.kubernetes.cri-o.Metadata": "[" * 100000},
    "list-metadata": {"io.kubernetes.cri-o.Metadata": '[{"name": 1}]', "io.kubernetes.pod.name": ["p"]},
    "bomb-metadata": {"io.kubernetes.cri-o.Metadata": "[" + "{}," * 300000 + "{}]"},
    "all-wrong": dict((key, {"a": [1]}) for key in (
        "io.kubernetes.container.name", "io.kubernetes.pod.name", "io.kubernetes.pod.namespace",
        "io.kubernetes.cri-o.ImageName", "io.kubernetes.cri-o.Created", "io.kubernetes.cri-o.IP.0")),
}


@pytest.mark.parametrize("module", ["checkpoint_info", "checkpoint_analyze"])
@pytest.mark.parametrize("case", sorted(CRIO_ANNOTATIONS))
def test_cri_o_annotations_of_any_json_shape_are_dropped_with_a_warning(archives, tmp_path, case, module):
    def forge(members):
        spec = json.loads(hostile.content(members, "spec.dump"))
        spec["annotations"].update(CRIO_ANNOTATIONS[case])
        return h2.with_json(members, "spec.dump", spec)
    archive = h2.build(archives["crio"], str(tmp_path / "crio.tar"), forge)
    result = module_outputs.run_module(module, {"path": archive})
    assert not result.get("failed"), result.get("msg")
    container = result["checkpoints"][0] if module == "checkpoint_info" else result["analysis"]["container"]
    assert container["engine"] == "CRI-O" and container["container"] in ("counter", None)
    for key in ("container", "pod", "namespace", "image", "created", "ip"):
        assert container.get(key) is None or isinstance(container[key], str), key
    wrong = [key for key, value in CRIO_ANNOTATIONS[case].items() if not isinstance(value, str)]
    assert not wrong or any("annotations are not strings" in warning for warning in result["warnings"])


@pytest.mark.parametrize("member", ["config.dump", "spec.dump", "network.status", "bind.mounts"])
def test_a_metadata_document_of_millions_of_values_is_one_line_in_bounded_memory(archives, tmp_path, member):
    """16 MB of ``{},`` (6k compressed) parsed whole took 440 MB: such a document is refused by its
    count of values, made before parsing."""
    import hostile_bounds as hb
    bomb = b"[" + b"{}," * (5 * 1024 * 1024) + b"{}]"
    base = archives["crio" if member == "bind.mounts" else "lookup"]  # CRI-O's alone, read by the analysis alone
    archive = h2.build(base, str(tmp_path / "bomb.tar"), lambda m: h2.with_json(m, member, bomb), compression="zst")
    before = h2.sha256(archive)
    for module in ("checkpoint_info", "checkpoint_analyze")[1 if member == "bind.mounts" else 0:]:
        task, output, rss, _secs = hb.run_module(module, {"path": archive})
        assert task.get("failed") and "\n" not in task["msg"] and archive in task["msg"], task.get("msg")
        assert "%s holds more than" % member in task["msg"] and "Traceback" not in output
        assert rss <= hb.RSS_LIMIT_MB, (module, rss)
    assert h2.sha256(archive) == before


@pytest.mark.parametrize("edit", [(0, 0), (2, 1 << 31), (3, 15), (1, (1 << 32) - 1)])
def test_forged_pstree_pids_are_one_line_or_a_result(archives, tmp_path, edit):
    """A pstree whose pids do not match the other images (0, past a pid_t, a duplicate): memory
    found under a pid the process facts lack still names that pid, never a KeyError."""
    import hostile_bounds as hb
    from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
    members = hostile.load_members(archives["lookup"])
    image = criu_images.decode("checkpoint/pstree.img", hostile.content(members, "checkpoint/pstree.img"))
    entries = list(image.entries)
    entries[edit[0]].pid = edit[1]
    archive = hb.replaced_images(str(tmp_path / "pstree.tar"), members, {"checkpoint/pstree.img": ("PSTREE", entries)})
    for module, args in (("checkpoint_analyze", {"path": archive}), ("checkpoint_memory", {"path": archive}),
                         ("checkpoint_coredump", {"path": archive, "dest": str(tmp_path / "cores")})):
        result = module_outputs.run_module(module, args)
        text = json.dumps(result)
        assert "Traceback" not in text and "unexpected" not in text, (module, result.get("msg"))
        assert not result.get("failed") or h2.one_line(result, archive), (module, result["msg"])


def test_the_diff_of_wrongly_typed_configs_is_one_line_or_a_result(archives, tmp_path):
    before = _archive(archives, tmp_path, "config-fields-wrong-types")
    result = module_outputs.run_module("checkpoint_diff", {"before": before, "after": archives["lookup"]})
    assert "Traceback" not in json.dumps(result) and "unexpected" not in json.dumps(result)
    assert not result.get("failed") or "\n" not in result["msg"]


@pytest.mark.parametrize("mtime", [1 << 62, -(1 << 40), (1 << 33) * 10 ** 6])
def test_out_of_range_tar_times_are_no_time(archives, tmp_path, mtime):
    """libpod's checkpoint time comes from the inventory's tar header when config.dump has none."""
    def forge(members):
        config = json.loads(hostile.content(members, "config.dump"))
        config.pop("checkpointedTime", None)
        members = h2.with_json(members, "config.dump", config)
        for info, _data in members:
            if info.name.lstrip("./") == "checkpoint/inventory.img":
                info.mtime = mtime
        return members
    archive = str(tmp_path / "forged.tar")
    members = forge(hostile.load_members(archives["lookup"]))
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if info.isfile():
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    result = module_outputs.run_module("checkpoint_info", {"path": archive})
    assert not result.get("failed"), result.get("msg")
    assert result["checkpoints"][0]["checkpointed"] is None


def test_a_directory_listing_survives_malformed_archives(archives, tmp_path, monkeypatch):
    folder = tmp_path / "many"
    folder.mkdir()
    shutil.copy(archives["lookup"], str(folder / "good.tar.gz"))
    for case in ("spec-deep", "status-ipnet-int", "config-list"):
        shutil.copy(_archive(archives, tmp_path, case), str(folder / (case + ".tar")))
    (folder / "junk.tar").write_bytes(b"\x00" * 700)
    # and an exception no layer expects, in one archive only: listed with its reason
    from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import metadata
    real = metadata.criu_version

    def explode(archive):
        if archive.path.endswith("config-list.tar"):
            raise KeyError("boom")
        return real(archive)
    monkeypatch.setattr(metadata, "criu_version", explode)
    result = module_outputs.run_module("checkpoint_info", {"path": str(folder)})
    assert not result.get("failed"), result.get("msg")
    listed = sorted(os.path.basename(item["path"]) for item in result["checkpoints"])
    skipped = dict((os.path.basename(item["path"]), item["reason"]) for item in result["not_checkpoints"])
    assert listed == ["good.tar.gz", "status-ipnet-int.tar"]
    assert "nested too deeply" in skipped["spec-deep.tar"] and "KeyError" in skipped["config-list.tar"]
    assert "junk.tar" in skipped and all("\n" not in reason for reason in skipped.values())


def test_an_unexpected_exception_is_one_line_naming_the_archive(archives, monkeypatch):
    """The runner's guard: a bug meeting a hostile input is still one line naming the file."""
    from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import metadata

    def explode(archive):
        raise ZeroDivisionError("evil\n\x1b[2Jname")
    monkeypatch.setattr(metadata, "criu_version", explode)
    result = module_outputs.run_module("checkpoint_info", {"path": archives["lookup"]})
    assert h2.one_line(result, archives["lookup"]) and "ZeroDivisionError" in result["msg"]
    assert "\x1b" not in result["msg"] and "\\x1b[2J" in result["msg"]
