# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authentication (static bearer tokens and minted service-account tokens) and authorisation.

Authorisation is RBAC evaluated over the Role/ClusterRole/(Cluster)RoleBinding objects in the
store, plus optional rules carried by a static token itself. ``system:masters`` bypasses it, as
on kube-apiserver. Refusals use the authorizer's own wording, e.g.
``nodes "worker-0" is forbidden: User "x" cannot create resource "nodes/proxy" in API group ""
at the cluster scope``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import json
import secrets
import time

from . import errors


class Identity:
    def __init__(self, name, user, groups=(), token="", rules=None, description=""):
        self.name = name
        self.user = user
        self.groups = tuple(groups)
        self.token = token
        self.rules = rules  # inline per-token rules (RBAC PolicyRule shape), optional
        self.description = description

    def as_dict(self):
        out = {"token": self.token, "user": self.user, "groups": list(self.groups),
               "description": self.description}
        if self.rules is not None:
            out["rules"] = self.rules
        return out


ANONYMOUS = Identity("anonymous", "system:anonymous", ("system:unauthenticated",))


def sa_user(namespace, name):
    return "system:serviceaccount:%s:%s" % (namespace, name)


def sa_groups(namespace):
    return ("system:serviceaccounts", "system:serviceaccounts:" + namespace,
            "system:authenticated")


class Attributes:
    """What is being asked: a resource request or a non-resource path."""

    def __init__(self, verb, group="", resource="", subresource="", namespace="", name="",
                 path=""):
        self.verb = verb
        self.group = group
        self.resource = resource
        self.subresource = subresource
        self.namespace = namespace
        self.name = name
        self.path = path

    @property
    def is_resource(self):
        return bool(self.resource)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Authenticator:
    def __init__(self):
        self.static = {}      # token -> Identity
        self.minted = {}      # token -> (Identity, expiry, sa uid)
        self._key = secrets.token_bytes(32)

    def add(self, identity):
        self.static[identity.token] = identity

    def authenticate(self, header, sa_uid_lookup):
        """Identity for an Authorization header; ANONYMOUS without one; None if invalid."""
        if not header:
            return ANONYMOUS
        scheme, _space, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        identity = self.static.get(token)
        if identity is not None:
            return identity
        entry = self.minted.get(token)
        if entry is None:
            return None
        identity, expiry, uid, ns, name = entry
        # Bound tokens die with their service account (and on expiry).
        if time.time() > expiry or sa_uid_lookup(ns, name) != uid:
            return None
        return identity

    def mint(self, namespace, name, uid, seconds=3600, audiences=()):
        """A JWT-shaped service-account token (opaque to clients, as real ones should be)."""
        now = int(time.time())
        claims = {"aud": list(audiences) or ["https://kubernetes.default.svc"],
                  "exp": now + seconds, "iat": now, "iss": "https://kubernetes.default.svc",
                  "kubernetes.io": {"namespace": namespace,
                                    "serviceaccount": {"name": name, "uid": uid}},
                  "nbf": now, "sub": sa_user(namespace, name)}
        head = _b64(json.dumps({"alg": "HS256", "kid": "simcluster"}).encode())
        body = _b64(json.dumps(claims, sort_keys=True).encode())
        sig = _b64(hmac.new(self._key, ("%s.%s" % (head, body)).encode(),
                            hashlib.sha256).digest())
        token = "%s.%s.%s" % (head, body, sig)
        identity = Identity(name, sa_user(namespace, name), sa_groups(namespace), token)
        self.minted[token] = (identity, now + seconds, uid, namespace, name)
        return token, now + seconds


def _rule_matches(rule, attrs):
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    if not attrs.is_resource:
        for url in rule.get("nonResourceURLs") or []:
            prefix = url.endswith("*") and attrs.path.startswith(url[:-1])
            if url == "*" or url == attrs.path or prefix:
                return True
        return False
    groups = rule.get("apiGroups")
    if groups is None or ("*" not in groups and attrs.group not in groups):
        return False
    wanted = attrs.resource + ("/" + attrs.subresource if attrs.subresource else "")
    resources = rule.get("resources") or []
    if not ("*" in resources or wanted in resources or
            (attrs.subresource and (attrs.resource + "/*" in resources or
                                    "*/" + attrs.subresource in resources))):
        return False
    names = rule.get("resourceNames") or []
    if names and attrs.name not in names:
        return False
    return True


class Authorizer:
    """RBAC over the store's role objects (aggregated ClusterRoles are not expanded)."""

    def __init__(self, store, registry):
        self.store = store
        self.rt = {name: registry.get("rbac.authorization.k8s.io", name) for name in
                   ("clusterroles", "clusterrolebindings", "roles", "rolebindings")}

    @staticmethod
    def _subject_matches(subject, identity):
        kind = subject.get("kind")
        if kind == "User":
            return subject.get("name") == identity.user
        if kind == "Group":
            return subject.get("name") in identity.groups
        if kind == "ServiceAccount":
            return sa_user(subject.get("namespace", ""), subject.get("name", "")) == identity.user
        return False

    def _role_rules(self, ref, namespace):
        if ref.get("kind") == "ClusterRole":
            role = self.store.peek(self.rt["clusterroles"], "", ref.get("name"))
        else:
            role = self.store.peek(self.rt["roles"], namespace, ref.get("name"))
        return (role or {}).get("rules") or []

    def rules_for(self, identity, namespace):
        """(rules, where) pairs that apply to ``identity`` in ``namespace``."""
        out = []
        if identity.rules is not None:
            for rule in identity.rules:
                scoped = rule.get("namespaces")
                if not scoped or (namespace and namespace in scoped):
                    out.append(rule)
        for binding in self.store.iter(self.rt["clusterrolebindings"]):
            if any(self._subject_matches(s, identity) for s in binding.get("subjects") or []):
                out.extend(self._role_rules(binding.get("roleRef") or {}, ""))
        if namespace:
            for binding in self.store.iter(self.rt["rolebindings"], namespace):
                if any(self._subject_matches(s, identity)
                       for s in binding.get("subjects") or []):
                    out.extend(self._role_rules(binding.get("roleRef") or {}, namespace))
        return out

    def allowed(self, identity, attrs):
        if "system:masters" in identity.groups:
            return True
        return any(_rule_matches(rule, attrs)
                   for rule in self.rules_for(identity, attrs.namespace))

    def check(self, identity, attrs, rt=None):
        if not self.allowed(identity, attrs):
            raise forbidden_error(identity, attrs, rt)


def forbidden_error(identity, attrs, rt):
    if not attrs.is_resource:
        return errors.ApiError(403, "Forbidden", 'forbidden: User "%s" cannot %s path "%s"'
                               % (identity.user, attrs.verb, attrs.path), {})
    resource = attrs.resource + ("/" + attrs.subresource if attrs.subresource else "")
    why = 'User "%s" cannot %s resource "%s" in API group "%s"' % (
        identity.user, attrs.verb, resource, attrs.group)
    why += ' in the namespace "%s"' % attrs.namespace if attrs.namespace else \
        " at the cluster scope"
    group_resource = attrs.resource + ("." + attrs.group if attrs.group else "")
    subject = '%s "%s"' % (group_resource, attrs.name) if attrs.name else group_resource
    details = {"kind": attrs.resource}
    if attrs.name:
        details = {"name": attrs.name, "kind": attrs.resource}
    if attrs.group:
        details["group"] = attrs.group
    return errors.ApiError(403, "Forbidden", "%s is forbidden: %s" % (subject, why), details)


def new_token():
    return "sha256~" + secrets.token_urlsafe(32)
