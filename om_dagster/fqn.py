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


def split(fqn: str) -> list[str]:
    """Split into parts, keeping quoted parts with their quotes (as the grammar does)."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    for ch in fqn:
        if ch == '"':
            in_quotes = not in_quotes
            current.append(ch)
        elif ch == "." and not in_quotes:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if in_quotes:
        raise FqnError(f"invalid FQN {fqn!r}: unbalanced double quote")
    parts.append("".join(current))
    if any(p == "" for p in parts):
        raise FqnError(f"invalid FQN {fqn!r}: empty part")
    return parts


def unquote(part: str) -> str:
    return part[1:-1] if len(part) >= 2 and part.startswith('"') and part.endswith('"') else part


def url_quote(fqn: str) -> str:
    """Percent-encode for a URL path with no safe characters (dots stay as they are)."""
    return _percent(fqn, safe="")
