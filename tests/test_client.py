"""The REST client against the stand-in server (which itself must answer like the server)."""

import requests

from om_dagster.client import ClientSettings, OpenMetadataClient
from om_dagster.recipe import OpenMetadataServerConfig

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


def test_soft_delete_and_restore(standin):
    om = client(standin)
    seed(om, tables=1)
    table = om.get_by_name("tables", "svc.db.sch.t000")
    om.delete("tables", table["id"], "svc.db.sch.t000")
    assert om.get_by_name("tables", "svc.db.sch.t000") is None
    assert om.get_by_name("tables", "svc.db.sch.t000", include="all")["deleted"] is True
    om.restore("tables", table["id"], "svc.db.sch.t000")
    assert om.get_by_name("tables", "svc.db.sch.t000")["deleted"] is False


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
    assert call("GET", "/tables")[0] == 401
    assert call("GET", "/tables", headers={"Authorization": "Bearer tok"})[0] == 200


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
