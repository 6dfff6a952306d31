# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mounts of the container: as configured (spec.dump, CRI-O's bind.mounts) and as CRIU found them.

The OCI spec says what the engine asked for (what ``checkpointctl inspect --mounts`` shows); the
CRIU mount tree (``mountpoints-<mnt_ns_id>.img``) is what was really mounted when the container
was frozen, including anything the processes mounted themselves.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.criu.imageset import text

MS_RDONLY = 1
# CRIU's mounts listed, all mount namespaces together (a container has tens of them; a crafted
# image, hundreds of thousands: 1.7 GB). The rest are counted in omitted.mounts and said.
MAX_MOUNTS = 10000


def spec_mounts(spec):
    """``[{destination, type, source, options}]`` from spec.dump's ``mounts``."""
    mounts = spec.get("mounts") if isinstance(spec, dict) else None
    result = []
    for mount in mounts if isinstance(mounts, list) else []:
        if isinstance(mount, dict):
            options = mount.get("options")
            result.append({"destination": mount.get("destination"), "type": mount.get("type"),
                           "source": mount.get("source"),
                           "options": [str(o) for o in options] if isinstance(options, list) else []})
    return result


def bind_mounts(value):
    """CRI-O's bind.mounts list, kept as recorded (source, destination, file_type, permissions)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _fstype(entry):
    field = entry.DESCRIPTOR.file.enum_types_by_name.get("fstype")
    value = field.values_by_number.get(entry.fstype) if field is not None else None
    name = value.name.lower() if value is not None else str(entry.fstype)
    if name == "unsupported" and entry.HasField("fsname"):
        return text(entry.fsname)
    return name


def criu_mounts(images, limit=MAX_MOUNTS):
    """(the CRIU mount tree(s), parents first, at most ``limit`` mounts in all; how many more there
    are). ``[]`` when the archive has no mountpoints image."""
    result, more = [], 0
    for name in sorted(images.names("mountpoints-")):
        for entry in _parents_first(images.entries(name, "MNTS")):
            if len(result) < limit:
                result.append(_mount(entry, name))
            else:
                more += 1
    return result, more


def _parents_first(entries):
    ids = set(entry.mnt_id for entry in entries)
    children = {}
    for entry in entries:
        parent = entry.parent_mnt_id if entry.parent_mnt_id in ids and entry.parent_mnt_id != entry.mnt_id else None
        children.setdefault(parent, []).append(entry)
    stack = sorted(children.get(None, []), key=lambda e: text(e.mountpoint), reverse=True)
    seen = set()
    while stack:
        entry = stack.pop()
        if entry.mnt_id in seen:
            continue
        seen.add(entry.mnt_id)
        yield entry
        stack.extend(sorted(children.get(entry.mnt_id, []), key=lambda e: text(e.mountpoint), reverse=True))
    for entry in entries:
        if entry.mnt_id not in seen:
            yield entry


def _mount(entry, image):
    external = text(entry.ext_key) if entry.HasField("ext_key") else None
    if external is None and entry.HasField("ext_mount") and entry.ext_mount:
        external = text(entry.root)
    return {
        "mount_id": entry.mnt_id,
        "parent_id": entry.parent_mnt_id,
        "mountpoint": text(entry.mountpoint),
        "root": text(entry.root),
        "source": text(entry.source),
        "fstype": _fstype(entry),
        "options": text(entry.options),
        "read_only": bool((entry.sb_flags if entry.HasField("sb_flags") else 0) & MS_RDONLY
                          or entry.flags & MS_RDONLY),
        "external": external,
        "namespace_image": image,
    }
