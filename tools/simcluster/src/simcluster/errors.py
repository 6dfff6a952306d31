# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes ``Status`` errors, worded the way kube-apiserver words them.

Clients branch on ``code`` and ``reason`` and users read ``message``, so both are kept close to
the real server's (apimachinery ``errors`` package and the authorizer's forbidden message).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


class ApiError(Exception):
    """An error answered as a ``Status`` object (or as plain text when ``text`` is set)."""

    def __init__(self, code, reason, message, details=None, headers=None, text=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = dict(headers or {})
        # Some answers (the kubelet's, passed through the node proxy) are plain text, not Status.
        self.text = text

    def status(self):
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(rt, name=None, kind=None):
    details = {}
    if name:
        details["name"] = name
    if rt is not None and rt.group:
        details["group"] = rt.group
    details["kind"] = kind or (rt.plural if rt is not None else "")
    return details


def not_found(rt, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (rt.group_resource, name),
                    _details(rt, name))


def already_exists(rt, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (rt.group_resource, name),
                    _details(rt, name))


_MODIFIED = ("the object has been modified; please apply your changes to the latest version "
             "and try again")


def conflict(rt, name, why=_MODIFIED):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (rt.group_resource, name, why), _details(rt, name))


def gone(message):
    return ApiError(410, "Expired", message)


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource")


def unsupported_media_type(message):
    return ApiError(415, "UnsupportedMediaType", message)


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(rt, name, why):
    """Admission or authorisation refusal: ``<resource> "<name>" is forbidden: <why>``."""
    if rt is None:
        return ApiError(403, "Forbidden", "forbidden: %s" % why, {})
    subject = '%s "%s"' % (rt.group_resource, name) if name else rt.group_resource
    return ApiError(403, "Forbidden", "%s is forbidden: %s" % (subject, why), _details(rt, name))


def internal(message):
    return ApiError(500, "InternalError", "Internal error occurred: %s" % message,
                    {"causes": [{"message": message}]})


def too_many_requests(retry_after=1, message="Too many requests, please try again later."):
    return ApiError(429, "TooManyRequests", message, {"retryAfterSeconds": int(retry_after)},
                    headers={"Retry-After": str(int(retry_after))})


def service_unavailable(message):
    return ApiError(503, "ServiceUnavailable", message)


def not_acceptable(message):
    return ApiError(406, "NotAcceptable", message)


def go_repr(value):
    """Render a value the way Go's validation messages quote it (``"x"``, ``3``, ``true``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "map[string]interface {}{%s}" % ", ".join(
            "%s:%s" % (json.dumps(k), go_repr(v)) for k, v in sorted(value.items()))
    return json.dumps(value)


class FieldError:
    """One ``field.Error``; ``Invalid`` joins several into a 422."""

    def __init__(self, kind, field, value=None, detail=""):
        self.kind = kind  # Required, Invalid, Forbidden, NotSupported, Duplicate, TooLong
        self.field = field
        self.value = value
        self.detail = detail

    @property
    def reason(self):
        return {
            "Required": "FieldValueRequired",
            "Invalid": "FieldValueInvalid",
            "Forbidden": "FieldValueForbidden",
            "NotSupported": "FieldValueNotSupported",
            "Duplicate": "FieldValueDuplicate",
            "TooLong": "FieldValueTooLong",
            "TooMany": "FieldValueTooMany",
        }[self.kind]

    @property
    def body(self):
        if self.kind == "Required":
            return "Required value" + (": " + self.detail if self.detail else "")
        if self.kind == "Forbidden":
            return "Forbidden: " + self.detail
        if self.kind == "Duplicate":
            return "Duplicate value: %s" % go_repr(self.value)
        if self.kind == "NotSupported":
            return "Unsupported value: %s: supported values: %s" % (
                go_repr(self.value), self.detail)
        if self.kind == "TooLong":
            return "Too long: " + self.detail
        if self.kind == "TooMany":
            return "Too many: %s: %s" % (self.value, self.detail)
        text = "Invalid value: %s" % (self.value if self.kind == "Invalid" and isinstance(
            self.value, _Raw) else go_repr(self.value))
        return text + (": " + self.detail if self.detail else "")

    def __str__(self):
        return "%s: %s" % (self.field, self.body)


class _Raw(str):
    """A value printed as is (CEL rules print the type name, e.g. ``"string"``)."""


def raw(text):
    return _Raw(text)


def invalid(rt, name, errors):
    """422 Invalid: ``Kind.group "name" is invalid: field: message`` (several: ``[a, b]``)."""
    qualified = rt.kind + ("." + rt.group if rt.group else "")
    listed = [str(e) for e in errors]
    joined = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
    details = {"name": name or "", "kind": rt.kind,
               "causes": [{"reason": e.reason, "message": e.body, "field": e.field}
                          for e in errors]}
    if rt.group:
        details["group"] = rt.group
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (qualified, name or "", joined),
                    details)
