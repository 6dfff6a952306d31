# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checkpoint metadata: which engine made an archive, what container it holds, and its sizes.

Everything comes from the small metadata members (config.dump, spec.dump, network.status,
stats-dump, dump.log) and the tar headers; names are read from ``spec.dump`` annotations, never
parsed out of the archive's file name (kubelet names carry colons and offsets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import codecs
import datetime
import json
import os
import re

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import images as criu_images
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu import names
from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.archive import CheckpointArchive, is_pages_image
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import ArchiveError, CheckpointError, unexpected

METADATA_MEMBERS = frozenset(("config.dump", "spec.dump", "network.status", "stats-dump", "dump.log"))
CRIU_VERSION = re.compile(r"Version:\s*([0-9][0-9.]*)")

ENGINE_PODMAN = "Podman"
ENGINE_CRIO = "CRI-O"
ENGINE_CONTAINERD = "containerd"


TEXT_FIELDS = ("container", "pod", "namespace", "image", "image_id", "id", "runtime", "created", "checkpointed", "ip")


def keep_metadata(name, size):
    """Keep-policy for CheckpointArchive when only metadata is needed."""
    return name in METADATA_MEMBERS and size <= 16 * 1024 * 1024


def load_json(archive, name):
    """A JSON metadata member as a dict, or None when the archive does not have it.

    Read whole: config.dump, spec.dump, network.status and bind.mounts are documents whose meaning
    needs all of them (a spec cut in half is no spec), and the engines write them in kilobytes, so
    past KEEP_MEMBER_LIMIT archive.read refuses them in one line naming the member. The one list
    that grows with the container's activity, deleted.files, is streamed (json_array_items)."""
    if not archive.has(name):
        return None
    try:
        value = parse_json(archive.read(name).decode("utf-8"))
    except TooManyValues:
        raise ArchiveError(archive.path, "%s holds more than %d JSON values: not a container's metadata" % (
            name, JSON_VALUE_LIMIT))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(archive.path, "%s is not valid JSON (%s)" % (name, str(exc).splitlines()[0]))
    except RecursionError:  # json nests on the C stack's behalf: 100k "[" is a hostile document
        raise ArchiveError(archive.path, "%s is nested too deeply to be a container's metadata" % name)
    if not isinstance(value, (dict, list)):
        raise ArchiveError(archive.path, "%s holds a JSON %s, not an object" % (name, type(value).__name__))
    return value


# A container's metadata documents hold a few thousand values (spec.dump ~1,700 in 24 kB). Python
# holds each in 50-100 bytes, so 16 MB of ``{},`` (a few kB compressed) would take 440 MB.
JSON_VALUE_LIMIT = 200000


class TooManyValues(ValueError):
    pass


def parse_json(text):
    """json.loads of a metadata document or annotation, refused (TooManyValues) past JSON_VALUE_LIMIT
    values, counted before parsing in linear time: strings by their quotes, the other values by the
    commas and brackets outside strings."""
    plain = text.replace("\\\\", "").replace('\\"', "")  # left: the quotes that open or close strings
    values = plain.count('"') // 2
    if values <= JSON_VALUE_LIMIT:  # else too many strings alone (and too many pieces to split into)
        values += sum(part.count(",") + part.count("[") + part.count("{") for part in plain.split('"')[0::2])
    if values > JSON_VALUE_LIMIT:
        raise TooManyValues("more than %d values" % JSON_VALUE_LIMIT)
    return json.loads(text)


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
JSON_ITEM_LIMIT = 1 << 20  # one item of a streamed list: a path is at most PATH_MAX (4096), 6x when escaped
JSON_READ_SIZE = 256 * 1024


def json_array_items(fileobj):
    """The items of the JSON array in ``fileobj``, one at a time, in memory bounded by
    JSON_ITEM_LIMIT whatever the document's size, in one linear pass.

    Raises ValueError (one line; the items before it were yielded) for a document that is not an
    array, not valid JSON or not UTF-8, or has an item longer than JSON_ITEM_LIMIT. The json
    module has no incremental parser: its scanner runs over a window that slides along the text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    scan = _DECODER.scan_once
    window = {"text": "", "eof": False}

    def fill(pos):  # the window from ``pos`` on, plus one more read; ``pos`` is then 0
        chunk = fileobj.read(JSON_READ_SIZE)
        window["text"] = window["text"][pos:] + decoder.decode(chunk, final=not chunk)
        window["eof"] = not chunk
        return 0

    def token(pos):
        """(position, character) of the next token from ``pos`` on, reading on as needed."""
        while True:
            text = window["text"]
            pos = _WHITESPACE.match(text, pos).end()
            if pos < len(text) or window["eof"]:
                return pos, text[pos:pos + 1]
            pos = fill(pos)

    count = 0
    try:
        pos, char = token(0)
        if char != "[":
            raise ValueError("not a JSON list")
        pos, char = token(pos + 1)
        while char != "]":
            text = window["text"]
            try:
                value, end = scan(text, pos)
                # A number or word that ends the window may go on in the next read.
                complete = end < len(text) or window["eof"]
            except (StopIteration, ValueError):  # no value here, or one cut by the window's end
                if window["eof"]:
                    raise ValueError("not valid JSON after item %d" % count)
                complete = False
            except RecursionError:
                raise ValueError("item %d is nested too deeply" % count)
            if not complete:
                if len(text) - pos > JSON_ITEM_LIMIT:
                    raise ValueError("item %d is longer than %d bytes" % (count, JSON_ITEM_LIMIT))
                pos = fill(pos)
                continue
            count += 1
            yield value
            pos, char = token(end)
            if char == ",":
                pos, char = token(pos + 1)
                if char == "]":
                    raise ValueError("a trailing comma after item %d" % count)
            elif char != "]":
                raise ValueError("expected ',' or ']' after item %d" % count)
    except UnicodeDecodeError as exc:
        raise ValueError("not UTF-8 (%s)" % exc.reason)


def text_annotations(annotations, warnings):
    """spec.dump's annotations that are text, as OCI defines them (a map of strings); the others
    are dropped, with a warning naming them."""
    wrong = sorted(key for key, value in annotations.items() if not isinstance(value, str))
    if wrong:
        warnings.append("spec.dump: %d annotations are not strings and are ignored (%s)" % (
            len(wrong), ", ".join(str(key) for key in wrong[:5]) + (", ..." if len(wrong) > 5 else "")))
        return dict((key, value) for key, value in annotations.items() if isinstance(value, str))
    return annotations


def detect_engine(annotations):
    manager = annotations.get("io.container.manager")
    if manager == "libpod":
        return ENGINE_PODMAN
    if manager == "cri-o":
        return ENGINE_CRIO
    if "io.kubernetes.cri.container-name" in annotations:
        return ENGINE_CONTAINERD
    return None


def _json_annotation(annotations, key):
    try:
        value = parse_json(annotations.get(key) or "{}")
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _mapping(value, what, warnings):
    if value is None or isinstance(value, dict):
        return value or {}
    warnings.append("network.status: %s is a JSON %s, not an object; ignored" % (what, type(value).__name__))
    return {}


def _sequence(value, what, warnings):
    if value is None or isinstance(value, list):
        return value or []
    warnings.append("network.status: %s is a JSON %s, not a list; ignored" % (what, type(value).__name__))
    return []


def _string(value, what, warnings):
    if value is None or isinstance(value, str):
        return value
    warnings.append("network.status: %s is a JSON %s, not a string; ignored" % (what, type(value).__name__))
    return None


def network_status(status, warnings):
    """network.status in the shape the engines read, parts of any other shape dropped with a warning:
    netavark's ``{net: {interfaces: {if: {subnets: [{ipnet, gateway}], mac_address}}}}`` (dict), or
    CNI's ``[{ips: [{address}]}]`` (list)."""
    if isinstance(status, list):
        results = []
        for index, result in enumerate(status):
            ips = _sequence(_mapping(result, "result %d" % index, warnings).get("ips"), "result %d ips" % index, warnings)
            addresses = [_mapping(ip, "an address", warnings).get("address") for ip in ips]
            results.append({"ips": [{"address": _string(address, "an address", warnings)} for address in addresses]})
        return results
    networks = {}
    for name, network in sorted(_mapping(status, "the document", warnings).items()):
        interfaces = {}
        where = "network %s" % name
        for iface, data in sorted(_mapping(_mapping(network, where, warnings).get("interfaces"), where + " interfaces",
                                           warnings).items()):
            where = "network %s interface %s" % (name, iface)
            data = _mapping(data, where, warnings)
            subnets = [_mapping(subnet, where + " subnet", warnings) for subnet in
                       _sequence(data.get("subnets"), where + " subnets", warnings)]
            interfaces[iface] = {
                "subnets": [{"ipnet": _string(subnet.get("ipnet"), where + " ipnet", warnings),
                             "gateway": _string(subnet.get("gateway"), where + " gateway", warnings)}
                            for subnet in subnets],
                "mac_address": _string(data.get("mac_address"), where + " mac_address", warnings)}
        networks[name] = {"interfaces": interfaces}
    return networks


def podman_ip(status):
    """First address in a ``network_status`` document."""
    if isinstance(status, dict):
        for network in status.values():
            for iface in network["interfaces"].values():
                for subnet in iface["subnets"]:
                    if subnet["ipnet"]:
                        return subnet["ipnet"].split("/")[0]
    else:
        for result in status:
            for ip in result["ips"]:
                if ip["address"]:
                    return ip["address"].split("/")[0]
    return None


def _mtime_iso(archive, name):
    if not archive.has(name):
        return None
    try:
        stamp = datetime.datetime.fromtimestamp(archive.member(name).mtime, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError, TypeError):  # a forged header: 1<<62, negative pax mtime
        return None
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def sizes(archive):
    checkpoint = memory = 0
    for member in archive.files(names.IMAGE_DIR):
        checkpoint += member.size
        if is_pages_image(member.name):
            memory += member.size
    rootfs = archive.member("rootfs-diff.tar").size if archive.has("rootfs-diff.tar") else 0
    return {"checkpoint": checkpoint, "memory_pages": memory, "rootfs_diff": rootfs}


def dump_statistics(archive, warnings):
    """CRIU's dump statistics (what ``checkpointctl show --stats`` prints), when decodable."""
    if not archive.has("stats-dump"):
        return None
    try:
        image = criu_images.decode("stats-dump", archive.read("stats-dump"), expect="STATS")
    except CheckpointError as exc:
        warnings.append("dump statistics not read: %s" % exc)
        return None
    dump = image.first().dump
    return dict((field.name, value) for field, value in dump.ListFields())


def criu_version(archive):
    """The CRIU version from dump.log's first lines: only its head is read, since a log written
    with -v4 has no size bound (a compressed archive holds members up to KEEP_MEMBER_LIMIT)."""
    if not archive.has("dump.log") or not archive.member("dump.log").is_file:
        return None
    head = archive.head("dump.log", 4096)
    match = CRIU_VERSION.search(head.decode("utf-8", "replace")) if head else None
    return match.group(1) if match else None


def describe(archive):
    """The metadata of one opened archive, as checkpoint_info returns it."""
    if not archive.names(names.IMAGE_DIR):
        raise ArchiveError(archive.path, "not a checkpoint archive (no checkpoint/ directory)")
    warnings = list(archive.warnings)
    config = load_json(archive, "config.dump") or {}
    spec = load_json(archive, "spec.dump") or {}
    if not config:
        warnings.append("config.dump is missing: container name, image and times are unknown")
    if not spec:
        warnings.append("spec.dump is missing: the engine and pod names are unknown")
    annotations = spec.get("annotations") if isinstance(spec, dict) else None
    annotations = text_annotations(annotations if isinstance(annotations, dict) else {}, warnings)
    config = config if isinstance(config, dict) else {}
    engine = detect_engine(annotations)
    info = {
        "path": archive.path,
        "name": os.path.basename(archive.path),
        "engine": engine,
        "container": config.get("name"),
        "pod": None,
        "namespace": None,
        "image": config.get("rootfsImageName") or config.get("rootfsImage"),
        "image_id": config.get("rootfsImageID") or config.get("rootfsImageRef"),
        "id": config.get("id"),
        "runtime": config.get("runtime"),
        "created": config.get("createdTime"),
        "checkpointed": config.get("checkpointedTime"),
        "ip": None,
        "criu_version": criu_version(archive),
        "sizes": sizes(archive),
        "archive": {"size": archive.size, "compression": archive.compression, "sha256": archive.sha256},
    }
    if engine == ENGINE_PODMAN:
        info["pod"] = config.get("pod") or None
        info["ip"] = podman_ip(network_status(load_json(archive, "network.status"), warnings))
        # libpod's config.dump has no checkpoint time; the CRIU images' tar headers do.
        info["checkpointed"] = info["checkpointed"] or _mtime_iso(archive, names.INVENTORY)
    elif engine == ENGINE_CRIO:
        info["container"] = _json_annotation(annotations, "io.kubernetes.cri-o.Metadata").get("name") \
            or annotations.get("io.kubernetes.container.name") or info["container"]
        info["pod"] = annotations.get("io.kubernetes.pod.name")
        info["namespace"] = annotations.get("io.kubernetes.pod.namespace")
        info["image"] = info["image"] or annotations.get("io.kubernetes.cri-o.ImageName")
        info["created"] = annotations.get("io.kubernetes.cri-o.Created") or info["created"]
        info["ip"] = annotations.get("io.kubernetes.cri-o.IP.0")
    elif engine == ENGINE_CONTAINERD:
        info["container"] = annotations.get("io.kubernetes.cri.container-name") or info["container"]
        info["pod"] = annotations.get("io.kubernetes.cri.sandbox-name")
        info["namespace"] = annotations.get("io.kubernetes.cri.sandbox-namespace")
        info["image"] = info["image"] or annotations.get("io.kubernetes.cri.image-name")
    else:
        warnings.append("engine not recognised from spec.dump annotations (no io.container.manager)")
    for key in TEXT_FIELDS:  # what the engines read as text: any other JSON shape is dropped
        if info[key] is not None and not isinstance(info[key], str):
            warnings.append("metadata field %s is a JSON %s, not a string; ignored" % (key, type(info[key]).__name__))
            info[key] = None
    if info["checkpointed"] in (None, "0001-01-01T00:00:00Z"):
        info["checkpointed"] = _mtime_iso(archive, names.INVENTORY)
    info["stats"] = dump_statistics(archive, warnings)
    info["warnings"] = warnings
    return info


def inspect_path(path, checksum=False):
    """Metadata of one archive (errors raise) — opened with only the metadata kept in memory."""
    with CheckpointArchive(path, keep=keep_metadata, checksum=checksum) as archive:
        return describe(archive)


def scan(path, checksum=False):
    """checkpoint_info's work: one archive, or every checkpoint archive directly inside a directory.

    Returns (checkpoints, skipped); inside a directory an unreadable file is skipped with its
    reason rather than failing the whole listing.
    """
    if not os.path.isdir(path):
        if not os.path.lexists(path):
            raise ArchiveError(path, "no such file or directory")
        return [inspect_path(path, checksum)], []
    checkpoints, skipped = [], []
    try:
        entries = sorted(os.listdir(path))
    except OSError as exc:
        raise ArchiveError(path, "cannot list directory (%s)" % (exc.strerror or exc))
    for entry in entries:
        full = os.path.join(path, entry)
        if not os.path.isfile(full):
            skipped.append({"path": full, "reason": "not a regular file"})
            continue
        try:
            checkpoints.append(inspect_path(full, checksum))
        except CheckpointError as exc:
            skipped.append({"path": full, "reason": exc.problem})
        except Exception as exc:  # pylint: disable=broad-except
            # one malformed archive never hides the others: listed with why
            skipped.append({"path": full, "reason": unexpected(exc)})
    return checkpoints, skipped
