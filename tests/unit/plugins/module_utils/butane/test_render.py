# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""butane rendering: byte-for-byte against butane's and Go's own output, and butane's refusals."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import hashlib
import json
import random
import shutil
from pathlib import Path

import pytest

from ansible_collections.forensic.checkpoint.plugins.module_utils.butane import render as butane
from ansible_collections.forensic.checkpoint.plugins.module_utils.butane.render import ButaneError, render, render_yaml
from ansible_collections.forensic.checkpoint.plugins.module_utils.butane.deflate import gzip_best
from ansible_collections.forensic.checkpoint.plugins.module_utils.butane.goyaml import dump, resolve

FIXTURES = Path(__file__).resolve().parents[4] / "fixtures" / "butane"
ROLE = "machineconfiguration.openshift.io/role"


def config(version="4.13.0", **sections):
    """A minimal valid config as a dict, with extra top-level sections."""
    doc = {"variant": "openshift", "version": version,
           "metadata": {"name": "99-worker-test", "labels": {ROLE: "worker"}}}
    doc.update(sections)
    return doc


def one_file(version="4.13.0", **fields):
    entry = {"path": "/etc/test"}
    entry.update(fields)
    return config(version, storage={"files": [entry]})


def rendered_file(cfg, files_dir=None):
    return render(cfg, files_dir).machine_config["spec"]["config"]["storage"]["files"][0]


def refusal(cfg, files_dir=None):
    with pytest.raises(ButaneError) as caught:
        render(cfg, files_dir)
    message = str(caught.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- byte-for-byte

def test_seed_renders_byte_for_byte_as_the_reference():
    source = (FIXTURES / "05-worker-enable-criu.bu").read_text()
    expected = (FIXTURES / "05-worker-enable-criu.yaml").read_bytes()
    assert render_yaml(source).encode("utf-8") == expected


def test_kitchen_sink_renders_byte_for_byte(tmp_path):
    # authorized_keys is rendered with CRLF line endings; it is stored with LF because ansible-test
    # forbids CRLF in the repository, and restored here.
    files = tmp_path / "files"
    shutil.copytree(str(FIXTURES / "files"), str(files))
    keys = files / "authorized_keys"
    keys.write_bytes(keys.read_bytes().replace(b"\n", b"\r\n"))
    source = (FIXTURES / "99-worker-kitchen-sink.bu").read_text()
    out = render_yaml(source, files_dir=str(files))
    assert out == (FIXTURES / "99-worker-kitchen-sink.yaml").read_text()


def corpus():
    """The inputs of go-gzip-vectors.json (see the fixtures' README)."""
    words = [b"[Unit]", b"Description=", b"ExecStart=/usr/bin/", b"\n", b" ", b"=", b"true", b"crio",
             b"runtime", b"enable_criu_support", b"#", b"0644"]
    rng = random.Random(5)
    cases = {
        "empty": b"",
        "one-byte": b"x",
        "seed-dropin": b"[crio.runtime]\nenable_criu_support = true\n",
        "repeated-line": b"enable_criu_support = true\n" * 40,
        "binary-300": rng.randbytes(300),
        "words-2k": b"".join(rng.choice(words) for _word in range(600)),
        "low-entropy-5k": bytes(rng.randrange(4) for _byte in range(5000)),
    }
    cases["words-120k"] = b"".join(random.Random(7).choice(words) for _word in range(30000))
    cases["binary-70k"] = random.Random(8).randbytes(70000)
    cases["zeros-100k"] = b"\0" * 100000
    return cases


@pytest.mark.parametrize("name, data", sorted(corpus().items()))
def test_gzip_is_gos_gzip_byte_for_byte(name, data):
    want = json.loads((FIXTURES / "go-gzip-vectors.json").read_text())[name]
    got = gzip_best(data)
    if "gzip_b64" in want:
        assert base64.b64encode(got).decode() == want["gzip_b64"]
    else:
        assert (len(got), hashlib.sha256(got).hexdigest()) == (want["length"], want["sha256"])
    assert gzip.decompress(got) == data


def test_gzip_header_is_deterministic():
    # no name, mtime 0, XFL 2 (best compression), OS 255
    assert gzip_best(b"x")[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


def test_yaml_is_yaml_v3_byte_for_byte():
    for vector in json.loads((FIXTURES / "go-yaml-vectors.json").read_text()):
        assert dump(vector["doc"]) == vector["yaml"]


# ---------------------------------------------------------------- data URL choice

def test_text_is_percent_escaped_with_empty_compression():
    contents = rendered_file(one_file(contents={"inline": "a b=c\n"}))["contents"]
    assert contents == {"compression": "", "source": "data:,a%20b%3Dc%0A"}


def test_unreserved_characters_stay_literal():
    assert butane.url_escape(b"AZaz09-_.!~*'()") == "AZaz09-_.!~*'()"
    assert butane.url_escape(b"/:;?&\xff") == "%2F%3A%3B%3F%26%FF"


def test_base64_only_when_strictly_shorter():
    # five NULs: ",%00%00%00%00%00" and ";base64,AAAAAAA=" are both 16 characters
    assert butane.data_url(b"\0" * 5, auto_compress=False) == ("data:,%00%00%00%00%00", "")
    assert butane.data_url(b"\0" * 6, auto_compress=False) == ("data:;base64,AAAAAAAA", "")


def test_binary_contents_become_base64():
    data = random.Random(3).randbytes(90)
    source, compression = butane.data_url(data)
    assert (source, compression) == ("data:;base64," + base64.b64encode(data).decode(), "")


def test_compressible_contents_become_gzip():
    data = b"enable_criu_support = true\n" * 20
    source, compression = butane.data_url(data)
    assert compression == "gzip"
    assert gzip.decompress(base64.b64decode(source[len("data:;base64,"):])) == data


@pytest.mark.parametrize("gzip_length, expect_gzip", [(6, True), (7, False), (9, False)])
def test_gzip_must_beat_by_more_than_the_word_gzip(monkeypatch, gzip_length, expect_gzip):
    # ten spaces: percent-escaped 31 characters, ";base64,ICAgICAgICAgIA==" 24. A 7-byte gzip makes
    # a 20-character URL: shorter, but not once the 4 characters of "gzip" are counted.
    monkeypatch.setattr(butane, "gzip_best", lambda data: b"z" * gzip_length)
    source, compression = butane.data_url(b" " * 10)
    assert (compression == "gzip") is expect_gzip
    expected = "data:;base64," + ("enp6" if expect_gzip else "ICAgICAgICAgIA==")
    assert source.startswith(expected)


def test_given_compression_is_kept_and_not_recompressed():
    contents = rendered_file(one_file(contents={"inline": "x" * 500, "compression": "gzip"}))["contents"]
    assert contents["compression"] == "gzip"
    assert contents["source"] == "data:," + "x" * 500


def test_source_data_url_passes_through_without_compression_key():
    contents = rendered_file(one_file(contents={"source": "data:,hello"}))["contents"]
    assert contents == {"source": "data:,hello"}


# ---------------------------------------------------------------- modes, versions, fields

@pytest.mark.parametrize("text, mode", [("0644", 420), ("0o644", 420), ("0755", 493), ("0600", 384), ("420", 420)])
def test_modes_are_decimal_in_the_output(text, mode):
    source = "variant: openshift\nversion: 4.13.0\nmetadata: {name: x, labels: {%s: worker}}\n" \
             "storage:\n  files:\n    - path: /etc/x\n      mode: %s\n" % (ROLE, text)
    assert "        - mode: %d\n" % mode in render_yaml(source)


def test_decimal_looking_mode_warns():
    result = render(one_file(mode=444))
    assert result.warnings == ["storage.files.0.mode: " + butane.ERR_DECIMAL_MODE]
    assert render(one_file(mode=0o644)).warnings == []


def test_decimal_mode_with_special_bits_is_refused_with_the_hint():
    message = refusal(one_file(mode=644))
    assert message.startswith("storage.files.0.mode: special mode bits are not supported")
    assert "leading zero" in message


@pytest.mark.parametrize("mode", [0o4755, 0o2755, 0o1777])
def test_special_mode_bits_are_refused(mode):
    assert refusal(one_file(mode=mode)) == "storage.files.0.mode: " + butane.ERR_SPECIAL_MODE


@pytest.mark.parametrize("version, ignition", [
    ("4.8.0", "3.2.0"), ("4.13.0", "3.2.0"), ("4.14.0", "3.4.0"), ("4.18.0", "3.4.0"),
    ("4.19.0", "3.5.0"), ("4.21.0", "3.5.0"),
])
def test_ignition_version_follows_the_spec_version(version, ignition):
    assert render(config(version)).machine_config["spec"]["config"]["ignition"]["version"] == ignition


def test_no_auto_compression_before_4_10():
    data = "enable_criu_support = true\n" * 20
    assert rendered_file(one_file("4.9.0", contents={"inline": data}))["contents"]["compression"] == ""
    assert rendered_file(one_file("4.10.0", contents={"inline": data}))["contents"]["compression"] == "gzip"


def test_compression_is_refused_before_4_10():
    message = refusal(one_file("4.9.0", contents={"inline": "x", "compression": "gzip"}))
    assert message == "storage.files.0.contents.compression: " + butane.ERR_COMPRESSION


@pytest.mark.parametrize("variant, version, problem", [
    ("openshift", "4.7.0", "No translator exists for variant openshift with version 4.7.0"),
    ("openshift", "4.22.0", "No translator exists for variant openshift with version 4.22.0"),
    ("openshift", "4.13", "must be a valid semver"),
    ("openshift", "4.18.0-experimental", "experimental spec versions are not supported"),
    ("fcos", "1.5.0", "only renders variant openshift"),
    ("", "4.13.0", "error parsing variant; must be specified"),
])
def test_unknown_variants_and_versions_are_refused(variant, version, problem):
    cfg = config(version)
    cfg["variant"] = variant
    assert problem in refusal(cfg)


def test_yaml_text_and_dict_render_the_same():
    source = (FIXTURES / "05-worker-enable-criu.bu").read_text()
    as_dict = config(storage={"files": [{
        "path": "/etc/crio/crio.conf.d/05-enable-criu", "mode": 0o644, "overwrite": True,
        "contents": {"inline": "[crio.runtime]\nenable_criu_support = true\n"}}]})
    as_dict["metadata"]["name"] = "05-worker-enable-criu"
    assert render(as_dict).text == render_yaml(source)


def test_scalars_decode_like_yaml_v3():
    source = ("variant: openshift\nversion: 4.13.0\nmetadata: {name: x, labels: {%s: worker}}\n"
              "storage:\n  files:\n    - path: /etc/x\n      overwrite: yes\n"
              "      contents: {inline: 0644}\n" % ROLE)
    entry = rendered_file(source)
    assert entry["overwrite"] is True  # YAML 1.1 booleans are accepted in boolean fields
    assert entry["contents"]["source"] == "data:,0644"  # a plain number in a string field is its text
    assert resolve("1e999") == ("str", "1e999") and resolve("0x1F") == ("int", 31)


def test_openshift_section_and_units_render():
    mc = render(config(
        systemd={"units": [{"name": "a.service", "enabled": True, "contents": "[Unit]\n"},
                           {"name": "b.service", "dropins": [{"name": "x.conf", "contents": "[Service]\n"}]}]},
        openshift={"kernel_arguments": ["nosmt"], "extensions": ["usbguard"], "fips": True,
                   "kernel_type": "realtime"},
    )).machine_config
    assert mc["spec"]["kernelArguments"] == ["nosmt"]
    assert mc["spec"]["extensions"] == ["usbguard"]
    assert mc["spec"]["fips"] is True and mc["spec"]["kernelType"] == "realtime"
    assert mc["spec"]["config"]["systemd"]["units"][1]["dropins"] == [{"name": "x.conf", "contents": "[Service]\n"}]


def test_local_contents_are_read_from_files_dir(tmp_path):
    (tmp_path / "conf").write_bytes(b"a=b\n")
    entry = rendered_file(one_file(contents={"local": "conf"}), files_dir=str(tmp_path))
    assert entry["contents"]["source"] == "data:,a%3Db%0A"


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("cfg, expected", [
    (one_file(contents={"source": "https://example.com/x"}),
     "storage.files.0.contents.source: file contents source must be data URL in this spec version"),
    (one_file(append=[{"inline": "x"}]), "storage.files.0.append: " + butane.ERR_APPEND),
    (one_file(contents={"inline": "a", "source": "data:,a"}), "storage.files.0.contents: " + butane.ERR_SOURCES),
    (one_file(contents={"source": "data:,x", "http_headers": [{"name": "a", "value": "b"}]}),
     "storage.files.0.contents.http_headers: " + butane.ERR_HEADERS),
    (config(storage={"directories": [{"path": "/etc/d"}]}), "storage.directories.0: " + butane.ERR_DIRECTORIES),
    (config(storage={"links": [{"path": "/etc/l", "target": "/x"}]}), "storage.links.0: " + butane.ERR_LINKS),
    (config(passwd={"groups": [{"name": "g"}]}), "passwd.groups.0: " + butane.ERR_GROUPS),
    (config(passwd={"users": [{"name": "root"}]}), "passwd.users.0.name: " + butane.ERR_USER_NAME),
    (config(passwd={"users": [{"name": "core", "shell": "/bin/sh"}]}), "passwd.users.0.shell: " + butane.ERR_USER_FIELD),
    (config("4.12.0", passwd={"users": [{"name": "core", "password_hash": "$6$x"}]}),
     "passwd.users.0.password_hash: " + butane.ERR_USER_FIELD),
    (config(kernel_arguments={"should_exist": ["nosmt"]}), "kernel_arguments: " + butane.ERR_KARGS),
    (config(openshift={"kernel_type": "rt"}), "openshift.kernel_type: " + butane.ERR_KERNEL_TYPE),
    (config(storage={"disks": [{"device": "/dev/sda"}]}), "storage.disks: " + butane.NOT_HERE),
    (one_file(overwite=True), "storage.files.0.overwite: unknown key"),
    (one_file(path="etc/x"), "storage.files.0.path: path not absolute"),
    (config(storage={"files": [{"path": "/a"}, {"path": "/a"}]}), "storage.files.1.path: duplicate entry"),
    (config(systemd={"units": [{"name": "x.unit"}]}), "systemd.units.0.name: invalid systemd unit extension"),
    (config(systemd={"units": [{"name": "x.service", "dropins": [{"name": "d.txt"}]}]}),
     "systemd.units.0.dropins.0.name: invalid systemd unit drop-in extension"),
    (one_file(contents={"local": "x"}), "storage.files.0.contents.local: " + butane.ERR_NO_FILES_DIR),
])
def test_refusals_name_the_field(cfg, expected):
    assert refusal(cfg).startswith(expected)


def test_metadata_is_required():
    cfg = config()
    del cfg["metadata"]["labels"]
    assert refusal(cfg) == "metadata.labels: " + butane.ERR_ROLE
    cfg = config()
    cfg["metadata"]["name"] = ""
    assert refusal(cfg) == "metadata.name: " + butane.ERR_NAME


def test_local_files_cannot_escape_files_dir(tmp_path):
    (tmp_path / "inside").mkdir()
    message = refusal(one_file(contents={"local": "../secret"}), files_dir=str(tmp_path / "inside"))
    assert message == "storage.files.0.contents.local: " + butane.ERR_FILES_DIR_ESCAPE


def test_missing_local_file_is_one_clear_line(tmp_path):
    message = refusal(one_file(contents={"local": "nope"}), files_dir=str(tmp_path))
    assert message.startswith("storage.files.0.contents.local: cannot read ")
    assert "No such file" in message


def test_errors_in_yaml_text_carry_the_line():
    source = "variant: openshift\nversion: 4.13.0\nmetadata: {name: x, labels: {%s: w}}\n" \
             "storage:\n  files:\n    - path: /etc/x\n      mode: 04755\n" % ROLE
    assert refusal(source) == "storage.files.0.mode (line 7): " + butane.ERR_SPECIAL_MODE


@pytest.mark.parametrize("source, problem", [
    ("variant: [", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping at the top level"),
    ("variant: openshift\nversion: 4.13.0\nversion: 4.14.0\n", 'mapping key "version" already defined'),
])
def test_bad_yaml_is_one_clear_line(source, problem):
    assert problem in refusal(source)
