#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: checkpoint_analyze
short_description: Analyse a container checkpoint archive offline
version_added: 0.1.0
description:
  - Reads a container checkpoint archive (Podman, CRI-O/kubelet or containerd; plain tar, gzip or zstd)
    and returns what was running in the container when it was frozen, everything
    C(checkpointctl inspect --all) shows and more.
  - The process tree with each process's full command line and environment (read from the dumped
    memory by random access through the pagemap, so memory size does not matter), credentials,
    effective capabilities, state, executable, cwd and root; open files (deleted files flagged, and
    their content recovered from CRIU's ghost files with size and SHA-256); sockets with IPv4-mapped
    IPv6 addresses shown as IPv4 and the bytes queued on TCP connections; mounts as configured and
    as CRIU found them; the files the container changed and deleted.
  - CRIU images written by CRIU 3.x, 4.1 and 4.2 (which moved the pagemap's page count) are read alike.
  - Nothing is extracted to disk unless O(export_dir) asks for it, and the archive is opened read-only.
  - An image that is missing gives a partial result with RV(analysis.warnings); an image that is
    present but corrupt, or an archive that is not a readable checkpoint, fails the task with one
    line naming the file and the problem.
author:
  - forensic.checkpoint contributors (@forensic-checkpoint)
options:
  path:
    description:
      - The checkpoint archive.
    type: path
    required: true
  redact_secrets:
    description:
      - Redact environment values whose variable name contains C(KEY), C(SECRET), C(TOKEN),
        C(PASS) (C(PASSWORD), C(PASSWD)) or C(CREDENTIAL) (any case), the variables the
        C(secret.env-variable) rule reports.
      - Every credential shape a C(secret.*) rule detects (AWS keys, C(Authorization) headers, JWTs,
        PEM private keys (also JSON-escaped, as in a GCP service account key), passwords in URLs,
        GitHub, GitLab, Slack (tokens and webhook URLs), Stripe and Vault tokens, kubeconfig tokens and
        C(client-key-data), C(password=)/C(token:)/C(X-Api-Key:) assignments) is redacted the same way wherever it shows in the result, the report and
        warnings, also when a context window cuts it short.
      - A redacted value reads C(<first 4 characters>...sha256:<64 hex digits>), the hash being the
        SHA-256 of the whole value encoded as UTF-8; values of 8 characters or fewer show no
        characters, only C(...sha256:<hex>).
      - Every other occurrence of such a value (at least 6 characters long) in other environment
        values, command lines and annotations is replaced by the same redacted form, so a secret
        copied elsewhere (for example into an attacker's variable) does not leak either.
      - Memory, recovered files and exported files are evidence and are never redacted.
    type: bool
    default: true
  include:
    description:
      - Which sections to compute. V(processes) adds credentials, command lines, environments and
        memory sizes; V(files) and V(sockets) add the per-process RV(analysis.processes[].files) and
        RV(analysis.processes[].sockets) lists (each on its own still lists the process tree);
        V(stats) adds RV(analysis.stats).
      - RV(analysis.container) is always returned.
    type: list
    elements: str
    choices: [processes, files, sockets, mounts, rootfs, stats]
    default: [processes, files, sockets, mounts, rootfs, stats]
  export_dir:
    description:
      - A directory to write evidence to (created with mode 0700 if missing). What is written is
        chosen by O(export).
      - Files are written with mode 0600, below C(recovered/) (deleted files, under their original
        path) and C(rootfs/) (files from the rootfs diff, under their container path). Paths are
        checked component by component and never lead outside O(export_dir); symlinks in the way
        are not followed.
      - Only regular files are written; links, devices, FIFOs and setuid/setgid files (recovered
        or from the rootfs diff) are refused and listed in RV(analysis.export_skipped) (a refused
        recovered file's size and SHA-256 are still in RV(analysis.processes[].files)).
      - A file already present with the same content is left alone, so repeated runs report no change.
    type: path
  export:
    description:
      - What to write to O(export_dir). Defaults to both when O(export_dir) is set.
    type: list
    elements: str
    choices: [recovered, rootfs]
  export_limit:
    description:
      - The most bytes one run writes to O(export_dir), all files together (their logical size;
        all-zero blocks are written as holes, so a sparse or zero-filled file costs little disk).
      - A file that would pass the limit is not written (nothing half-written is left) and is
        listed in RV(analysis.export_skipped); the export goes on with smaller files.
      - A few MiB of archive can declare gigabytes (a zero-filled file in the rootfs diff, a sparse
        deleted file), hence a limit by default.
    type: int
    default: 1073741824
  max_processes:
    description:
      - The most processes listed in RV(analysis.processes) (the first ones of the process tree);
        V(0) lists all. Each process's RV(analysis.processes[].threads) and
        RV(analysis.processes[].children) list at most as many ids.
      - Findings, the report's counts and RV(analysis.omitted) cover every process; a warning says
        how many were left out. A crafted process tree of 50,000 entries would otherwise make a
        result of hundreds of MB, which Ansible holds several times over.
      - Whatever this option says, the first 32,768 tasks of C(pstree.img) (tree order) and 1,048,576
        thread ids in all are read; what a crafted tree lists past that is counted in
        RV(analysis.stats) and RV(analysis.omitted), said in a warning, and seen by no finding. A
        C(pstree.img) over 8 MiB, more than such a tree takes, is not decoded.
    type: int
    default: 1000
  max_files:
    description:
      - The most open files listed for one process in RV(analysis.processes[].files); V(0) lists all.
      - Findings cover every file; RV(analysis.omitted.files) and a warning count those left out.
      - Sockets are open files too; RV(analysis.processes[].sockets) lists as many, counted apart
        (RV(analysis.omitted.sockets)).
    type: int
    default: 1000
  max_total_files:
    description:
      - The most open files listed in RV(analysis.processes[].files) of all processes together; the
        first processes of the tree keep theirs first (each still at most O(max_files)); V(0) lists all.
      - O(max_processes) times O(max_files) alone allows a million rows, a result Ansible cannot
        carry (20,000 rows cost the controller about 200 MB).
      - Findings cover every file; RV(analysis.omitted.files) and a warning count those left out.
      - RV(analysis.processes[].sockets) of all processes together list as many sockets, counted apart
        (RV(analysis.omitted.sockets)).
    type: int
    default: 10000
  max_rootfs_entries:
    description:
      - The most entries listed in RV(analysis.rootfs.changed) and in RV(analysis.rootfs.deleted) each;
        V(0) lists all.
      - Findings cover every entry; RV(analysis.omitted.rootfs) and a warning count those left out.
    type: int
    default: 10000
  checksum:
    description:
      - Also compute the archive's SHA-256 (C(analysis.container.archive.sha256)), for chain-of-custody
        records. Free for a compressed archive; a plain tar is read once more in full.
    type: bool
    default: false
  scan_memory:
    description:
      - Search process memory for the findings' memory-scoped rules (built-in secrets, O(indicators),
        O(yara_rules)), all of them in one pass over each page run.
      - Set to V(false) for metadata-only speed; files, environments and command lines are still
        checked.
    type: bool
    default: true
requirements:
  - python >= 3.9
  - pycriu, from the distribution's criu package (Debian/Ubuntu C(criu), Fedora/RHEL C(python3-criu))
  - zstandard (for zstd-compressed archives)
  - jmespath (for findings rules)
  - yara-python (optional, for O(yara_rules))
  - hyperscan (optional; without it the memory scan runs every pattern in Python, several times slower)
notes:
  - Memory pages are never copied to a temporary directory. A plain tar is read in place; a
    compressed archive is decompressed once, streaming, the analysis, the findings' memory and file
    scans and O(checksum) all served by that one pass. An archive whose pages images come before
    their pagemaps (the kubelet's CRI-O layout) is streamed a second time for those pages only.
  - Checkpoint archives hold every memory page of the container and must be treated as secrets,
    whatever O(redact_secrets) says about this module's output.
  - Other modules of this collection may add further keys to the analysis (for example C(findings)).
extends_documentation_fragment:
  - forensic.checkpoint.findings
seealso:
  - module: forensic.checkpoint.checkpoint_info
  - module: forensic.checkpoint.checkpoint_diff
  - name: checkpointctl inspect
    description: The upstream command whose C(--all --format json) output this module covers.
    link: https://github.com/checkpoint-restore/checkpointctl
attributes:
  check_mode:
    support: full
    description: In check mode nothing is written to O(export_dir) or O(report); RV(changed),
      RV(analysis.exported[].changed) and C(report.changed) say what would be written.
  diff_mode:
    support: none
    description: The module reports what it exported in RV(analysis.exported) instead of a diff.
"""

EXAMPLES = r"""
- name: Analyse a checkpoint the kubelet wrote
  forensic.checkpoint.checkpoint_analyze:
    path: /var/lib/kubelet/checkpoints/checkpoint-counters-7d9f8b6c5d-x2x4q_demo-counter-2026-11-26T22:20:40Z.tar
  register: result

- name: Show the process tree with command lines
  ansible.builtin.debug:
    msg: "{{ item.pid }} (parent {{ item.ppid }}): {{ item.cmdline }}"
  loop: "{{ result.analysis.processes }}"

- name: Only processes and sockets, keeping secrets visible (the output is evidence too)
  forensic.checkpoint.checkpoint_analyze:
    path: /evidence/lookup-compromised.tar.gz
    include: [processes, sockets]
    redact_secrets: false

- name: Recover deleted-but-open files and the changed files for offline review
  forensic.checkpoint.checkpoint_analyze:
    path: /evidence/lookup-compromised.tar.gz
    export_dir: /evidence/lookup-export
    export: [recovered, rootfs]

- name: Gate a CI job on the findings and keep an HTML report
  forensic.checkpoint.checkpoint_analyze:
    path: /evidence/lookup-compromised.tar.gz
    report: /evidence/lookup-report.html
    case_id: IR-2026-117
    indicators: [10.88.0.1, evil.example.com]
    fail_on_severity: high

- name: List established connections from the fact the module sets
  ansible.builtin.debug:
    msg: "pid {{ item.0.pid }}: {{ item.1.local_address }}:{{ item.1.local_port }} <- {{ item.1.remote_address }}:{{ item.1.remote_port }}"
  loop: "{{ checkpoint_analysis.processes | subelements('sockets') }}"
  when: item.1.state == 'ESTABLISHED'
"""

RETURN = r"""
analysis:
  description:
    - The analysis of the archive. The same dictionary is set as the fact C(checkpoint_analysis).
    - Keys of sections left out of O(include) are absent.
  returned: always
  type: dict
  contains:
    path:
      description: The archive analysed.
      type: str
      returned: always
    include:
      description: The sections computed, in canonical order.
      type: list
      elements: str
      returned: always
      sample: [processes, files, sockets, mounts, rootfs, stats]
    redacted:
      description: Whether secret-looking environment values were redacted (O(redact_secrets)).
      type: bool
      returned: always
    container:
      description:
        - The container's metadata, as M(forensic.checkpoint.checkpoint_info) returns it in
          RV(forensic.checkpoint.checkpoint_info#module:checkpoints) (engine, container, pod, namespace,
          image, image_id, id, runtime, created, checkpointed, ip, criu_version, sizes, archive, stats),
          without its warnings (they are in RV(analysis.warnings)), plus the keys below.
      type: dict
      returned: always
      contains:
        stats:
          description: CRIU's dump statistics from C(stats-dump) (times in microseconds, page counts); null when absent.
          type: dict
          returned: always
          sample: {freezing_time: 102099, frozen_time: 220556, memdump_time: 28197, memwrite_time: 21331,
                   pages_scanned: 3122, pages_written: 2990}
        annotations:
          description: The OCI annotations from C(spec.dump) (pod, namespace, SCC, CRI-O metadata...).
          type: dict
          returned: always
          sample: {io.container.manager: cri-o, io.kubernetes.pod.namespace: demo}
        networks:
          description: Podman's networks from C(network.status); empty for CRI-O and containerd.
          type: list
          elements: dict
          returned: always
          sample: [{name: podman, interfaces: {eth0: {ip: 10.88.0.9, gateway: 10.88.0.1, mac: "ae:ec:11:61:f6:f1"}}}]
        mac:
          description: The first interface's MAC address, when recorded.
          type: str
          returned: always
          sample: "ae:ec:11:61:f6:f1"
        hostname:
          description: The container's host name (its UTS namespace, from CRIU's C(utsns) image).
          type: str
          returned: always
          sample: a5df3ef4ec9b
    processes:
      description: One entry per task, parents before children, children in the order CRIU recorded them.
      type: list
      elements: dict
      returned: when O(include) has processes, files or sockets
      contains:
        pid:
          description: Process ID inside the container's PID namespace.
          type: int
          sample: 16
        ppid:
          description: Parent's PID (0 for the container's init).
          type: int
        pgid:
          description: Process group ID.
          type: int
        sid:
          description: Session ID.
          type: int
        comm:
          description: The kernel's 15-character process name.
          type: str
          sample: busybox
        threads:
          description: Thread IDs, the main thread first.
          type: list
          elements: int
        children:
          description: PIDs of the direct children.
          type: list
          elements: int
        state:
          description:
            - The task state CRIU recorded (1 alive, 2 dead, 3 stopped); unexpected values read
              C(unknown (N)).
          type: str
          choices: [running, stopped, zombie]
        exit_code:
          description: Exit code of a zombie; null otherwise.
          type: int
          returned: when O(include) has processes
        uid:
          description: Real user ID.
          type: int
          returned: when O(include) has processes
        gid:
          description: Real group ID.
          type: int
          returned: when O(include) has processes
        euid:
          description: Effective user ID.
          type: int
          returned: when O(include) has processes
        egid:
          description: Effective group ID.
          type: int
          returned: when O(include) has processes
        capabilities:
          description: Effective capabilities, by name.
          type: list
          elements: str
          returned: when O(include) has processes
          sample: [CAP_CHOWN, CAP_NET_BIND_SERVICE, CAP_SETUID]
        seccomp:
          description: Seccomp mode of the main thread.
          type: str
          choices: [disabled, strict, filter]
          returned: when O(include) has processes
        argv:
          description: The full argument vector, read from the process's memory.
          type: list
          elements: str
          returned: when O(include) has processes
          sample: [busybox, nc, -ll, -p, "4444", -e, /bin/sh]
        cmdline:
          description: RV(analysis.processes[].argv) joined with spaces.
          type: str
          returned: when O(include) has processes
          sample: busybox nc -ll -p 4444 -e /bin/sh
        env:
          description: The environment, read from the process's memory (first definition wins), redacted per O(redact_secrets).
          type: dict
          returned: when O(include) has processes
          sample: {HOME: /root, AWS_SECRET_ACCESS_KEY: "wJal...sha256:78314b11be2e581549ac1c4f616563fad3fdf0c3b71678f6e2299182080e0598"}
        memory_size:
          description: Bytes of memory pages dumped for the process.
          type: int
          returned: when O(include) has processes
        exe:
          description: Path of the executable.
          type: str
          sample: /usr/bin/busybox
        exe_deleted:
          description: Whether the executable had been deleted (its content may be recoverable, see the C(exe) entry of RV(analysis.processes[].files)).
          type: bool
        cwd:
          description: Working directory.
          type: str
        root:
          description: Root directory (C(/) unless the process chrooted).
          type: str
        files:
          description:
            - Open file descriptors, then entries for C(cwd), C(root) and C(exe).
            - Entries of deleted regular files also have C(recoverable), C(size), C(bytes_present), C(sha256) and C(reason).
          type: list
          elements: dict
          returned: when O(include) has files
          contains:
            fd:
              description: The descriptor number, or C(cwd), C(root) or C(exe).
              type: raw
              sample: 3
            id:
              description: CRIU's file ID (the same open file shared by several descriptors or processes has one ID).
              type: int
            type:
              description: CRIU's file type.
              type: str
              sample: REG
              choices: [REG, PIPE, FIFO, INETSK, UNIXSK, PACKETSK, NETLINKSK, EVENTFD, EVENTPOLL, SIGNALFD, TIMERFD,
                        INOTIFY, FANOTIFY, TTY, NS, TUNF, EXT, MEMFD, BPFMAP, UNKNOWN]
            path:
              description: The path C(/proc/PID/fd) would show (C(pipe:[N]), C(socket:[inode]), C(anon_inode:[eventfd])...).
              type: str
              sample: /var/log/lookup-audit.log
            deleted:
              description: Whether the file had been deleted while open (or a unix socket's bound file removed).
              type: bool
            flags:
              description: The open flags, access mode first.
              type: list
              elements: str
              sample: [O_WRONLY, O_APPEND, O_LARGEFILE]
            cloexec:
              description: Whether the descriptor is close-on-exec; null for cwd, root and exe.
              type: bool
            pos:
              description: File offset, for regular files and memfds.
              type: int
            mode:
              description: Permission bits of a regular file or directory, in octal.
              type: str
              sample: "0644"
            recoverable:
              description: Whether the content of the deleted file is in the archive (a ghost file).
              type: bool
              returned: for deleted regular files
            size:
              description: Size in bytes of the deleted file, as CRIU declared it.
              type: int
              returned: for deleted regular files
            bytes_present:
              description:
                - Bytes of the deleted file's content actually held in the archive (a sparse file's holes not counted).
                - C(recoverable) is true only when the content is complete.
              type: int
              returned: for deleted regular files with a ghost image
            sha256:
              description: SHA-256 of the recovered content.
              type: str
              returned: for deleted regular files
            reason:
              description: Why a deleted file is not recoverable; null when it is.
              type: str
              returned: for deleted regular files
        sockets:
          description:
            - The process's sockets, one entry per descriptor, in descriptor order (at most
              O(max_files), and O(max_total_files) in all processes together).
          type: list
          elements: dict
          returned: when O(include) has sockets
          contains:
            fd:
              description: The descriptor number.
              type: int
            id:
              description: CRIU's file ID.
              type: int
            inode:
              description: The socket's inode number (as in C(socket:[inode])).
              type: int
            family:
              description: Address family.
              type: str
              choices: [unix, ipv4, ipv6, packet, netlink]
            type:
              description: Socket type.
              type: str
              sample: stream
            protocol:
              description: Protocol (tcp, udp... for inet; the netlink family; the ethertype for packet sockets).
              type: str
              sample: tcp
            state:
              description: Connection state, the kernel's name for it (C(include/net/tcp_states.h) without C(TCP_)).
              type: str
              sample: ESTABLISHED
            local_address:
              description: Local address (inet); IPv4-mapped IPv6 addresses are shown as IPv4.
              type: str
              returned: for inet sockets
              sample: 10.88.0.9
            local_port:
              description: Local port.
              type: int
              returned: for inet sockets
            remote_address:
              description: Peer address (inet), IPv4-mapped IPv6 shown as IPv4; the zero address when unconnected.
              type: str
              returned: for inet sockets
              sample: 10.88.0.1
            remote_port:
              description: Peer port (0 when unconnected).
              type: int
              returned: for inet sockets
            ipv4_mapped:
              description: Whether an IPv6 socket's addresses were IPv4-mapped.
              type: bool
              returned: for inet sockets
            backlog:
              description: Listen backlog of a listening socket.
              type: int
            in_queue:
              description: Bytes received but not yet read, from the C(tcp-stream) image.
              type: int
              returned: for inet sockets
            out_queue:
              description: Bytes written but not yet acknowledged, from the C(tcp-stream) image.
              type: int
              returned: for inet sockets
            queued:
              description: Bytes of packets queued on the socket (C(sk-queues) image), when any.
              type: int
            path:
              description: Bound path of a unix socket (C(@name) for abstract names).
              type: str
              returned: for unix sockets
            peer:
              description: Inode of the connected peer of a unix socket.
              type: int
              returned: for unix sockets
            peer_path:
              description: Bound path of that peer, when it is in the checkpoint.
              type: str
              returned: for unix sockets
            send_buf:
              description: SO_SNDBUF in bytes.
              type: int
            recv_buf:
              description: SO_RCVBUF in bytes.
              type: int
    mounts:
      description: The container's mounts.
      type: dict
      returned: when O(include) has mounts
      contains:
        spec:
          description: Mounts from the OCI spec (C(spec.dump)), as C(checkpointctl inspect --mounts) lists them.
          type: list
          elements: dict
          sample: [{destination: /proc, type: proc, source: proc, options: [nosuid, noexec, nodev]}]
        criu:
          description:
            - The mount tree CRIU recorded, parents first; each with mount_id, parent_id, mountpoint,
              root, source, fstype, options, read_only, external (the external mount's key) and namespace_image.
            - At most 10,000 mounts, all mount namespaces together (RV(analysis.omitted.mounts) counts the
              rest); a C(mountpoints) image over 4 MiB is not decoded, with a warning.
          type: list
          elements: dict
        bind:
          description: CRI-O's C(bind.mounts) (source, destination, file_type, permissions); empty for other engines.
          type: list
          elements: dict
    rootfs:
      description: The container's file system changes.
      type: dict
      returned: when O(include) has rootfs
      contains:
        changed:
          description:
            - Entries of C(rootfs-diff.tar) (files added or modified), each with path (absolute), type
              (file, dir, symlink, hardlink, chardev, blockdev, fifo), size, mode (octal), uid, gid,
              mtime and link_target.
          type: list
          elements: dict
          sample: [{path: /tmp/.x.sh, type: file, size: 21, mode: "0755", uid: 0, gid: 0,
                    mtime: "2026-11-26T22:21:17Z", link_target: null}]
        deleted:
          description: Paths the container deleted (C(deleted.files)).
          type: list
          elements: str
          sample: [/etc/issue]
    stats:
      description: Counts over the analysis, and CRIU's dump statistics.
      type: dict
      returned: when O(include) has stats
      contains:
        dump:
          description: CRIU's dump statistics (as RV(analysis.container.stats)).
          type: dict
        processes:
          description: Number of processes C(pstree.img) lists (also those past the 32,768 read).
          type: int
        threads:
          description: Number of threads C(pstree.img) lists (also the thread ids past the 1,048,576 read).
          type: int
        open_files:
          description: Number of open descriptors (null without O(include=files)).
          type: int
        deleted_open_files:
          description: Number of descriptors of deleted files.
          type: int
        sockets:
          description: Number of socket descriptors (null without O(include=sockets)).
          type: int
        memory_size:
          description: Bytes of memory pages dumped, all processes.
          type: int
        images:
          description: Number of CRIU images in the archive.
          type: int
        rootfs_changed:
          description: Number of rootfs-diff entries.
          type: int
        rootfs_deleted:
          description: Number of deleted paths.
          type: int
    exported:
      description: The files written (or, in check mode, that would be written) to O(export_dir).
      type: list
      elements: dict
      returned: when O(export_dir) is set
      contains:
        kind:
          description: What the file is.
          type: str
          choices: [recovered, rootfs]
        source:
          description: The file's path in the container.
          type: str
          sample: /var/log/lookup-audit.log
        path:
          description: Where it was written.
          type: str
          sample: /evidence/lookup-export/recovered/var/log/lookup-audit.log
        size:
          description: Size in bytes.
          type: int
        sha256:
          description: SHA-256 of the content.
          type: str
        changed:
          description: Whether the file was (or would be) written; false when an identical file was already there.
          type: bool
    export_skipped:
      description: Files not exported, with the reason (not a regular file, setuid, unsafe name, something in the way).
      type: list
      elements: dict
      returned: when O(export_dir) is set
      sample: [{kind: rootfs, source: /usr/lib/python3.11/html/__pycache__, reason: "not a regular file (dir)"}]
    findings:
      description:
        - Findings, most severe first. Secrets in the evidence are redacted (first 4 characters and a
          sha256) unless O(redact_secrets=false).
      type: list
      elements: dict
      contains:
        id:
          description: The stable rule id.
          type: str
          sample: process.shell-under-service
        severity:
          description: How bad it is.
          type: str
          choices: [info, low, medium, high, critical]
        title:
          description: One line saying what was found.
          type: str
        description:
          description: Why it matters and what to check next.
          type: str
        pid:
          description: The process it is tied to, when there is one.
          type: int
        evidence:
          description: What proves it (command lines, addresses, recovered content heads...).
          type: raw
        attack:
          description: The MITRE ATT&CK technique id, where one fits.
          type: str
          sample: T1059.004
    findings_summary:
      description: The verdict over all findings.
      type: dict
      contains:
        verdict:
          description: C(compromised) (a high or critical finding), C(suspicious) (medium) or C(clean).
          type: str
          choices: [compromised, suspicious, clean]
        text:
          description: The verdict in a sentence.
          type: str
        counts:
          description: Number of findings per severity.
          type: dict
        highest:
          description: The highest severity found, null without findings.
          type: str
        total:
          description: Number of findings.
          type: int
    warnings:
      description:
        - What could not be read (missing images give a partial result) or looked odd.
        - At most 100, then one saying how many more there were (RV(analysis.omitted.warnings)).
        - Warnings that differ only in their numbers (one per process of a large tree, say) are listed
          10 of a kind; the rest are counted in one warning of that kind ending
          C((and N more like it with other numbers)), and in RV(analysis.omitted.warnings).
      type: list
      elements: str
      returned: always
    omitted:
      description: What the result leaves out to stay small (see O(max_processes), O(max_files),
        O(max_total_files) and O(max_rootfs_entries)).
      type: dict
      returned: always
      contains:
        processes:
          description: Processes not listed in RV(analysis.processes), also those past the first 32,768 of
            C(pstree.img), which are not read (see O(max_processes)).
          type: int
          sample: 0
        threads:
          description: Thread ids not listed in RV(analysis.processes[].threads) (at most O(max_processes) a
            process), all processes together, also those past the 1,048,576 read.
          type: int
          sample: 0
        children:
          description: Child pids not listed in RV(analysis.processes[].children) (at most O(max_processes) a
            process), all processes together.
          type: int
          sample: 0
        files:
          description: Open files not listed in RV(analysis.processes[].files), all processes together.
          type: int
          sample: 0
        sockets:
          description: Sockets not listed in RV(analysis.processes[].sockets), all processes together.
          type: int
          sample: 0
        rootfs:
          description:
            - Entries not listed in RV(analysis.rootfs.changed) and RV(analysis.rootfs.deleted).
            - Includes the paths of a C(deleted.files) longer than 200,000 paths, which are only
              counted (findings see the first 200,000).
          type: int
          sample: 0
        mounts:
          description: CRIU mounts not listed in RV(analysis.mounts.criu) (past the first 10,000).
          type: int
          sample: 0
        warnings:
          description: Warnings not listed in RV(analysis.warnings), those only counted in a summary included.
          type: int
          sample: 0
        findings:
          description: Matches of findings rules past the 1,000 findings a rule lists (all rules together).
          type: int
          sample: 0
        rule_open_files:
          description:
            - Open files a findings rule did not see, the most of any rule (see O(rules)); 0 unless a rule's
              C(select) reads C(open_files) without filtering or projecting it.
            - Also counts the rows of processes sharing one fd table (C(CLONE_FILES)) past its first 8
              processes, which rules do not see again (the same descriptors); a warning says so.
          type: int
          sample: 0
        rule_connections:
          description:
            - Connections (inet sockets) a findings rule did not see, the most of any rule (see O(rules)); 0 unless a
              rule's C(select) reads C(connections) without filtering or projecting it.
            - Also counts the connections of processes sharing one fd table past its first 8 processes, as for
              RV(analysis.omitted.rule_open_files).
          type: int
          sample: 0
        rule_process_sockets:
          description:
            - Listening and established inet sockets left out of the processes' C(listening), C(established) and
              C(new_listeners) lists that findings rules query (10,000 sockets in all); C(connections) still holds them.
          type: int
          sample: 0
report:
  description: The report written (path, format, size, sha256, changed); null without O(report).
  returned: always
  type: dict
changed:
  description: Whether files were written to O(export_dir) or O(report) (in check mode, whether they would be).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.forensic.checkpoint.plugins.module_utils.analysis.analyze import EXPORTS, SECTIONS
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.analyze import run_analyze
from ansible_collections.forensic.checkpoint.plugins.module_utils.runners.common import FINDINGS_OPTIONS, execute


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            redact_secrets=dict(type="bool", default=True),
            include=dict(type="list", elements="str", choices=list(SECTIONS), default=list(SECTIONS)),
            export_dir=dict(type="path"),
            export=dict(type="list", elements="str", choices=list(EXPORTS)),
            export_limit=dict(type="int", default=1073741824),
            max_processes=dict(type="int", default=1000),
            max_files=dict(type="int", default=1000),
            max_total_files=dict(type="int", default=10000),
            max_rootfs_entries=dict(type="int", default=10000),
            checksum=dict(type="bool", default=False),
            scan_memory=dict(type="bool", default=True),
            **FINDINGS_OPTIONS
        ),
        required_by={"export": "export_dir"},
        supports_check_mode=True,
    )
    execute(module, run_analyze)


if __name__ == "__main__":
    main()
