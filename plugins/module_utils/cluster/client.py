# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API client the cluster modules share, built on kubernetes.core.

kubernetes.core makes the module (``AnsibleK8SModule``: its auth options, ``K8S_AUTH_*``
variables, dependency checks) and the client (``get_api_client``), as community.okd does; calls
go through the dynamic client's raw ``request`` so subresources such as the node proxy work too.
``Cluster`` turns every failure into an ``ApiError`` whose text is one line naming the object,
with the HTTP status kept for callers that map it further. Writes carry ``dryRun=All`` in check
mode. Nothing here ever includes a request header or a kubeconfig in a message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re
import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

    K8S_COLLECTION_ERROR = None
except ImportError:
    AUTH_ARG_SPEC = {}
    K8S_COLLECTION_ERROR = traceback.format_exc()

try:
    from kubernetes.client.exceptions import ApiException
except ImportError:
    ApiException = None  # AnsibleK8SModule reports the missing library

try:
    from urllib3.exceptions import HTTPError as Urllib3Error
except ImportError:
    Urllib3Error = None

# None: connection refused/reset or timed out. 429 and 5xx are what a rolling kube-apiserver answers.
TRANSIENT = (None, 429, 500, 502, 503, 504)
STATUS_TEXT = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
               405: "Method Not Allowed", 409: "Conflict", 422: "Unprocessable Entity",
               429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
               503: "Service Unavailable", 504: "Gateway Timeout"}


class ApiError(CheckpointError):
    """An API call failed. ``status`` is the HTTP status (None when the server was not reached)
    and ``message`` the server's own explanation (Status.message, or the raw text)."""

    def __init__(self, subject, problem, status=None, message="", details=None, retry_after=None, transient=None):
        super(ApiError, self).__init__(subject, problem)
        self.status = status
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after
        # worth retrying: the server was not reached, or said it is overloaded or restarting
        self.transient = status in TRANSIENT if transient is None else transient


def _retry_after(err):
    """Seconds from a Retry-After header (the API server's 429s carry one), or None."""
    headers = getattr(err, "headers", None) or {}
    try:
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def argument_spec(**options):
    """kubernetes.core's auth options (api_key, kubeconfig, ... with no_log) plus ``options``."""
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(copy.deepcopy(options))
    return spec


def new_module(**kwargs):
    """An AnsibleK8SModule, or a plain module that fails saying kubernetes.core is missing."""
    if K8S_COLLECTION_ERROR is not None:
        module = AnsibleModule(**kwargs)
        module.fail_json(msg="The kubernetes.core collection is required by this module (ansible-galaxy "
                             "collection install kubernetes.core)", exception=K8S_COLLECTION_ERROR)
    return AnsibleK8SModule(**kwargs)


def run_module(module, action, partial=None):
    """End ``module`` with what ``action()`` returns. A CheckpointError fails it in one line, with
    the partial result the error carries (``result``), else ``partial``; a result that says
    ``failed`` (some targets were not served) fails it with everything it holds."""
    try:
        result = action()
    except CheckpointError as err:
        module.fail_json(msg=str(err), **(getattr(err, "result", None) or partial or {}))
    if result.pop("failed", False):
        module.fail_json(**result)
    exit_module(module, result)


def exit_module(module, result):
    """Warnings to Ansible, the diff only in diff mode, then exit_json."""
    for warning in result.pop("warnings", []):
        module.warn(warning)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


def connect(module):
    """A Cluster for the module's auth options; check mode makes every write a server-side dry run."""
    try:
        k8s = get_api_client(module=module)
    except CoreException as err:
        raise ApiError("API client", _one_line(str(err)))
    except Exception as err:  # kubeconfig parsing raises a variety of errors: name them, never dump them
        if Urllib3Error is not None and isinstance(err, Urllib3Error):
            reason = getattr(err, "reason", None) or err
            raise ApiError("API server", "cannot reach it: %s" % _one_line(reason))
        raise ApiError("API client", "cannot configure the Kubernetes client: %s: %s"
                       % (type(err).__name__, _one_line(str(err))))
    return Cluster(k8s.client, dry_run=module.check_mode, host=getattr(k8s.configuration, "host", ""))


def _one_line(text, limit=400):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def status_message(body):
    """The human message of an error body: Status.message when it is a Status, else the text."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = (body or "").strip()
    try:
        parsed = json.loads(body)
    except ValueError:
        return _one_line(body), {}
    if isinstance(parsed, dict):
        return _one_line(parsed.get("message") or body), parsed.get("details") or {}
    return _one_line(body), {}


class Cluster(object):
    """Raw JSON calls over the dynamic client, errors as ApiError."""

    def __init__(self, dynamic_client, dry_run=False, host=""):
        self.client = dynamic_client
        self.dry_run = dry_run
        self.host = host

    def request(self, method, path, subject, body=None, query=None, content_type=None, timeout=None,
                write=False):
        query = list(query or [])
        if write and self.dry_run:
            query.append(("dryRun", "All"))
        kwargs = {"query_params": query, "serialize": False}
        if content_type:
            kwargs["content_type"] = content_type
        if timeout:
            kwargs["_request_timeout"] = timeout
        try:
            response = self.client.request(method, path, body=body, **kwargs)
        except Exception as err:  # translated below; anything unexpected still becomes one line
            raise self._error(err, subject)
        data = getattr(response, "data", response)
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        try:
            return json.loads(data) if data else {}
        except ValueError:
            return data

    def _error(self, err, subject):
        if ApiException is not None and isinstance(err, ApiException):
            status = err.status
            message, details = status_message(err.body)
            if not message:
                message = "%s %s" % (status, STATUS_TEXT.get(status, err.reason or ""))
            if status == 401:
                problem = "the API server rejected the credentials (HTTP 401): the token is missing, expired or invalid"
                return ApiError(subject, problem, status, message, details)
            return ApiError(subject, "%s (HTTP %s)" % (message, status), status, message, details, _retry_after(err))
        if Urllib3Error is not None and isinstance(err, Urllib3Error):
            return ApiError(subject, "cannot reach the API server %s: %s" % (self.host, _one_line(err)))
        if isinstance(err, (IOError, OSError)):
            return ApiError(subject, "cannot reach the API server %s: %s" % (self.host, _one_line(err)))
        return ApiError(subject, "%s: %s" % (type(err).__name__, _one_line(err)), transient=False)

    # -- conveniences

    def get(self, path, subject, missing_ok=False, query=None):
        try:
            return self.request("GET", path, subject, query=query)
        except ApiError as err:
            if missing_ok and err.status == 404:
                return None
            raise

    def merge_patch(self, path, subject, patch):
        return self.request("PATCH", path, subject, body=patch, write=True,
                            content_type="application/merge-patch+json")

    def create(self, path, subject, body):
        return self.request("POST", path, subject, body=body, write=True)

    def replace(self, path, subject, body):
        return self.request("PUT", path, subject, body=body, write=True)

    def delete(self, path, subject):
        return self.request("DELETE", path, subject, write=True)

    def kubernetes_minor(self):
        """The API server's Kubernetes minor version (``26`` for 1.26.9), or None if unknown."""
        info = self.get("/version", "API server version")
        match = re.match(r"\d+", str(info.get("minor", "")))
        if match is None:
            match = re.match(r"v?1\.(\d+)", str(info.get("gitVersion", "")))
            return int(match.group(1)) if match else None
        return int(match.group(0))


class Patient(object):
    """Calls that ride out an API outage: transient failures (connection refused or reset,
    timeouts, 429, 500, 502, 503, 504) are retried with backoff, or after the server's Retry-After,
    until one outage has lasted ``budget`` seconds. A FeatureGate change rolls new kube-apiserver
    revisions and single-node OpenShift loses its API while the master reboots, so long waits
    need this. ``outages`` records each outage ridden out."""

    def __init__(self, budget=600, sleep=None, clock=None):
        self.budget = budget
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic
        self.origin = self.clock()
        self.outages = []

    def call(self, function, *args, **kwargs):
        began, delay, retries, last = None, 1.0, 0, None
        while True:
            try:
                result = function(*args, **kwargs)
            except ApiError as err:
                if not err.transient:
                    raise
                now = self.clock()
                began = now if began is None else began
                last = err
                if now - began >= self.budget:
                    raise ApiError(err.subject, "%s; the API stayed unavailable for %ds (outage budget %ds)"
                                   % (err.problem, now - began, self.budget), err.status, err.message, err.details)
                pause = err.retry_after if err.retry_after is not None else delay
                self.sleep(max(0.1, min(pause, self.budget - (now - began))))
                delay = min(delay * 2, 30.0)
                retries += 1
                continue
            if began is not None:
                self.outages.append({"started": round(began - self.origin, 1),
                                     "seconds": round(self.clock() - began, 1), "retries": retries,
                                     "error": _one_line(str(last), 200)})
            return result
