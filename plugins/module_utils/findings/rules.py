# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built-in findings rules: one table, data only, in the shape users write in YAML.

``BUILTIN_RULES`` is the stable list (docs/ generates the findings catalogue from it). Every entry has

- ``id``, ``severity``, ``title``, ``description``, ``attack`` (ATT&CK technique id or None),
  ``tactic`` (its ATT&CK tactic or None);
- ``triggers``: what makes it fire, in words; ``silence``: how to switch it off or tune it;
- one of ``select`` (a JMESPath expression over the facts; ``subject``/``evidence`` templates) or
  ``check`` (``secret``, ``indicators`` or ``yara``).

Secret rules (``check: secret``) carry ``pattern`` (detection: its first group is the secret),
``shape`` (the redaction shape: group ``v`` is the secret part, looser than ``pattern`` so that a
secret cut short by a context window's edge is still hidden), ``literals`` (strings one of which
every match contains; the ``(?i)`` ones in any case), and ``scope``. Both regexes of a family are
built from the same pieces (``_token``, ``KEYWORDS``), so findings/redact.py's shapes are exactly
the secrets these rules detect: whatever a rule reports as a secret, redaction hides everywhere,
and every shape redaction hides is, at full length, a secret some rule reports.
``SECRET_NAMES`` names secret environment variables, for the ``secret.env-variable`` rule and for
the analysis' redaction of environments alike.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

TEMP_DIRS = ("/tmp/", "/var/tmp/", "/dev/shm/")


def _any_prefix(field, prefixes):
    return "(" + " || ".join("starts_with(%s || '', '%s')" % (field, prefix) for prefix in prefixes) + ")"


_IN_TEMP_EXE = _any_prefix("exe", TEMP_DIRS)
_IN_TEMP_PATH = _any_prefix("path", TEMP_DIRS)
_LOG_FILE = "(starts_with(path || '', '/var/log/') || ends_with(path || '', '.log') || contains(path || '', 'audit'))"
_ACCOUNT_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/sudoers")
_SYSTEM_DIRS = ("/etc/", "/bin/", "/sbin/", "/usr/", "/lib", "/boot/", "/var/log/")


def _changed(rule_id, tactic, severity, attack, title, description, where):
    """A rule on files the container wrote (rootfs.changed items matching ``where``)."""
    return {"id": rule_id, "tactic": tactic, "severity": severity, "attack": attack, "title": title,
            "description": description, "select": "rootfs.changed[?%s]" % where,
            "subject": "{path}", "evidence": "{path} ({size} bytes, mode {mode}):\n{head}"}

# -- credential families: detection and redaction from the same pieces -------------------------


# Environment variable names that say their value is a secret.
SECRET_NAMES = r"(?i)key|secret|token|pass(?:word|wd)?|credential"
# Names of assigned secrets (JSON, INI, YAML, env, query strings), any case incl. camelCase.
# ``_`` or ``-`` may join the words (kubeconfig's access-token, an X-Api-Key header); client-key-data is
# a kubeconfig's base64 private key, AccountKey an Azure storage key.
KEYWORDS = (r"(?:secret[_-]?access[_-]?key|secret[_-]?key|access[_-]?token|refresh[_-]?token"
            r"|client[_-]?secret|client-key-data|api[_-]?key|apikey|account[_-]?key|auth[_-]?token|token|password"
            r"|passwd|pwd|secret|credentials?|private[_-]?key)")
# The value of such an assignment, possibly cut short by a window edge.
# An AWS secret key's name (env, CLI/INI, SDK JSON): its value may start with / (base64).
AWS_KEY_NAME = r"secret_?access_?key[\"']?\s*[=:]\s*[\"']?"
# ``key = value`` of such a name; a value starting with / is a path (PWD=/app, KEY_FILE=/run/key),
# where a secret is, not the secret; one starting with ----- is a PEM block, the private-key shape's.
ASSIGNED = r"%s[\"']?\s*[=:]\s*[\"']?(?!/|-----)" % KEYWORDS
KEYWORD_SHAPE = r"(?i)%s(?P<v>[A-Za-z0-9+=._~!@#$%%^*-][^\s\"'&,;<>\\]{0,4095})" % ASSIGNED
# A shape needs this many characters of a token's body: a piece cut by a window edge still shows.
CUT = 6


def _token(prefixes, body, least, most, other=(), other_body=None, other_least=None, tail=""):
    """(pattern, shape) of a prefixed token: ``prefixes`` then ``body`` characters, ``least`` to
    ``most`` of them for detection, CUT or more for redaction; ``other`` prefixes take
    ``other_body`` (``other_least``) instead; ``tail`` ends the pattern."""
    parts = [("|".join(prefixes), body, least)]
    if other:
        parts.append(("|".join(other), other_body, other_least))
    pattern = "|".join("(?:%s)%s{%d,%d}" % (prefix, chars, low, most) for prefix, chars, low in parts)
    shape = "|".join(r"\b(?:%s)%s{%d,%d}" % (prefix, chars, CUT, most) for prefix, chars, _low in parts)
    # Lookaround only where needed (``tail``): without it hyperscan matches exactly, with no re
    # confirmation per candidate.
    return ("(?:%s)" % pattern if len(parts) > 1 else pattern) + tail, "(?P<v>%s)" % shape


def _credentials(scheme):
    """(pattern, shape) of an Authorization header's credentials after ``scheme`` (capitalised or
    not: one literal tail keeps re's substring prefilter, which an alternation of spellings loses)."""
    return (r"%s[ \t]+([A-Za-z0-9._~+/-]{16,2048}=*)" % scheme,
            r"%s[ \t]+(?P<v>[A-Za-z0-9/+=._~-]{8,4096})" % scheme)


def _secret(rule_id, severity, title, description, pattern, shape, literals, attack="T1552", scope=None):
    rule = {"id": rule_id, "tactic": "credential-access", "severity": severity, "attack": attack, "check": "secret",
            "title": title, "description": description, "pattern": pattern, "shape": shape, "literals": literals}
    if scope:
        rule["scope"] = scope
    return rule


# The built-in rules, as users would write them in YAML (see the module's ``rules`` option).
BUILTIN_RULES = [
    # Process lineage: what a service should never start.
    {"id": "process.shell-from-netcat", "tactic": "execution", "severity": "critical", "attack": "T1059.004",
     "title": "Shell served over the network by netcat",
     "description": "A shell whose parent is a netcat-like tool: a bind or reverse shell (nc -e /bin/sh).",
     "select": "processes[?tool=='shell' && parent.tool=='netcat']",
     "subject": "{program} under {parent.command}",
     "evidence": "pid {pid} `{command}` was started by pid {parent.pid} `{parent.command}`"},
    {"id": "process.netcat-from-service", "tactic": "command-and-control", "severity": "critical", "attack": "T1095",
     "title": "Netcat-like tool started by a service",
     "description": "A service that is not a shell started netcat, socat or telnet: the usual backdoor after a "
                    "command injection.",
     "select": "processes[?tool=='netcat' && parent && parent.tool != 'shell']",
     "subject": "{command} under {parent.program}",
     "evidence": "pid {pid} `{command}` was started by pid {parent.pid} `{parent.command}`"},
    {"id": "process.shell-from-service", "tactic": "execution", "severity": "high", "attack": "T1059.004",
     "title": "Shell started by a service",
     "description": "A service that is not a shell runs a shell: command execution from the application.",
     "select": "processes[?tool=='shell' && parent && parent.tool == `null`]",
     "subject": "{program} under {parent.command}",
     "evidence": "pid {pid} `{command}` was started by pid {parent.pid} `{parent.command}`"},
    {"id": "process.download-from-service", "tactic": "command-and-control", "severity": "high", "attack": "T1105",
     "title": "Download tool started by a service",
     "description": "curl, wget or a similar tool started by a service that is not a shell: tool transfer.",
     "select": "processes[?tool=='download' && parent && parent.tool != 'shell']",
     "subject": "{command}",
     "evidence": "pid {pid} `{command}` was started by pid {parent.pid} `{parent.command}`"},
    {"id": "process.runtime-listener", "tactic": "command-and-control", "severity": "high", "attack": "T1095",
     "title": "Listening socket opened by a process spawned at run time",
     "description": "A process other than the container's first one listens on a port its parent does not: "
                    "a listener started after the container did, as a backdoor would be.",
     "select": "processes[?!is_root && length(new_listeners) > `0`]",
     "subject": "{program} listening on {new_listeners[].local}",
     "evidence": "pid {pid} `{command}` (started by pid {parent.pid} `{parent.command}`) listens on "
                 "{new_listeners[].local}"},
    {"id": "process.deleted-executable", "tactic": "defense-evasion", "severity": "high", "attack": "T1070.004",
     "title": "Process running a deleted executable",
     "description": "The executable was deleted after the process started, which hides it from the file system.",
     "select": "processes[?exe_deleted]",
     "subject": "{exe}",
     "evidence": "pid {pid} `{command}` runs {exe}, deleted from disk"},
    {"id": "process.temp-executable", "tactic": "execution", "severity": "high", "attack": "T1105",
     "title": "Process running an executable from a temporary directory",
     "description": "Software is installed in the image; an executable in /tmp, /var/tmp or /dev/shm was dropped there.",
     "select": "processes[?%s]" % _IN_TEMP_EXE,
     "subject": "{exe}",
     "evidence": "pid {pid} `{command}` runs {exe}"},
    # Network.
    {"id": "net.shell-connection", "tactic": "execution", "severity": "critical", "attack": "T1059.004",
     "title": "Shell with a network connection",
     "description": "A shell holds an established connection: someone is typing commands into it remotely.",
     "select": "connections[?tool=='shell' && state=='ESTABLISHED']",
     "subject": "{program} {local} <-> {remote}",
     "evidence": "pid {pid} `{command}` fd {fd}: {protocol} {local} <-> {remote}"},
    {"id": "net.shell-listener", "tactic": "execution", "severity": "high", "attack": "T1059.004",
     "title": "Shell with a listening socket",
     "description": "A shell holds a listening socket, as a bind shell does.",
     "select": "connections[?tool=='shell' && state=='LISTEN']",
     "subject": "{program} {local}",
     "evidence": "pid {pid} `{command}` fd {fd}: {protocol} listening on {local}"},
    {"id": "net.listening", "tactic": "discovery", "severity": "info", "attack": None,
     "title": "Listening port",
     "description": "A process listens on a port.",
     "select": "connections[?state=='LISTEN' && tool != 'shell']",
     "subject": "{program} {local}",
     "evidence": "pid {pid} `{command}` fd {fd}: {protocol} listening on {local}"},
    {"id": "net.established", "tactic": "discovery", "severity": "info", "attack": None,
     "title": "Established connection",
     "description": "A process holds an established connection.",
     "select": "connections[?state=='ESTABLISHED' && tool != 'shell']",
     "subject": "{program} {local} <-> {remote}",
     "evidence": "pid {pid} `{command}` fd {fd}: {protocol} {local} <-> {remote}"},
    # Deleted but still open files.
    {"id": "file.deleted-log", "tactic": "defense-evasion", "severity": "high", "attack": "T1070.002",
     "title": "Log file deleted while still open",
     "description": "A log was deleted while its writer still had it open: log tampering. CRIU kept its content.",
     "select": "open_files[?deleted && type=='REG' && type(fd)=='number' && %s]" % _LOG_FILE,
     "subject": "{path}",
     "evidence": "pid {pid} `{command}` fd {fd} holds {path} (deleted); recovered {size} bytes, sha256 {sha256}; "
                 "content:\n{content_head}"},
    {"id": "file.deleted-open", "tactic": "defense-evasion", "severity": "medium", "attack": "T1070.004",
     "title": "File deleted while still open",
     "description": "A process holds a regular file that was deleted. CRIU kept its content.",
     "select": "open_files[?deleted && type=='REG' && type(fd)=='number' && !%s]" % _LOG_FILE,
     "subject": "{path}",
     "evidence": "pid {pid} `{command}` fd {fd} holds {path} (deleted); recovered {size} bytes, sha256 {sha256}; "
                 "content:\n{content_head}"},
    # Persistence and tampering in the container's file system (the rootfs diff).
    _changed("rootfs.cron", "persistence", "high", "T1053.003", "Cron entry written",
             "A cron table or cron.d entry was created or changed in the container.",
             "regular && (%s || path=='/etc/crontab')" % _any_prefix("path", ("/etc/cron", "/var/spool/cron/"))),
    _changed("rootfs.systemd-unit", "persistence", "high", "T1543.002", "Systemd unit written",
             "A systemd unit or timer was created or changed in the container.",
             "regular && %s" % _any_prefix("path", ("/etc/systemd/", "/lib/systemd/system/",
                                                    "/usr/lib/systemd/system/", "/root/.config/systemd/"))),
    _changed("rootfs.init-script", "persistence", "high", "T1037.004", "Init script written",
             "An rc or init.d script was created or changed in the container.",
             "regular && (%s || path=='/etc/rc.local')" % _any_prefix("path", ("/etc/init.d/", "/etc/rc.d/"))),
    _changed("rootfs.authorized-keys", "persistence", "high", "T1098.004", "SSH authorized_keys written",
             "An ssh authorized_keys file was created or changed: remote access for whoever holds the key.",
             "regular && (ends_with(path, '/authorized_keys') || ends_with(path, '/authorized_keys2'))"),
    _changed("rootfs.ld-preload", "persistence", "critical", "T1574.006", "Dynamic linker preload configured",
             "/etc/ld.so.preload makes every dynamically linked program load a library: a user-mode rootkit.",
             "path=='/etc/ld.so.preload'"),
    _changed("rootfs.shell-profile", "persistence", "medium", "T1546.004", "Shell start-up file written",
             "A shell profile or rc file was created or changed: commands run at each login.",
             "regular && (%s || ends_with(path, '/.bashrc') || ends_with(path, '/.profile') || "
             "ends_with(path, '/.bash_profile') || ends_with(path, '/.zshrc') || path=='/etc/bash.bashrc')" % _any_prefix("path", ("/etc/profile",))),
    _changed("rootfs.accounts", "persistence", "high", "T1098", "Account or privilege file changed",
             "passwd, shadow, group or sudoers was changed in the container.",
             "regular && (%s || %s)" % (" || ".join("path=='%s'" % path for path in _ACCOUNT_FILES),
                                        _any_prefix("path", ("/etc/sudoers.d/",)))),
    _changed("rootfs.temp-executable", "execution", "high", "T1105", "Executable dropped in a temporary directory",
             "A new executable file in /tmp, /var/tmp or /dev/shm.",
             "executable && %s" % _IN_TEMP_PATH),
    _changed("rootfs.temp-file", "execution", "low", None, "New file in a temporary directory",
             "A file was written to /tmp, /var/tmp or /dev/shm.",
             "regular && !executable && %s" % _IN_TEMP_PATH),
    _changed("rootfs.new-executable", "execution", "medium", "T1105", "New executable in the container",
             "An executable file was created or changed after the container started; images are meant "
             "to be immutable.",
             "executable && !%s" % _IN_TEMP_PATH),
    {"id": "rootfs.deleted-system-file", "tactic": "defense-evasion", "severity": "high", "attack": "T1070.004",
     "title": "System file deleted",
     "description": "A file of the image's system directories was deleted in the container.",
     "select": "rootfs.deleted[?%s]" % " || ".join("starts_with(@, '%s')" % prefix for prefix in _SYSTEM_DIRS),
     "subject": "{path}", "evidence": "{path} was deleted from the container's file system"},
    # Secrets: ``pattern``'s first group is the secret, ``shape`` its redaction (see the docstring).
    _secret("secret.aws-secret-key", "high", "AWS secret access key",
            "An AWS (or S3-compatible) secret access key: whoever reads this checkpoint, or took over the "
            "container, can use it. Rotate it.",
            # env, CLI/INI (aws_secret_access_key) and SDK JSON ("SecretAccessKey"), any case.
            r"(?i)%s([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])" % AWS_KEY_NAME,
            r"(?i)%s(?P<v>[A-Za-z0-9/+]{%d,40})" % (AWS_KEY_NAME, CUT),
            ["(?i)secretaccesskey", "(?i)secret_access_key"]),
    _secret("secret.aws-access-key-id", "high", "AWS access key id",
            "An AWS access key id; its secret key is usually nearby.",
            *_token(["A[KS]IA"], "[A-Z2-7]", 16, 16, tail="(?![A-Z0-9])"), literals=["AKIA", "ASIA"]),
    _secret("secret.github-token", "high", "GitHub token",
            "A GitHub personal access, OAuth or app token.",
            *_token(["gh[pousr]_"], "[A-Za-z0-9]", 30, 255, ["github_pat_"], "[A-Za-z0-9_]", 22),
            literals=["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"]),
    _secret("secret.gitlab-token", "high", "GitLab token",
            "A GitLab personal, deploy, runner, trigger, CI build or OAuth token.",
            *_token(["glpat-", "gl(?:dt|rt|ptt|cbt|oas)-"], "[A-Za-z0-9_-]", 20, 64),
            literals=["glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "gloas-"]),
    _secret("secret.slack-token", "high", "Slack token", "A Slack bot, user or app token, or a webhook URL.",
            *_token(["xox[abposr]-", "xapp-"], "[A-Za-z0-9-]", 10, 250,
                    [r"hooks\.slack\.com/(?:services|workflows|triggers)/"], "[A-Za-z0-9/_-]", 20),
            literals=["xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xapp-", "hooks.slack.com/"]),
    _secret("secret.stripe-key", "high", "Stripe key", "A Stripe secret or restricted API key, or a webhook "
            "signing secret.",
            *_token(["[rs]k_(?:live|test)_", "whsec_"], "[A-Za-z0-9]", 24, 255),
            literals=["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"]),
    _secret("secret.vault-token", "high", "HashiCorp Vault token", "A Vault service, batch or recovery token.",
            *_token([r"hv[sbr]\."], "[A-Za-z0-9_-]", 24, 255), literals=["hvs.", "hvb.", "hvr."]),
    # Lines end in newlines, or in \n escapes inside JSON (a GCP service account's "private_key").
    _secret("secret.private-key", "high", "Private key", "A PEM private key block.",
            r"-----BEGIN [A-Z ]{0,20}PRIVATE KEY(?: BLOCK)?-----(?:\s|\\[rn])*([A-Za-z0-9+/=\r\n\\]{64,4096})",
            r"-----BEGIN [A-Z ]{0,20}PRIVATE KEY(?: BLOCK)?-----(?:\s|\\[rn])*(?P<v>[A-Za-z0-9+/=\s\\]{1,16384})",
            ["-----BEGIN "], attack="T1552.004"),
    _secret("secret.url-credentials", "high", "Password in a URL",
            "A user name and password in a URL (scheme://user:password@host), such as a database or proxy URL.",
            # A port (http://host:8080/) is not a password: the part after the colon must end at an @,
            # or at a window's edge when it is not all digits.
            r"://[^\s:/@'\"<>]{1,256}:([^\s/@'\"<>]{3,256})@",
            r"://[^\s:/@'\"<>]{1,256}:(?!\d+(?:[/\s]|$))(?P<v>[^\s/@'\"<>]{1,256})(?:@|$)",
            ["://"]),
    _secret("secret.bearer-token", "high", "Bearer token", "An HTTP bearer token (Authorization: Bearer ...).",
            *_credentials("[Bb]earer"), literals=["earer"]),
    _secret("secret.basic-auth", "high", "HTTP basic credentials",
            "A user name and password in an HTTP Authorization: Basic header (base64, not encrypted).",
            *_credentials("[Bb]asic"), literals=["asic"]),
    _secret("secret.jwt", "medium", "JSON Web Token",
            "A signed JWT, such as a Kubernetes service account token: it authenticates whoever holds it.",
            r"eyJ[A-Za-z0-9_-]{10,4096}\.eyJ[A-Za-z0-9_-]{10,8192}\.[A-Za-z0-9_-]{10,1024}",
            r"(?P<v>eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{0,8192}\.?[A-Za-z0-9_-]{0,1024})", ["eyJ"]),
    _secret("secret.password-assignment", "medium", "Password-like value in a file",
            "A password, secret, token or API key assigned (key=value, key: value, JSON, INI, YAML such as "
            "a kubeconfig's token:) in a file the container wrote or deleted.",
            # A value holding a digit: ``password = get_password()`` in source code is not a secret.
            r"(?i)(?<![A-Za-z0-9])%s"
            r"([A-Za-z0-9!#$%%*+./@^_~-]*[0-9][A-Za-z0-9!#$%%*+./@^_~-]*)(?![A-Za-z0-9!#$%%*+./@^_~-])" % ASSIGNED,
            KEYWORD_SHAPE, ["(?i)" + word for word in ("key", "token", "pass", "pwd", "secret", "credential")],
            scope=["files"]),
    {"id": "secret.env-variable", "tactic": "credential-access", "severity": "medium", "attack": "T1552", "check": "secret",
     "title": "Password-like environment variable",
     "description": "An environment variable whose name says it holds a secret.",
     "names": SECRET_NAMES},
    # User indicators and YARA (options ``indicators`` and ``yara_rules``).
    {"id": "indicator.match", "tactic": None, "severity": "high", "attack": None, "check": "indicators",
     "title": "Indicator of compromise",
     "description": "A user-supplied indicator (string, regex, IP or domain) was found."},
    {"id": "yara.match", "tactic": None, "severity": "high", "attack": None, "check": "yara",
     "title": "YARA rule matched",
     "description": "A user-supplied YARA rule matched process memory or a file (meta severity/attack override)."},
]


def _explained(rule):
    """``triggers`` and ``silence`` in words, from what the rule is."""
    check = rule.get("check")
    if check == "indicators":
        triggers = "one of the indicators option's values found in an environment, argv, memory or a file"
        silence = "remove the indicator from indicators (or give it a lower severity)"
    elif check == "yara":
        triggers = "a rule of the yara_rules option matching process memory or a file"
        silence = "remove or fix the YARA rule (its meta severity sets the finding's)"
    else:
        if check == "secret" and rule.get("names"):
            triggers = "an environment variable whose name matches %s" % rule["names"]
        elif check == "secret":
            triggers = "a match of its pattern in %s" % ", ".join(rule.get("scope") or ("env", "memory", "files"))
        else:
            triggers = "facts matching %s" % rule["select"]
        silence = "rules: [{id: %s, enabled: false}]; or override its severity or %s the same way" % (
            rule["id"], "pattern/scope" if check else "select")
    return dict(rule, triggers=triggers, silence=silence)


BUILTIN_RULES = [_explained(rule) for rule in BUILTIN_RULES]
