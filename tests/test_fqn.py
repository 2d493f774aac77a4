import pytest

from om_dagster.openmetadata import fqn


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("svc", "db", "sch", "orders"), "svc.db.sch.orders"),
        (("svc", "db", "my.schema", "orders"), 'svc.db."my.schema".orders'),
        (("svc.prod", "db"), '"svc.prod".db'),
        (("svc", '"sales"'), "svc.sales"),  # quotes around a dot-less name are dropped
        (("svc", '"a.b"'), 'svc."a.b"'),  # already quoted with a dot: kept
        (("svc", "with space", "état", "select"), "svc.with space.état.select"),
    ],
)
def test_build_quotes_dotted_parts(parts, expected):
    assert fqn.build(*parts) == expected


def test_a_double_quote_inside_a_name_is_refused():
    with pytest.raises(fqn.FqnError, match="double quote"):
        fqn.build("svc", 'say "hi"')


def test_url_quote_encodes_everything_but_dots():
    assert fqn.url_quote('svc."a/b c".t') == "svc.%22a%2Fb%20c%22.t"
