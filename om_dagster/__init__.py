"""om-dagster: OpenMetadata ingestion recipes as Dagster assets.

`defs` (the Dagster code location) is built on first access, so importing the
connector core (`om_dagster.core.steps`, `om_dagster.sources...`) never loads recipes.
"""

from functools import cache
from typing import Any


@cache
def _defs() -> Any:
    import gc

    from om_dagster.location.definitions import build_definitions

    defs = build_definitions()
    # What start-up made (Dagster's modules, the definitions) lives as long as the process:
    # kept out of the collector's scans, the full collections of a run and the one at exit
    # go (a one-table `dagster job execute`: 2.66 s to 2.19 s, median of 10).
    gc.freeze()
    return defs


def __getattr__(name: str) -> Any:
    if name == "defs":
        return _defs()
    if name == "RecipeComponent":  # `type: om_dagster.RecipeComponent` in a dg project's defs.yaml
        from om_dagster.location.component import RecipeComponent

        return RecipeComponent
    raise AttributeError(f"module 'om_dagster' has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), "defs"]
