"""OpenMetadata REST client: one pooled `requests.Session`, retries where they are safe.

Retries (connection errors, 429, 502, 503, 504, with capped exponential backoff) are
urllib3's `Retry`, limited to idempotent methods: a PUT is create-or-update on the FQN,
so sending it twice is harmless; a POST is never retried. Errors are one line that
names the call and the entity, never a header value.
"""

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from om_dagster.core.recipe import OpenMetadataServerConfig
from om_dagster.openmetadata.fqn import url_quote

SUPPORTED_MAJORS = ("1", "2")
RETRY_STATUSES = (429, 502, 503, 504)
IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD", "OPTIONS"})


class OpenMetadataError(Exception):
    """A call the server refused or that could not reach it."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(OpenMetadataError):
    """401/403: the token was refused. The message never holds the token."""


@dataclass
class ClientSettings:
    """Tuning that is not part of the recipe."""

    connect_timeout: float = 10.0
    # A server that takes the connection and never answers: each try waits `read_timeout`, and
    # is tried again `read_retries` times, so a call gives up within about 2 minutes.
    read_timeout: float = 60.0
    read_retries: int = 1
    notice_after: float = 10.0  # a call still unanswered after this many seconds is logged
    retries: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    pool_size: int = 10


@dataclass
class BulkResult:
    """`type/bulkOperationResult.json`, reduced to what the sink counts: entities by FQN.

    The server (`BulkImportService`) names each entity it stored, or failed to store, by its
    fully qualified name, a string, created or updated alike; a request it refused before
    the write (validation, a missing parent: `EntityResource.processBulkRequest`) comes back
    as the request object.
    """

    succeeded: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (fqn, the server's message)


class OpenMetadataClient:
    """The endpoints ingestion uses (API.md), over one session."""

    def __init__(
        self,
        server: OpenMetadataServerConfig,
        settings: ClientSettings | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings or ClientSettings()
        self.log = log  # where a call that keeps waiting is told, so a silent server is never silent
        self.base = f"{server.hostPort.rstrip('/')}/{server.apiVersion}"
        self.requests_sent = 0
        self.session = requests.Session()
        retry = Retry(
            total=self.settings.retries,
            connect=self.settings.retries,
            read=self.settings.read_retries,
            status=self.settings.retries,
            other=0,
            allowed_methods=IDEMPOTENT,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.settings.backoff_factor,
            backoff_max=self.settings.backoff_max,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(
            max_retries=retry, pool_connections=self.settings.pool_size, pool_maxsize=self.settings.pool_size
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(_headers(server))
        self.session.verify, self.session.cert = _tls(server)

    # --- plumbing -------------------------------------------------------------------

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base}{path}"
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        self.requests_sent += 1
        waiting = self._notice(method, path, what)
        try:
            response = self.session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
        except requests.exceptions.RetryError as err:
            raise OpenMetadataError(
                f"{method} {path} ({what}): gave up after retries: {_root(err)}"
            ) from None
        except requests.exceptions.ConnectionError as err:
            if _read_timed_out(err):
                tries = self.settings.read_retries + 1
                raise OpenMetadataError(
                    f"{method} {path} ({what}): the server took the call but sent no answer in "
                    f"{self.settings.read_timeout:g} s, {tries} tries"
                ) from None
            raise OpenMetadataError(
                f"cannot reach the OpenMetadata server at {self.base} ({method} {path}, {what}): {_root(err)}"
            ) from None
        except requests.exceptions.Timeout:
            raise OpenMetadataError(f"{method} {path} ({what}): timed out after {timeout} s") from None
        finally:
            if waiting is not None:
                waiting.cancel()
        if response.status_code in (401, 403):
            raise AuthError(
                f"the OpenMetadata server refused the token ({response.status_code}) on {method} {path}: "
                "check workflowConfig.openMetadataServerConfig.securityConfig.jwtToken",
                response.status_code,
            )
        return response

    def _notice(self, method: str, path: str, what: str) -> threading.Timer | None:
        """A timer that logs the call if it is still waiting after `notice_after` seconds."""
        if self.log is None:
            return None
        settings = self.settings
        tries = settings.read_retries + 1
        message = (
            f"{method} {path} ({what}): the OpenMetadata server has not answered in "
            f"{settings.notice_after:g} s; waiting up to {settings.read_timeout:g} s a try, {tries} tries"
        )
        timer = threading.Timer(settings.notice_after, self.log, [message])
        timer.daemon = True
        timer.start()
        return timer

    def _fail(self, response: requests.Response, method: str, path: str, what: str) -> OpenMetadataError:
        return OpenMetadataError(
            f"{method} {path} ({what}) returned {response.status_code}: {_server_message(response)}",
            response.status_code,
        )

    # --- endpoints --------------------------------------------------------------------

    def version(self) -> str:
        """The handshake: `GET /system/version`; refuse servers we do not speak to."""
        path = "/system/version"
        response = self._call("GET", path, "version handshake")
        if response.status_code != 200:
            raise self._fail(response, "GET", path, "version handshake")
        version = str(response.json().get("version", ""))
        if version.split(".")[0] not in SUPPORTED_MAJORS:
            raise OpenMetadataError(
                f"OpenMetadata server at {self.base} reports version {version!r}; "
                f"om-dagster speaks to 1.x and 2.x servers"
            )
        return version

    def check(self) -> str:
        """Before a run reads its source: the server answers, speaks 1.x/2.x, and takes the
        token (one authenticated list of a single service). Its version."""
        version = self.version()
        path = "/services/databaseServices"
        response = self._call("GET", path, "token check", params={"limit": "1"})
        if response.status_code != 200:
            raise self._fail(response, "GET", path, "token check")
        return version

    def get_by_name(
        self, collection: str, fqn: str, fields: str | None = None, include: str = "non-deleted"
    ) -> dict[str, Any] | None:
        path = f"/{collection}/name/{url_quote(fqn)}"
        params = {"include": include} | ({"fields": fields} if fields else {})
        response = self._call("GET", path, fqn, params=params)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, "GET", path, fqn)
        return response.json()

    def put(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create or update (the server keys it on the FQN)."""
        path = f"/{collection}"
        name = str(body.get("name", "?"))
        response = self._call("PUT", path, name, json=body)
        if response.status_code not in (200, 201):
            raise self._fail(response, "PUT", path, name)
        return response.json()

    def bulk_put(
        self, collection: str, bodies: list[dict[str, Any]], fqn_of: Callable[[dict[str, Any]], str]
    ) -> BulkResult:
        """`PUT /{collection}/bulk`: one call for many creates; each item succeeds or fails.

        An answer that carries the request object instead of an FQN is named by `fqn_of(body)`.
        """
        path = f"/{collection}/bulk"
        what = f"{len(bodies)} {collection}"
        response = self._call("PUT", path, what, params={"async": "false"}, json=bodies)
        if response.status_code not in (200, 201):
            raise self._fail(response, "PUT", path, what)
        data = response.json()
        if not isinstance(data, dict):
            raise OpenMetadataError(f"PUT {path} ({what}): expected a BulkOperationResult, got {data!r:.200}")

        def name(item: Any) -> str:
            request = item.get("request") if isinstance(item, dict) else None
            if isinstance(request, str) and request:
                return request
            if isinstance(request, dict) and request.get("name"):
                return fqn_of(request)
            return "?"

        result = BulkResult()
        for item in data.get("successRequest") or []:
            result.succeeded.append(name(item))
        for item in data.get("failedRequest") or []:
            message = item.get("message") if isinstance(item, dict) else None
            result.failed.append((name(item), str(message or "no message")))
        return result

    def list(
        self, collection: str, params: dict[str, str], page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every entity of a paged list, following `paging.after`."""
        path = f"/{collection}"
        query = dict(params, limit=str(page_size))
        while True:
            response = self._call("GET", path, f"list {collection}", params=query)
            if response.status_code != 200:
                raise self._fail(response, "GET", path, f"list {collection}")
            data = response.json()
            yield from data.get("data", [])
            after = (data.get("paging") or {}).get("after")
            if not after:
                return
            query["after"] = after

    def delete(self, collection: str, entity_id: str, name: str, recursive: bool = True) -> None:
        """Soft delete (the entity can be restored)."""
        path = f"/{collection}/{entity_id}"
        params = {"recursive": str(recursive).lower(), "hardDelete": "false"}
        response = self._call("DELETE", path, name, params=params)
        if response.status_code not in (200, 204, 404):
            raise self._fail(response, "DELETE", path, name)

    def put_table_profile(self, table_id: str, table_fqn: str, profile: dict[str, Any]) -> bool:
        """`PUT /tables/{id}/tableProfile` (`createTableProfile.json`); False when the server
        does not know the table."""
        path = f"/tables/{table_id}/tableProfile"
        response = self._call("PUT", path, table_fqn, json=profile)
        if response.status_code == 404:
            return False
        if response.status_code not in (200, 201):
            raise self._fail(response, "PUT", path, table_fqn)
        return True

    def put_test_suite(self, table_fqn: str) -> None:
        """The table's basic test suite, `<table FQN>.testSuite`, at the path 1.x and 2.x servers
        both serve (2.x also serves `/basic`; `TestSuiteResource`)."""
        path = "/dataQuality/testSuites/executable"
        body = {"name": f"{table_fqn}.testSuite", "basicEntityReference": table_fqn}
        response = self._call("PUT", path, table_fqn, json=body)
        if response.status_code not in (200, 201):
            raise self._fail(response, "PUT", path, table_fqn)

    def put_test_case(self, body: dict[str, Any]) -> str:
        """Create or update a test case; its id."""
        path = "/dataQuality/testCases"
        response = self._call("PUT", path, str(body.get("name")), json=body)
        if response.status_code not in (200, 201):
            raise self._fail(response, "PUT", path, str(body.get("name")))
        return str(response.json()["id"])

    def put_failed_rows(self, case_id: str, case_fqn: str, sample: dict[str, Any]) -> None:
        """`PUT /dataQuality/testCases/{id}/failedRowsSample` (`table.json#/definitions/tableData`)."""
        path = f"/dataQuality/testCases/{case_id}/failedRowsSample"
        response = self._call("PUT", path, case_fqn, json=sample)
        if response.status_code not in (200, 201):
            raise self._fail(response, "PUT", path, case_fqn)

    def add_test_result(self, case_fqn: str, result: dict[str, Any]) -> None:
        path = f"/dataQuality/testCases/testCaseResults/{url_quote(case_fqn)}"
        response = self._call("POST", path, case_fqn, json=result)
        if response.status_code not in (200, 201):
            raise self._fail(response, "POST", path, case_fqn)

    def put_pipeline_status(self, pipeline_fqn: str, status: dict[str, Any]) -> None:
        """`PUT /services/ingestionPipelines/{fqn}/pipelineStatus` (upserted by `runId`)."""
        path = f"/services/ingestionPipelines/{url_quote(pipeline_fqn)}/pipelineStatus"
        response = self._call("PUT", path, pipeline_fqn, json=status)
        if response.status_code not in (200, 201):
            raise self._fail(response, "PUT", path, pipeline_fqn)

    def patch(
        self, collection: str, entity_id: str, ops: "list[dict[str, Any]]", what: str
    ) -> dict[str, Any]:
        """RFC 6902 JSON Patch on an entity (`EntityResource.patch`)."""
        path = f"/{collection}/{entity_id}"
        headers = {"Content-Type": "application/json-patch+json"}
        response = self._call("PATCH", path, what, data=json.dumps(ops), headers=headers)
        if response.status_code != 200:
            raise self._fail(response, "PATCH", path, what)
        return response.json()

    def post_usage(self, table_id: str, table_fqn: str, day: str, count: int) -> None:
        """`POST /usage/table/{id}` (`UsageResource.create`): the day's count, replacing what
        that day had (PUT would add to it)."""
        path = f"/usage/table/{table_id}"
        response = self._call("POST", path, table_fqn, json={"date": day, "count": count})
        if response.status_code not in (200, 201):
            raise self._fail(response, "POST", path, table_fqn)

    def compute_percentile(self, entity: str, day: str) -> None:
        """`POST /usage/compute.percentile/{entity}/{date}`: rank the day's usage counts."""
        path = f"/usage/compute.percentile/{entity}/{day}"
        response = self._call("POST", path, f"{entity} percentiles of {day}")
        if response.status_code not in (200, 201):
            raise self._fail(response, "POST", path, f"{entity} percentiles of {day}")

    def put_joins(self, table_id: str, table_fqn: str, joins: dict[str, Any]) -> str | None:
        """`PUT /tables/{id}/joins` (`TableRepository.addJoins`); why the server refused it
        (a 400 or 404: a date, a column or a table it will not take), or None."""
        path = f"/tables/{table_id}/joins"
        response = self._call("PUT", path, table_fqn, json=joins)
        if response.status_code in (400, 404):
            return str(self._fail(response, "PUT", path, table_fqn))
        if response.status_code != 200:
            raise self._fail(response, "PUT", path, table_fqn)
        return None

    def put_query(self, body: dict[str, Any]) -> str | None:
        """`PUT /queries` (create or update by `<service>.<name>`); why the server refused it."""
        what = f"query {body.get('name')}"
        response = self._call("PUT", "/queries", what, json=body)
        if response.status_code in (400, 404):
            return str(self._fail(response, "PUT", "/queries", what))
        if response.status_code not in (200, 201):
            raise self._fail(response, "PUT", "/queries", what)
        return None

    def lineage_edge(self, from_id: str, to_id: str, what: str) -> dict[str, Any] | None:
        """`GET /lineage/getLineageEdge/{from}/{to}`: the edge's `LineageDetails`, or None."""
        path = f"/lineage/getLineageEdge/{from_id}/{to_id}"
        response = self._call("GET", path, what)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, "GET", path, what)
        return (response.json() or {}).get("edge") or {}

    def put_lineage(self, edge: dict[str, Any], what: str) -> str | None:
        """`PUT /lineage` (`AddLineage`): the edge and its details, replacing the details the
        server had (it merges nothing); why the server refused it (400, 404), or None."""
        response = self._call("PUT", "/lineage", what, json={"edge": edge})
        if response.status_code in (400, 404):
            return str(self._fail(response, "PUT", "/lineage", what))
        if response.status_code not in (200, 201):
            raise self._fail(response, "PUT", "/lineage", what)
        return None

    def close(self) -> None:
        self.session.close()


def _headers(server: OpenMetadataServerConfig) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "om-dagster"}
    token = server.jwt_token
    if token and server.authProvider != "basic":
        headers["Authorization"] = f"Bearer {token}"
    for key, value in (server.extraHeaders or {}).items():
        # `%(Header)s` copies a header that is already set (OpenMetadata's convention).
        headers[key] = value % headers if "%(" in value else value
    return headers


def _tls(server: OpenMetadataServerConfig) -> tuple[bool | str, tuple[str, str] | str | None]:
    if server.verifySSL == "ignore":
        return False, None
    ssl = server.sslConfig
    if server.verifySSL == "validate" and ssl:
        cert: tuple[str, str] | str | None = None
        if ssl.sslCertificate and ssl.sslKey:
            cert = (ssl.sslCertificate, ssl.sslKey.get_secret_value())
        elif ssl.sslCertificate:
            cert = ssl.sslCertificate
        return ssl.caCertificate or True, cert
    return True, None


def _server_message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or response.reason
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:500]
    return str(data)[:300]


def _read_timed_out(err: requests.exceptions.ConnectionError) -> bool:
    reason = getattr(err.args[0], "reason", None) if err.args else None
    return isinstance(reason, ReadTimeoutError)


def _root(err: BaseException) -> str:
    """The innermost cause, without the URL-laden wrappers requests adds."""
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    text = str(err)
    return text.split(": ", 1)[-1] if "Max retries" in text else text
