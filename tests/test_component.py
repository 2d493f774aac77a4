"""`om_dagster.RecipeComponent` in a small `dg`-style project: recipes configured in
defs.yaml become the same asset, check, job and schedule as in the workflows folder."""

import textwrap
import uuid
from pathlib import Path

import yaml
from dagster import AssetKey
from dagster.components import load_from_defs_folder

from tests.conftest import make_sqlite, recipe_dict


def project(root: Path, components: dict[str, tuple[dict, str]]) -> str:
    """A dg project at `root` whose defs folder holds a component per name: (recipe, defs.yaml)."""
    package = f"omproj_{uuid.uuid4().hex[:8]}"
    (root / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [project]
        name = "{package}"
        version = "0.1.0"

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "{package}"
        defs_module = "{package}.defs"
        """)
    )
    defs = root / "src" / package / "defs"
    defs.mkdir(parents=True)
    (defs.parent / "__init__.py").write_text("")
    (defs / "__init__.py").write_text("")
    for name, (recipe, defs_yaml) in components.items():
        (defs / name).mkdir()
        (defs / name / f"{name}.yaml").write_text(yaml.safe_dump(recipe))
        (defs / name / "defs.yaml").write_text(textwrap.dedent(defs_yaml))
    return package


def test_recipes_in_a_dg_project_become_assets_jobs_and_schedules(tmp_path, monkeypatch):
    db = make_sqlite(tmp_path / "cat.db", "CREATE TABLE a (x INT); CREATE TABLE b (y INT);")

    def recipe(service: str) -> dict:
        return recipe_dict(
            db, service=service, sink={"type": "file", "config": {"filename": str(tmp_path / service)}}
        )

    project(
        tmp_path,
        {
            "shop": (
                recipe("shop"),
                """
                type: om_dagster.RecipeComponent
                attributes:
                  recipe: shop.yaml
                  schedule: "0 3 * * *"
                  owners: [data@example.com]
                """,
            ),
            "crm": (
                recipe("crm"),
                """
                type: om_dagster.RecipeComponent
                attributes:
                  recipe: crm.yaml
                  automation: eager
                  deps: [openmetadata/shop/metadata]
                """,
            ),
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    defs = load_from_defs_folder(path_within_project=tmp_path)
    graph = defs.resolve_asset_graph()
    shop, crm = AssetKey(["openmetadata", "shop", "metadata"]), AssetKey(["openmetadata", "crm", "metadata"])
    assert graph.get_all_asset_keys() == {shop, crm}
    assert graph.get(crm).parent_keys == {shop} and graph.get(shop).owners == ["data@example.com"]
    assert [s.name for s in defs.schedules] == ["shop_schedule"]
    assert "openmetadata_automation" in [s.name for s in defs.sensors]
    result = defs.resolve_job_def("shop").execute_in_process()
    assert result.success
    assert len((tmp_path / "shop").read_text().splitlines()) == 5
    assert [c.passed for c in result.get_asset_check_evaluations()] == [True]


def test_a_component_whose_recipe_is_broken_is_a_job_naming_the_file_and_field(tmp_path, monkeypatch):
    db = make_sqlite(tmp_path / "cat.db", "CREATE TABLE a (x INT);")
    broken = recipe_dict(db)
    broken["source"]["sourceConfig"]["config"]["tableFilterPattern"] = {"include": ["a"]}
    defs_yaml = "type: om_dagster.RecipeComponent\nattributes:\n  recipe: bad.yaml\n"
    package = project(tmp_path, {"bad": (broken, defs_yaml)})
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    job = load_from_defs_folder(path_within_project=tmp_path).resolve_job_def("bad")
    where = tmp_path / "src" / package / "defs" / "bad" / "bad.yaml"
    expected = f"{where}: source.sourceConfig.config.tableFilterPattern.include: is not a field"
    assert expected in job.description
    result = job.execute_in_process(raise_on_error=False)
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.user_failure_data.description.startswith(expected)
