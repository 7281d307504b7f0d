"""A small client for Airflow's public REST API v2 (stdlib only), as the demo and e2e tests need it.

It authenticates like any API user: a JWT from the api-server's ``/auth/token`` (SimpleAuthManager:
``GET`` when ``simple_auth_manager_all_admins`` is on, ``POST`` username/password otherwise), sent as
``Authorization: Bearer``; an expired token is refreshed once on 401.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

JsonDict = dict[str, Any]

# Task-instance states in which a task occupies an executor (worker) slot.
WORKER_STATES = frozenset({"running"})
FINISHED_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
FINISHED_RUN_STATES = frozenset({"success", "failed"})


# Requests Airflow applies the same way when sent twice (a DAG run POST is not one of them).
_IDEMPOTENT = frozenset({"GET", "PATCH", "PUT", "DELETE"})


class AirflowApiError(Exception):
    """A non-2xx answer from the REST API; ``status`` and the decoded ``detail`` are kept."""

    def __init__(self, method: str, path: str, status: int, detail: Any) -> None:
        super().__init__(f"{method} {path} -> HTTP {status}: {detail}")
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


class AirflowRestClient:
    """Typed-enough wrapper over the REST API v2 endpoints the demo and the tests use."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self._token: str | None = None

    # -- plumbing -------------------------------------------------------------------------------
    def _fetch_token(self) -> str:
        if self.username is not None:
            body = json.dumps({"username": self.username, "password": self.password or ""}).encode()
            req = urllib.request.Request(
                f"{self.base_url}/auth/token",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json"},
            )
        else:
            req = urllib.request.Request(f"{self.base_url}/auth/token", method="GET")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            token = json.loads(resp.read())["access_token"]
        if not isinstance(token, str):
            raise AirflowApiError(req.get_method(), "/auth/token", 200, "no access_token in answer")
        return token

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        _retry_auth: bool = True,
        _db_retries: int = 3,
    ) -> Any:
        """Send one request; return the decoded JSON (or text); raise :class:`AirflowApiError`."""
        if self._token is None:
            self._token = self._fetch_token()
        url = f"{self.base_url}{path}"
        if params:
            query = {k: ("true" if v is True else "false" if v is False else v) for k, v in params.items()}
            url = f"{url}?{urllib.parse.urlencode(query, doseq=True)}"
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                ctype = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raw_err = exc.read()
            if exc.code == 401 and _retry_auth:
                self._token = None
                return self.request(method, path, body=body, params=params, _retry_auth=False)
            if exc.code == 500 and method in _IDEMPOTENT and _db_retries > 0 and b"Database error" in raw_err:
                # SQLite (the harness's default database) answers "database is locked" while the
                # dag-processor or scheduler writes; an idempotent request is safe to send again.
                time.sleep(1.0)
                return self.request(
                    method,
                    path,
                    body=body,
                    params=params,
                    _retry_auth=_retry_auth,
                    _db_retries=_db_retries - 1,
                )
            try:
                detail: Any = json.loads(raw_err).get("detail", raw_err.decode(errors="replace"))
            except (ValueError, AttributeError):
                detail = raw_err.decode(errors="replace")
            raise AirflowApiError(method, path, exc.code, detail) from None
        if not raw:
            return None
        if "json" in ctype:
            return json.loads(raw)
        return raw.decode(errors="replace")

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    # -- health, DAGs -----------------------------------------------------------------------------
    def health(self) -> JsonDict:
        """``/api/v2/monitor/health``: metadatabase, scheduler, triggerer, dag_processor."""
        result: JsonDict = self.get("/api/v2/monitor/health")
        return result

    def version(self) -> JsonDict:
        result: JsonDict = self.get("/api/v2/version")
        return result

    def get_dag(self, dag_id: str) -> JsonDict:
        result: JsonDict = self.get(f"/api/v2/dags/{_quote(dag_id)}")
        return result

    def dag_ids(self) -> list[str]:
        """Ids of every active DAG (paged)."""
        out: list[str] = []
        while True:
            page = self.get("/api/v2/dags", limit=100, offset=len(out), order_by="dag_id")
            out.extend(str(d["dag_id"]) for d in page["dags"])
            if not page["dags"] or len(out) >= int(page["total_entries"]):
                return out

    def task_ids(self, dag_id: str) -> list[str]:
        page = self.get(f"/api/v2/dags/{_quote(dag_id)}/tasks")
        return [str(t["task_id"]) for t in page["tasks"]]

    def set_paused(self, dag_id: str, paused: bool) -> JsonDict:
        result: JsonDict = self.request("PATCH", f"/api/v2/dags/{_quote(dag_id)}", body={"is_paused": paused})
        return result

    def import_errors(self) -> list[JsonDict]:
        result: list[JsonDict] = self.get("/api/v2/importErrors", limit=100)["import_errors"]
        return result

    # -- DAG runs -------------------------------------------------------------------------------
    def trigger_dag_run(
        self, dag_id: str, *, run_id: str | None = None, conf: Mapping[str, Any] | None = None
    ) -> JsonDict:
        """Start a manual run now (no logical date) and return it."""
        body: JsonDict = {"logical_date": None, "conf": dict(conf or {})}
        if run_id is not None:
            body["dag_run_id"] = run_id
        result: JsonDict = self.request("POST", f"/api/v2/dags/{_quote(dag_id)}/dagRuns", body=body)
        return result

    def get_dag_run(self, dag_id: str, run_id: str) -> JsonDict:
        result: JsonDict = self.get(f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}")
        return result

    # -- task instances -----------------------------------------------------------------------------
    def _ti_path(self, dag_id: str, run_id: str, task_id: str) -> str:
        return f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances/{_quote(task_id)}"

    def task_instances(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[JsonDict]:
        """Every task instance of a run (mapped ones one entry per map index), paged."""
        path = f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances"
        out: list[JsonDict] = []
        offset = 0
        while True:
            page = self.get(path, task_id=task_id, limit=100, offset=offset, order_by="map_index")
            items: list[JsonDict] = page["task_instances"]
            out.extend(items)
            offset += len(items)
            if not items or offset >= int(page.get("total_entries", 0)):
                return out

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> JsonDict:
        path = self._ti_path(dag_id, run_id, task_id)
        if map_index >= 0:
            path = f"{path}/{map_index}"
        result: JsonDict = self.get(path)
        return result

    def set_task_instance_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, map_index: int = -1
    ) -> Any:
        """What a user does with "Mark failed/success" in the UI (PATCH ``new_state``)."""
        path = self._ti_path(dag_id, run_id, task_id)
        if map_index >= 0:
            path = f"{path}/{map_index}"
        return self.request("PATCH", path, body={"new_state": state})

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """The deserialized value of one XCom entry."""
        path = f"{self._ti_path(dag_id, run_id, task_id)}/xcomEntries/{_quote(key)}"
        entry = self.get(path, map_index=map_index, deserialize=True)
        return entry["value"]

    def xcom_keys(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[str]:
        page = self.get(f"{self._ti_path(dag_id, run_id, task_id)}/xcomEntries", map_index=map_index)
        return [str(e["key"]) for e in page["xcom_entries"]]

    def extra_links(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, str | None]:
        page = self.get(f"{self._ti_path(dag_id, run_id, task_id)}/links", map_index=map_index)
        links: dict[str, str | None] = page["extra_links"]
        return links

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The task's log for one try (worker and triggerer parts) as plain text lines."""
        page = self.get(
            f"{self._ti_path(dag_id, run_id, task_id)}/logs/{try_number}",
            map_index=map_index,
            full_content=True,
        )
        lines: list[str] = []
        for item in page.get("content") or []:
            if isinstance(item, str):
                lines.append(item)
                continue
            extra = {k: v for k, v in item.items() if k not in ("timestamp", "event", "level", "logger")}
            text = f"{item.get('level', '')} {item.get('event', '')}".strip()
            if extra:
                text = f"{text} {json.dumps(extra, default=str)}"
            lines.append(text)
        return "\n".join(lines)

    # -- pools ----------------------------------------------------------------------------------
    def pool(self, name: str = "default_pool") -> JsonDict:
        """Slot usage: ``running_slots``, ``queued_slots``, ``deferred_slots``, ``occupied_slots``..."""
        result: JsonDict = self.get(f"/api/v2/pools/{_quote(name)}")
        return result
