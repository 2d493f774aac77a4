"""Dagster resources: where an op's recipe comes from, and the OpenMetadata client (AWS: `aws.py`)."""

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext, OpExecutionContext
from pydantic import Field, PrivateAttr, SecretStr

from om_dagster.core.loader import load_recipe
from om_dagster.core.recipe import JwtSecurityConfig, OpenMetadataServerConfig, Recipe, RecipeError
from om_dagster.openmetadata.client import ClientSettings, OpenMetadataClient

PIPELINE_TAG = "om/pipeline_fqn"
RECIPE_TAG = "om/recipe_path"  # on the ops of a recipe's asset: the recipe file they run
MAX_RUNTIME_TAG = "dagster/max_runtime"  # seconds: run monitoring fails a run past it


def pipeline_tags(pipeline_fqn: str, timeout: int | None = None) -> dict[str, str]:
    """A managed pipeline's run tags: which pipeline, and its `airflowConfig.workflowTimeout`
    as the run's maximum runtime (Airflow's `dagrun_timeout`: the run fails past it)."""
    tags = {PIPELINE_TAG: pipeline_fqn}
    if timeout:
        tags[MAX_RUNTIME_TAG] = str(int(timeout))
    return tags


class RecipeSource(ConfigurableResource, ABC):
    """Where an op's recipe comes from; the ops call `load(context)` when a run starts."""

    @abstractmethod
    def load(self, context: OpExecutionContext) -> Recipe:
        """The recipe as it is now, secrets resolved in this process only."""


class RecipeFiles(RecipeSource):
    """Recipe files: each op of a recipe's asset carries the file's path in its tag
    `om/recipe_path`, set by the factory. Nothing is config, so a launch can never point an
    asset's ops at another recipe."""

    def load(self, context: OpExecutionContext) -> Recipe:
        """Parse the recipe as it is now, expanding `${VAR}` from this process's environment."""
        return load_recipe(recipe_path(context), strict_env=True)


def recipe_path(context: OpExecutionContext) -> Path:
    return Path(context.op.tags[RECIPE_TAG])


class OpenMetadataResource(ConfigurableResource):
    """How runs talk to OpenMetadata. The recipe says which server; this tunes the client
    and can supply the token (through `EnvVar`) when the recipe's server config has none.
    """

    jwt_token: str | None = Field(
        default=None,
        description="JWT used when the recipe has no securityConfig.jwtToken. Set it with EnvVar.",
    )
    connect_timeout: float = 10.0
    read_timeout: float = Field(
        default=60.0, description="Seconds to wait for an answer; tried twice, then the call fails."
    )
    retries: int = Field(
        default=5, description="Retries of idempotent calls on 429/502/503/504 and connection errors."
    )
    backoff_factor: float = 0.5

    def server_config(self, recipe: Recipe) -> OpenMetadataServerConfig:
        server = recipe.server
        if server.securityConfig is None and self.jwt_token:
            server = server.model_copy(
                update={"securityConfig": JwtSecurityConfig(jwtToken=SecretStr(self.jwt_token))}
            )
            if server.authProvider == "basic":
                server = server.model_copy(update={"authProvider": "openmetadata"})
        return server

    def client(self, recipe: Recipe, log: Callable[[str], None] | None = None) -> OpenMetadataClient:
        """A client for the recipe's server; `log` hears of calls the server is slow to answer."""
        settings = ClientSettings(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries=self.retries,
            backoff_factor=self.backoff_factor,
        )
        return OpenMetadataClient(self.server_config(recipe), settings, log)


class ManagedRecipeResource(RecipeSource):
    """The recipe of an ingestion pipeline defined in OpenMetadata, built when the run starts.

    Which pipeline: the run's tag `om/pipeline_fqn` (the sensor and the GraphQL client set
    it). The connection's secrets stay on the server until the run reads them.
    """

    host_port: str = Field(description="OpenMetadata API, e.g. http://localhost:8585/api.")
    jwt_token: str | None = Field(default=None, description="Ingestion bot token. Set it with EnvVar.")
    _pipeline_fqn: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        tags = context.dagster_run.tags if context.dagster_run else {}
        self._pipeline_fqn = tags.get(PIPELINE_TAG)

    def server(self) -> OpenMetadataServerConfig:
        if not self.jwt_token:
            return OpenMetadataServerConfig(hostPort=self.host_port)
        token = {"securityConfig": {"jwtToken": self.jwt_token}}
        return OpenMetadataServerConfig.model_validate(
            {"hostPort": self.host_port, "authProvider": "openmetadata"} | token
        )

    def load(self, context: OpExecutionContext) -> Recipe:
        from om_dagster.openmetadata.managed import pipeline_recipe

        if not self._pipeline_fqn:
            raise RecipeError(
                Path("openmetadata"),
                PIPELINE_TAG,
                f"launch this job with the run tag {PIPELINE_TAG}=<service>.<pipeline name>",
            )
        return pipeline_recipe(self.server(), self._pipeline_fqn)
