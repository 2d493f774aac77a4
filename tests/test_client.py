"""The REST client against the stand-in server (which itself must answer like the server)."""

import pytest
import requests

from om_dagster.core.recipe import OpenMetadataServerConfig
from om_dagster.openmetadata.client import ClientSettings, OpenMetadataClient, OpenMetadataError

COLUMNS = [{"name": "id", "dataType": "INT"}]


def client(standin, **server) -> OpenMetadataClient:
    config = OpenMetadataServerConfig(hostPort=standin.url, **server)
    return OpenMetadataClient(config, ClientSettings(retries=1, backoff_factor=0.01))


def seed(om: OpenMetadataClient, schema: str = "sch", tables: int = 0) -> None:
    om.put("services/databaseServices", {"name": "svc", "serviceType": "SQLite"})
    om.put("databases", {"name": "db", "service": "svc"})
    om.put("databaseSchemas", {"name": schema, "database": "svc.db"})
    for i in range(tables):
        om.put("tables", {"name": f"t{i:03}", "databaseSchema": f"svc.db.{schema}", "columns": COLUMNS})


def test_paged_lists_are_followed_to_the_end(standin):
    om = client(standin)
    seed(om, tables=25)
    names = [t["name"] for t in om.list("tables", {"databaseSchema": "svc.db.sch"}, page_size=10)]
    assert names == [f"t{i:03}" for i in range(25)]
    assert standin.count("GET", "/api/v1/tables") == 3


def test_get_by_name_encodes_awkward_fqns(standin):
    om = client(standin)
    seed(om, schema="my.schema")
    om.put("tables", {"name": "a/b c", "databaseSchema": 'svc.db."my.schema"', "columns": COLUMNS})
    found = om.get_by_name("tables", 'svc.db."my.schema".a/b c')
    assert found["fullyQualifiedName"] == 'svc.db."my.schema".a/b c'
    assert om.get_by_name("tables", "svc.db.nope.t") is None


def test_soft_delete_and_a_put_restores(standin):
    om = client(standin)
    seed(om, tables=1)
    table = om.get_by_name("tables", "svc.db.sch.t000")
    om.delete("tables", table["id"], "svc.db.sch.t000")
    assert om.get_by_name("tables", "svc.db.sch.t000") is None
    assert om.get_by_name("tables", "svc.db.sch.t000", include="all")["deleted"] is True
    om.put("tables", {"name": "t000", "databaseSchema": "svc.db.sch", "columns": COLUMNS})
    restored = om.get_by_name("tables", "svc.db.sch.t000")
    assert restored["deleted"] is False and restored["id"] == table["id"]


def table_fqn(body: dict) -> str:
    return f"{body['databaseSchema']}.{body['name']}"


def test_bulk_answers_are_read_as_the_server_sends_them(standin):
    """Stored tables come back as FQN strings (created or updated alike), a table refused
    before the write as its request object, one whose write fails as its FQN."""
    om = client(standin)
    seed(om, schema="my.schema", tables=0)
    schema = 'svc.db."my.schema"'
    bodies = [{"name": n, "databaseSchema": schema, "columns": COLUMNS} for n in ("a", "b.c", "d")]
    first = om.bulk_put("tables", bodies, table_fqn)
    assert first.succeeded == [f"{schema}.a", f'{schema}."b.c"', f"{schema}.d"] and first.failed == []
    standin.fail_writes = {f"{schema}.d"}
    bodies[0]["description"] = "changed"
    bodies.append({"name": "bad::name", "databaseSchema": schema, "columns": COLUMNS})
    bodies.append({"name": "lost", "databaseSchema": "svc.db.nope", "columns": COLUMNS})
    second = om.bulk_put("tables", bodies, table_fqn)
    assert second.succeeded == [f"{schema}.a", f'{schema}."b.c"']
    failed = dict(second.failed)
    assert set(failed) == {f"{schema}.d", f"{schema}.bad::name", "svc.db.nope.lost"}
    assert "databaseSchema instance for svc.db.nope not found" in failed["svc.db.nope.lost"]
    assert failed[f"{schema}.d"] == "Entity does not exist and could not be created"


def test_extra_headers_are_sent_and_can_copy_the_authorization(standin):
    standin.token = "tok"
    om = client(
        standin,
        authProvider="openmetadata",
        securityConfig={"jwtToken": "tok"},
        extraHeaders={"X-Forwarded-Auth": "%(Authorization)s", "X-Team": "data"},
    )
    assert om.session.headers["X-Forwarded-Auth"] == "Bearer tok"
    assert om.session.headers["X-Team"] == "data"
    seed(om)


def raw(standin, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, f"{standin.url}/v1{path}", timeout=5, **kw)


def test_the_standin_answers_like_the_server(standin):
    """404 for a missing entity or parent, 400 for a body the schema refuses, 401 without the token."""

    def call(method: str, path: str, **kw) -> tuple[int, str]:
        response = requests.request(method, f"{standin.url}/v1{path}", timeout=5, **kw)
        return response.status_code, response.json().get("message", "") if response.content else ""

    assert call("GET", "/tables/name/svc.db.sch.t") == (404, "table instance for svc.db.sch.t not found")
    status, message = call("PUT", "/databases", json={"name": "db", "service": "nope"})
    assert status == 404 and "databaseService instance for nope not found" in message
    status, message = call("PUT", "/services/databaseServices", json={"name": "s", "serviceType": "Nope"})
    assert status == 400 and "serviceType" in message
    status, message = call("PUT", "/databases", json={"name": "d", "service": "s", "colour": "red"})
    assert status == 400 and "colour" in message
    standin.token = "tok"
    assert call("GET", "/tables") == (401, "Not Authorized! Token not present")
    assert call("GET", "/tables", headers={"Authorization": "Bearer nope"}) == (
        401,
        "Not Authorized! Invalid token.",
    )
    assert call("GET", "/tables", headers={"Authorization": "Bearer tok"})[0] == 200


def test_the_standin_bulk_restore_paging_and_status_answers_follow_the_server(standin):
    """The shapes of `BulkImportService`, `EntityRepository.restoreEntity`, `listAfter` and
    `addPipelineStatus`, which a client could easily guess wrong."""
    om = client(standin)
    seed(om, tables=3)
    bulk = raw(
        standin,
        "PUT",
        "/tables/bulk",
        params={"async": "false"},
        json=[
            {"name": "t000", "databaseSchema": "svc.db.sch", "columns": COLUMNS, "description": "d"},
            {"name": "new", "databaseSchema": "svc.db.sch", "columns": COLUMNS},
        ],
    )
    assert bulk.status_code == 200
    assert bulk.json() == {
        "status": "success",
        "numberOfRowsProcessed": 2,
        "numberOfRowsPassed": 2,
        "numberOfRowsFailed": 0,
        "successRequest": [
            {"request": "svc.db.sch.new", "status": 200},
            {"request": "svc.db.sch.t000", "status": 200},
        ],
    }
    refused = {"name": "x", "databaseSchema": "svc.db.none", "columns": COLUMNS}
    bulk = raw(standin, "PUT", "/tables/bulk", json=[refused]).json()
    assert bulk["status"] == "failure" and "successRequest" not in bulk
    assert bulk["failedRequest"] == [
        {"request": refused, "status": 400, "message": "databaseSchema instance for svc.db.none not found"}
    ]
    live = om.get_by_name("tables", "svc.db.sch.t001")
    assert raw(standin, "PUT", "/tables/restore", json={"id": live["id"]}).status_code == 500
    counted = raw(standin, "GET", "/tables", params={"limit": 0}).json()
    assert counted == {"data": [], "paging": {"total": 4}}
    page = raw(standin, "GET", "/tables", params={"limit": 3}).json()
    assert "before" not in page["paging"]
    last = raw(standin, "GET", "/tables", params={"limit": 3, "after": page["paging"]["after"]}).json()
    assert [t["name"] for t in last["data"]] == ["t002"] and "after" not in last["paging"]


def test_tls_settings_follow_verify_ssl(tmp_path):
    def session(**server):
        om = OpenMetadataClient(OpenMetadataServerConfig(hostPort="https://om.example:8585/api", **server))
        return om.session.verify, om.session.cert

    assert session() == (True, None)
    assert session(verifySSL="ignore") == (False, None)
    ca, cert, key = str(tmp_path / "ca.pem"), str(tmp_path / "c.pem"), str(tmp_path / "k.pem")
    ssl = {"caCertificate": ca, "sslCertificate": cert, "sslKey": key}
    assert session(verifySSL="validate", sslConfig=ssl) == (ca, (cert, key))
    assert session(verifySSL="validate", sslConfig={"caCertificate": ca}) == (ca, None)


def test_a_server_that_never_answers_fails_the_call_after_two_tries(standin):
    """A server that takes the connection and stays silent: each try waits `read_timeout`, a
    second try, then one line; never half an hour of nothing."""
    standin.delay("GET", "/api/v1/system/version", seconds=3, times=5)
    om = OpenMetadataClient(
        OpenMetadataServerConfig(hostPort=standin.url),
        ClientSettings(read_timeout=0.5, retries=3, backoff_factor=0.01),
    )
    with pytest.raises(OpenMetadataError) as err:
        om.version()
    assert str(err.value).endswith("the server took the call but sent no answer in 0.5 s, 2 tries")
    assert standin.count("GET", "/api/v1/system/version") == 2


def test_a_call_the_server_is_slow_to_answer_is_logged_while_it_waits(standin):
    """A silent server is never silent in the run: one line once `notice_after` has passed."""
    standin.delay("GET", "/api/v1/system/version", seconds=1.5, times=1)
    heard: list[str] = []
    om = OpenMetadataClient(
        OpenMetadataServerConfig(hostPort=standin.url), ClientSettings(notice_after=0.3), heard.append
    )
    assert om.version()
    assert heard == [
        "GET /system/version (version handshake): the OpenMetadata server has not answered in 0.3 s; "
        "waiting up to 60 s a try, 2 tries"
    ]
    om.version()  # answered at once: nothing more is said
    assert len(heard) == 1
