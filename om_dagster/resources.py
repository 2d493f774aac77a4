"""Dagster resources: the recipe a job runs, and the OpenMetadata client (AWS: `aws.py`)."""

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field, SecretStr

from om_dagster.client import ClientSettings, OpenMetadataClient
from om_dagster.recipe import JwtSecurityConfig, OpenMetadataServerConfig, Recipe, load_recipe


class RecipeResource(ConfigurableResource):
    """The recipe file a job runs. Only its path is config: secrets stay in the file or env."""

    path: str = Field(description="Path of the OpenMetadata recipe (YAML) this job runs.")

    def load(self) -> Recipe:
        """Parse the recipe as it is now, expanding `${VAR}` from this process's environment."""
        return load_recipe(Path(self.path), strict_env=True)


class OpenMetadataResource(ConfigurableResource):
    """How runs talk to OpenMetadata. The recipe says which server; this tunes the client
    and can supply the token (through `EnvVar`) when the recipe's server config has none.
    """

    jwt_token: str | None = Field(
        default=None,
        description="JWT used when the recipe has no securityConfig.jwtToken. Set it with EnvVar.",
    )
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
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

    def client(self, recipe: Recipe) -> OpenMetadataClient:
        settings = ClientSettings(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries=self.retries,
            backoff_factor=self.backoff_factor,
        )
        return OpenMetadataClient(self.server_config(recipe), settings)
