"""DataProxyService as flyteadmin v1.16.8 serves it (``flyteadmin/dataproxy/service.go``), over a BlobStore.

- CreateUploadLocation: validation and messages as flyteadmin; the path is
  ``project/domain/<filename_root or base32(md5)>/<filename or 20 random chars>``; a deterministic path
  (filename and filename_root) that already exists is ALREADY_EXISTS unless the given MD5 matches. The
  signed URL is a PUT on the emulator's HTTP server (blobhttp.py) bound to that MD5.
- CreateDownloadLocation: a signed GET for a native URL of the store.
- CreateDownloadLink: node execution decks only, as flyteadmin; the emulator renders no decks, so an
  existing execution answers NOT_FOUND "no deckUrl found".
- GetData: ``flyte://v1/project/domain/execution/node[/attempt]/{i,o,d}[/name]``, answered from the
  node (or task) execution's data as flyteadmin does; those are derived per execution (nodes.py): the
  ``end-node``'s outputs are the workflow's outputs, also of a real run.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable
from typing import Any

from flyteidl.admin import node_execution_pb2, task_execution_pb2
from flyteidl.core import identifier_pb2, literals_pb2
from flyteidl.service import dataproxy_pb2
from google.protobuf import duration_pb2

from flyte_async_provider.emulator.rpc_impl import Impl, rpc_methods

from .backend import Backend
from .blobstore import BlobStore
from .entities import timestamp
from .errors import AlreadyExists, EmulatorError, InvalidArgument, NotFound
from .node_service import NodeExecutionsImpl

DATA_PROXY_SERVICE = "flyteidl.service.DataProxyService"
MAX_EXPIRES_IN = 3600.0  # flyteadmin's default upload.maxExpiresIn and download.maxExpiresIn: 1h
DEFAULT_FILENAME_LENGTH = 20  # flyteadmin's upload.defaultFileNameLength
_RAND_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s rand.String, which flyteadmin uses for file names

_SEGMENT = r"[a-zA-Z0-9_-]+"
_FLYTE_URL = re.compile(
    rf"flyte://v1/(?P<project>{_SEGMENT})/(?P<domain>{_SEGMENT})/(?P<exec>{_SEGMENT})/(?P<node>{_SEGMENT})"
    r"(?:/(?P<attempt>[0-9]+))?/(?P<io>[iod])$"
)
_FLYTE_URL_NAMED = re.compile(
    rf"flyte://v1/(?P<project>{_SEGMENT})/(?P<domain>{_SEGMENT})/(?P<exec>{_SEGMENT})/(?P<node>{_SEGMENT})"
    rf"(?:/(?P<attempt>[0-9]+))?/(?P<io>[io])/(?P<name>{_SEGMENT})$"
)


def _go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String()`` writes whole seconds (flyteadmin's messages)."""
    total = int(seconds)
    hours, rest = divmod(abs(total), 3600)
    minutes, secs = divmod(rest, 60)
    sign = "-" if total < 0 else ""
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def _duration_seconds(d: duration_pb2.Duration) -> float:
    """Seconds of a valid protobuf Duration; INVALID_ARGUMENT for one ``IsValid`` rejects."""
    if abs(d.seconds) > 315_576_000_000 or abs(d.nanos) >= 1_000_000_000:
        raise InvalidArgument(f"expiresIn [{d}] is invalid")
    if (d.seconds > 0 and d.nanos < 0) or (d.seconds < 0 and d.nanos > 0):
        raise InvalidArgument(f"expiresIn [{d}] is invalid")
    return d.seconds + d.nanos / 1e9


def _download_expiry(request: Any) -> float:
    """flyteadmin's validateDuration for download requests (unset means the maximum)."""
    if not request.HasField("expires_in"):
        return MAX_EXPIRES_IN
    seconds = _duration_seconds(request.expires_in)
    if seconds < 0:
        raise InvalidArgument(
            f"expiresIn is invalid. Error: input duration [{_go_duration(seconds)}] should not less than 0"
        )
    if seconds > MAX_EXPIRES_IN:
        raise InvalidArgument(
            f"expiresIn is invalid. Error: input duration [{_go_duration(seconds)}] cannot exceed max "
            f"allowed expiration [{_go_duration(MAX_EXPIRES_IN)}]"
        )
    return seconds


class DataProxyImpl:
    """The DataProxyService methods: parse, act on the blob store / backend, build the reply."""

    def __init__(self, backend: Backend, blobs: BlobStore, http_url: Callable[[], str]) -> None:
        self.blobs = blobs
        self.nodes = NodeExecutionsImpl(backend)  # GetData reads node data as flyteadmin does
        self.http_url = http_url
        self._rng = random.Random()

    def methods(self) -> dict[str, Impl]:
        return rpc_methods(self)

    # -- uploads ------------------------------------------------------------------------------------
    def CreateUploadLocation(
        self, req: dataproxy_pb2.CreateUploadLocationRequest, principal: str
    ) -> dataproxy_pb2.CreateUploadLocationResponse:
        if not req.project or not req.domain:
            raise InvalidArgument("project and domain are required parameters")
        if not req.filename_root and not req.content_md5:
            raise InvalidArgument("content_md5 or filename_root is a required parameter")
        md5 = base64.b64encode(req.content_md5).decode() if req.content_md5 else ""
        if req.filename and req.filename_root:
            known = self.blobs.key_of([req.org, req.project, req.domain, req.filename_root, req.filename])
            if self.blobs.exists(known) and (not md5 or self.blobs.content_md5(known) != md5):
                raise AlreadyExists(
                    f"file already exists at location [{self.blobs.native_url(known)}], "
                    "specify a matching hash if you wish to rewrite"
                )
        if req.HasField("expires_in"):
            expires_in = _duration_seconds(req.expires_in)
            if expires_in > MAX_EXPIRES_IN:
                raise InvalidArgument(
                    f"expiresIn [{_go_duration(expires_in)}] cannot exceed max allowed expiration "
                    f"[{_go_duration(MAX_EXPIRES_IN)}]"
                )
        else:
            expires_in = MAX_EXPIRES_IN
        filename = req.filename or "".join(
            self._rng.choice(_RAND_ALPHABET) for _ in range(DEFAULT_FILENAME_LENGTH)
        )
        prefix = req.filename_root or base64.b32encode(req.content_md5).decode()
        key = self.blobs.key_of([req.org, req.project, req.domain, prefix, filename])
        signed = self.blobs.sign(self.http_url(), "PUT", key, expires_in, md5)
        response = dataproxy_pb2.CreateUploadLocationResponse(
            signed_url=signed.url, native_url=self.blobs.native_url(key)
        )
        response.expires_at.CopyFrom(timestamp(signed.expires_at))
        if md5:
            response.headers["Content-MD5"] = md5
        return response

    # -- downloads ----------------------------------------------------------------------------------
    def CreateDownloadLocation(
        self, req: dataproxy_pb2.CreateDownloadLocationRequest, principal: str
    ) -> dataproxy_pb2.CreateDownloadLocationResponse:
        try:
            expires_in = _download_expiry(req)
        except InvalidArgument as err:
            raise InvalidArgument(f"error while validating request: {err.message}") from None
        key = self.blobs.key_for_native_url(req.native_url)
        signed = self.blobs.sign(self.http_url(), "GET", key, expires_in)
        response = dataproxy_pb2.CreateDownloadLocationResponse(signed_url=signed.url)
        response.expires_at.CopyFrom(timestamp(signed.expires_at))
        return response

    def CreateDownloadLink(
        self, req: dataproxy_pb2.CreateDownloadLinkRequest, principal: str
    ) -> dataproxy_pb2.CreateDownloadLinkResponse:
        try:
            _download_expiry(req)
        except InvalidArgument as err:
            raise InvalidArgument(f"error while validating request. Error: {err.message}") from None
        if req.artifact_type == dataproxy_pb2.ARTIFACT_TYPE_UNDEFINED:
            raise InvalidArgument(
                "error while validating request. Error: invalid artifact type [ARTIFACT_TYPE_UNDEFINED]"
            )
        if not req.HasField("node_execution_id"):
            raise InvalidArgument("error while validating request. Error: source is required. Provided nil")
        node = req.node_execution_id
        try:
            self.nodes.GetNodeExecution(node_execution_pb2.NodeExecutionGetRequest(id=node), "")
        except EmulatorError as err:
            raise InvalidArgument(f"failed to find node execution [{node}]. Error: {err.message}") from None
        raise NotFound("no deckUrl found for request (the emulator renders no decks)")

    # -- GetData ------------------------------------------------------------------------------------
    def GetData(self, req: dataproxy_pb2.GetDataRequest, principal: str) -> dataproxy_pb2.GetDataResponse:
        url = req.flyte_url
        invalid = "failed to validate resolve artifact request. Error: "
        if not url:
            raise InvalidArgument(invalid + "source is required. Provided empty string")
        if not url.startswith("flyte://"):
            raise InvalidArgument(invalid + "request does not start with the correct prefix")
        match = _FLYTE_URL.match(url) or _FLYTE_URL_NAMED.match(url)
        if match is None:
            raise InvalidArgument(f"failed to parse artifact url Error: failed to parse [{url}]")
        parts = match.groupdict()
        node_id = identifier_pb2.NodeExecutionIdentifier(
            node_id=parts["node"],
            execution_id=identifier_pb2.WorkflowExecutionIdentifier(
                project=parts["project"], domain=parts["domain"], name=parts["exec"]
            ),
        )
        io, name, attempt = parts["io"], parts.get("name") or "", parts.get("attempt")
        data: Any
        if attempt is None:
            if io == "d":
                link = dataproxy_pb2.CreateDownloadLinkRequest(
                    artifact_type=dataproxy_pb2.ARTIFACT_TYPE_DECK, node_execution_id=node_id
                )
                self.CreateDownloadLink(link, principal)  # raises: the emulator has no decks
            data = self.nodes.GetNodeExecutionData(
                node_execution_pb2.NodeExecutionGetDataRequest(id=node_id), principal
            )
            where = f"node execution [{node_id}]"
        else:
            task_id = self._task_execution_id(node_id, int(attempt))
            if io == "d":
                raise InvalidArgument(
                    "deck type cannot be specified with a retry attempt, just use the node instead"
                )
            data = self.nodes.GetTaskExecutionData(
                task_execution_pb2.TaskExecutionGetDataRequest(id=task_id), principal
            )
            where = f"task execution [{task_id}]"
        literals: literals_pb2.LiteralMap = data.full_inputs if io == "i" else data.full_outputs
        if name:
            if name not in literals.literals:
                raise InvalidArgument(f"name [{name}] not found in {where}")
            return dataproxy_pb2.GetDataResponse(literal=literals.literals[name])
        return dataproxy_pb2.GetDataResponse(literal_map=literals)

    def _task_execution_id(
        self, node_id: identifier_pb2.NodeExecutionIdentifier, attempt: int
    ) -> identifier_pb2.TaskExecutionIdentifier:
        """flyteadmin's GetCompleteTaskExecutionID: the node's task execution of that attempt."""
        listed = self.nodes.ListTaskExecutions(
            task_execution_pb2.TaskExecutionListRequest(
                node_execution_id=node_id, limit=1, filters=f"eq(retry_attempt,{attempt})"
            ),
            "",
        )
        if not listed.task_executions:
            raise InvalidArgument(f"no task executions were listed [{node_id}]. Error: <nil>")
        return listed.task_executions[0].id
