"""The ops every recipe job shares: `source`, `processor`, `sink`, `stage`, `bulk_sink`.

Each op loads the job's recipe (from the `recipe` resource), builds its step from the
registry, drives it, and spools its records for the next op. The last op applies the
recipe's success rule, logs the summary and materializes the recipe's asset,
`openmetadata/<service>/<workflow>`.
"""

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterExecutionInterruptedError,
    DagsterInstance,
    Failure,
    In,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    op,
)

from om_dagster.core.recipe import JOB_NAME_UNSAFE, Recipe, RecipeError, name_clash, namesakes
from om_dagster.core.spool import Spool, prune
from om_dagster.core.status import Status, judge, render_summary
from om_dagster.core.steps import Step, StepError
from om_dagster.location.profiles import profile_metadata
from om_dagster.location.quality import results_metadata
from om_dagster.location.resources import OpenMetadataResource, RecipeSource, recipe_path
from om_dagster.openmetadata import pipeline_status
from om_dagster.openmetadata.client import OpenMetadataError

PROCESS_TAG = "om/process"  # host:pid of the process running the run's steps
STATUS_REPORTED_TAG = "om/status_reported"  # the final state this run already sent to OpenMetadata
ROLE_SECTION = {
    "source": "source",
    "processor": "processor",
    "sink": "sink",
    "stage": "stage",
    "bulk_sink": "bulkSink",
}
FAILURES_SHOWN = 20


def recipe_asset_key(recipe: Recipe) -> AssetKey:
    """`openmetadata/<service>/<workflow>`: what a recipe (or a managed pipeline) materializes."""
    return AssetKey(["openmetadata", JOB_NAME_UNSAFE.sub("_", recipe.service_name), recipe.workflow_kind])


def load(context: OpExecutionContext, recipe: RecipeSource, warn: bool = False) -> Recipe:
    try:
        loaded = recipe.load(context)
    except RecipeError as err:
        raise Failure(description=str(err)) from None
    if warn:
        for warning in loaded.warnings:
            context.log.warning(warning)
    return loaded


def build_step(
    context: OpExecutionContext, loaded: Recipe, role: str, openmetadata: OpenMetadataResource
) -> Step:
    section_name = ROLE_SECTION[role]
    section = getattr(loaded.workflow, section_name)
    step_cls = loaded.steps[section_name]
    config = section.sourceConfig.config if section_name == "source" else (section.config or {})
    try:
        return step_cls.create(config, openmetadata.client(loaded, context.log.warning), loaded)
    except (StepError, RecipeError) as err:
        raise step_failed(loaded, err) from None


def step_failed(loaded: Recipe, err: Exception) -> Failure:
    """A step's error as the run's one line: the recipe it came from, then what happened,
    secrets masked."""
    text = loaded.mask(str(err))
    return Failure(description=text if text.startswith(f"{loaded.path}: ") else f"{loaded.path}: {text}")


SPOOL_RETENTION_ENV = "OM_DAGSTER_SPOOL_RETENTION_HOURS"  # how long spools stay for re-execution


def spool_root(context: OpExecutionContext) -> Path:
    return Path(context.instance.storage_directory()) / "om_dagster"


def spool_path(context: OpExecutionContext, step: str) -> Path:
    return spool_root(context) / context.run_id / f"{step}.jsonl"


def prune_spools(context: OpExecutionContext) -> None:
    """Spools of earlier runs past their retention (default 24 h), whatever those runs' outcome."""
    hours = float(os.environ.get(SPOOL_RETENTION_ENV) or 24)
    if removed := prune(spool_root(context), hours * 3600):
        context.log.debug(f"pruned the spools of {removed} earlier runs (older than {hours:g} h)")


def status_metadata(status: Status) -> dict[str, MetadataValue]:
    meta: dict[str, MetadataValue] = {
        "records": MetadataValue.int(status.records),
        "updated": MetadataValue.int(status.updated),
        "unchanged": MetadataValue.int(status.unchanged),
        "warnings": MetadataValue.int(status.warning_count),
        "failures": MetadataValue.int(status.failure_count),
        "filtered": MetadataValue.int(status.filtered_count),
        "success %": MetadataValue.float(status.success_rate()),
    }
    if status.failures:
        rows = "\n".join(f"| {cell(i.name)} | {cell(i.reason)} |" for i in status.failures[:FAILURES_SHOWN])
        meta["failed entities"] = MetadataValue.md(f"| entity | reason |\n|---|---|\n{rows}")
    return meta


def spool_step(
    context: OpExecutionContext, step: Step, name: str, records: Iterator, upstream: list
) -> Output:
    try:
        with step:
            spool = Spool.write(spool_path(context, name), records)
    except (StepError, OpenMetadataError) as err:
        raise step_failed(step.recipe, err) from None
    spool.statuses = [*upstream, step.status.as_dict()]
    context.log.info(step.status.summary_line())
    return Output(
        spool, metadata={"spooled records": MetadataValue.int(spool.count), **status_metadata(step.status)}
    )


def send_status(
    instance: DagsterInstance,
    run_id: str,
    loaded: Recipe,
    openmetadata: OpenMetadataResource,
    state: str,
    statuses: list[Status] = (),
) -> str | None:
    """Tell OpenMetadata how run `run_id` goes, when the recipe names its ingestion pipeline;
    a warning to log if the server would not take it. Ops and run status sensors share it."""
    if not loaded.workflow.ingestionPipelineFQN:
        return None
    started = instance.get_run_stats(run_id).start_time
    started_ms = int(started * 1000) if started else pipeline_status.now_ms()
    ended = state != "running"
    client = openmetadata.client(loaded)
    try:
        warning = pipeline_status.report(loaded, client, run_id, state, started_ms, statuses, ended=ended)
    finally:
        client.close()
    if not warning and ended:  # the run status sensors leave this run alone
        instance.add_run_tags(run_id, {STATUS_REPORTED_TAG: state})
    return warning


def report_status(
    context: OpExecutionContext,
    loaded: Recipe,
    openmetadata: OpenMetadataResource,
    state: str,
    statuses: list[Status] = (),
) -> None:
    if warning := send_status(context.instance, context.run_id, loaded, openmetadata, state, statuses):
        context.log.warning(warning)


@contextmanager
def stopped_if_terminated(context: OpExecutionContext, loaded: Recipe, openmetadata: OpenMetadataResource):
    """A run terminated from Dagster ends `stopped` in OpenMetadata, daemon or not."""
    try:
        yield
    except DagsterExecutionInterruptedError:
        report_status(context, loaded, openmetadata, "stopped")
        raise


def finish(
    context: OpExecutionContext, loaded: Recipe, step: Step, spool: Spool, openmetadata: OpenMetadataResource
):
    """Judge the run by the recipe's rule, log the summary, tell OpenMetadata, materialize."""
    statuses = [Status.from_dict(s) for s in spool.statuses] + [step.status]
    wf = loaded.workflow.workflowConfig
    outcome = judge(statuses, wf.successThreshold, wf.raiseOnError)
    context.log.info(render_summary(statuses, outcome))
    report_status(context, loaded, openmetadata, outcome.state, statuses)
    metadata: dict[str, MetadataValue] = {
        "state": MetadataValue.text(outcome.state),
        "recipe": MetadataValue.path(str(loaded.path)),
        "failures": MetadataValue.int(sum(s.failure_count for s in statuses)),
    }
    failed = [(status.step, issue) for status in statuses for issue in status.failures]
    if failed:
        rows = "\n".join(
            f"| {step} | {cell(i.name)} | {cell(i.reason)} |" for step, i in failed[:FAILURES_SHOWN]
        )
        metadata["failed entities"] = MetadataValue.md(f"| step | entity | reason |\n|---|---|---|\n{rows}")
    for status in statuses:
        metadata |= {f"{status.step} {k}": v for k, v in status_metadata(status).items()}
    if loaded.workflow_kind == "profiler":
        metadata |= profile_metadata(spool)
    # a test suite's results; a profiler's too when it carries the seed documents' tests
    processor_config = (loaded.workflow.processor.config if loaded.workflow.processor else None) or {}
    legacy_tests = loaded.workflow_kind == "profiler" and "test_suite" in processor_config
    if loaded.workflow_kind == "test_suite" or legacy_tests:
        metadata |= results_metadata(spool)
    if outcome.fail_run:
        raise Failure(description=f"{loaded.path}: {outcome.reason}", metadata=metadata)
    if context.has_assets_def:  # the recipe's asset: this output is its materialization
        yield Output(None, metadata=metadata)
        return
    # a managed pipeline's job: the same key as a recipe file of that service and workflow
    yield AssetMaterialization(asset_key=recipe_asset_key(loaded), metadata=metadata)
    yield Output(None)


def cell(text: str) -> str:
    """Text for a markdown table cell: one line, no column separator."""
    return " ".join(text.split()).replace("|", "/")


def read(context: OpExecutionContext, loaded: Recipe, openmetadata: OpenMetadataResource) -> Output:
    """The source step of either source op: the server checked first when a step writes to it
    (fail in a second, not after reading the whole catalog), status `running`, then the
    records spooled."""
    prune_spools(context)
    # where this run's process is: a run killed outright (kill -9, out of memory) is found by
    # the `openmetadata_dead_runs` sensor, which no launcher tells of `dagster job execute` runs
    context.instance.add_run_tags(context.run_id, {PROCESS_TAG: f"{socket.gethostname()}:{os.getpid()}"})
    if loaded.needs_server:
        client = openmetadata.client(loaded, context.log.warning)
        try:
            client.check()
        except OpenMetadataError as err:
            raise step_failed(loaded, err) from None
        finally:
            client.close()
    report_status(context, loaded, openmetadata, "running")
    with stopped_if_terminated(context, loaded, openmetadata):
        step = build_step(context, loaded, "source", openmetadata)
        return spool_step(context, step, "source", step.run(), [])


# `after`: the upstream assets (a profiler recipe after its service's metadata), no data
AFTER = {"after": In(Nothing)}


@op(ins=AFTER, out=Out(Spool), description="Reads the recipe's source and spools its records.")
def source(context: OpExecutionContext, recipe: RecipeSource, openmetadata: OpenMetadataResource) -> Output:
    return read(context, load(context, recipe, warn=True), openmetadata)


@op(
    ins=AFTER,
    out=Out(Spool),
    # by key, not typed parameters: dagster-aws is imported only where AWS is used
    required_resource_keys={"recipe", "openmetadata", "aws"},
    description="Reads the recipe's AWS source, with credentials the recipe leaves out from `aws`.",
)
def aws_source(context: OpExecutionContext) -> Output:
    loaded = load(context, context.resources.recipe, warn=True)
    loaded.aws_defaults = context.resources.aws.defaults()
    return read(context, loaded, context.resources.openmetadata)


def transform(
    context: OpExecutionContext,
    role: str,
    records: Spool,
    recipe: RecipeSource,
    openmetadata: OpenMetadataResource,
) -> Output:
    """A processor or a stage: records in, records out, spooled for the next op."""
    loaded = load(context, recipe)
    step = build_step(context, loaded, role, openmetadata)
    return spool_step(context, step, role, step.run(records), records.statuses)


@op(out=Out(Spool), description="Passes the records through the recipe's processor.")
def processor(
    context: OpExecutionContext, records: Spool, recipe: RecipeSource, openmetadata: OpenMetadataResource
) -> Output:
    return transform(context, "processor", records, recipe, openmetadata)


@op(
    out={"to_sink": Out(Spool, is_required=False), "to_stage": Out(Spool, is_required=False)},
    description="A managed pipeline's processor, if its type has one; then on to its sink, or to "
    "its stage and bulk sink (usage): the pipeline's shape is known only when its run starts.",
)
def managed_processor(
    context: OpExecutionContext, records: Spool, recipe: RecipeSource, openmetadata: OpenMetadataResource
):
    loaded = load(context, recipe)
    route = "to_stage" if loaded.workflow.stage is not None else "to_sink"
    if loaded.workflow.processor is None:
        yield Output(records, route)
        return
    done = transform(context, "processor", records, recipe, openmetadata)
    yield Output(done.value, route, metadata=done.metadata)


def write(
    context: OpExecutionContext,
    role: str,
    records: Spool,
    recipe: RecipeSource,
    openmetadata: OpenMetadataResource,
):
    loaded = load(context, recipe)
    with stopped_if_terminated(context, loaded, openmetadata):
        step = build_step(context, loaded, role, openmetadata)
        try:
            with step:
                step.run(records)
        except (StepError, OpenMetadataError) as err:
            raise step_failed(loaded, err) from None
    yield from finish(context, loaded, step, records, openmetadata)


@op(out=Out(Nothing), description="Writes the records with the recipe's sink.")
def sink(
    context: OpExecutionContext, records: Spool, recipe: RecipeSource, openmetadata: OpenMetadataResource
):
    yield from write(context, "sink", records, recipe, openmetadata)


@op(out=Out(Spool), description="Aggregates the source's records for the bulk sink.")
def stage(
    context: OpExecutionContext, records: Spool, recipe: RecipeSource, openmetadata: OpenMetadataResource
) -> Output:
    return transform(context, "stage", records, recipe, openmetadata)


@op(out=Out(Nothing), description="Loads the staged records in bulk.")
def bulk_sink(
    context: OpExecutionContext, records: Spool, recipe: RecipeSource, openmetadata: OpenMetadataResource
):
    yield from write(context, "bulk_sink", records, recipe, openmetadata)


@op(description="Stands for a recipe that does not load: fails with the recipe's error.")
def recipe_error(context: OpExecutionContext, recipe: RecipeSource) -> None:
    path = recipe_path(context)
    try:
        recipe.load(context)
    except RecipeError as err:
        raise Failure(description=str(err)) from None
    if others := namesakes(path):
        raise Failure(description=str(name_clash(path, others)))
    raise Failure(description=f"{path} is valid now: reload the code location to run it")
