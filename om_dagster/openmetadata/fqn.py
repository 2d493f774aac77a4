"""Fully qualified names, by the rules of OpenMetadata's `Fqn.g4` (see API.md section 4)."""

from urllib.parse import quote as _percent


class FqnError(ValueError):
    """A name that cannot be part of an FQN."""


def quote_name(name: str) -> str:
    """Quote one part: wrap a dotted name in double quotes; refuse a stray quote."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        inner = name[1:-1]
        if '"' in inner:
            raise FqnError(f"invalid name {name!r}: a double quote inside a quoted name")
        return name if "." in inner else inner
    if '"' in name:
        raise FqnError(f"invalid name {name!r}: OpenMetadata names cannot contain a double quote")
    return f'"{name}"' if "." in name else name


def build(*parts: str) -> str:
    return ".".join(quote_name(p) for p in parts)


def url_quote(fqn: str) -> str:
    """Percent-encode for a URL path with no safe characters (dots stay as they are)."""
    return _percent(fqn, safe="")
