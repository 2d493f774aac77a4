"""Recipes: OpenMetadata workflow YAML, parsed into models, with one-line errors.

A recipe stays exactly what `metadata ingest` reads (schema
`metadataIngestion/workflow.json`). Dagster-only settings live in a sidecar
`NAME.dagster.yaml`. `${VAR}` references are expanded from the environment when a run
reads the file, so their values never reach run config, tags or metadata.
"""

import functools
import json
import keyword
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from om_dagster.core.status import mask

if TYPE_CHECKING:
    from om_dagster.core.steps import Step

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
JOB_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
# Names Dagster refuses for jobs and ops besides Python keywords (its `DISALLOWED_NAMES`).
RESERVED_NAMES = frozenset(
    {"context", "conf", "config", "meta", "arg_dict", "dict", "input_arg_dict", "output_arg_dict"}
    | {"int", "str", "float", "bool", "input", "output", "type"}
)
# `sourceConfig.config.type` -> the workflow's name in asset keys (OpenMetadata's pipeline types).
WORKFLOW_KINDS = {
    "DatabaseMetadata": "metadata",
    "Profiler": "profiler",
    "TestSuite": "test_suite",
    "DatabaseUsage": "usage",
    "DatabaseLineage": "lineage",
    "AutoClassification": "auto_classification",
    "DBT": "dbt",
}
M = TypeVar("M", bound=BaseModel)


class RecipeError(Exception):
    """A recipe that cannot be used: one line naming the file, the field and the fix."""

    def __init__(self, file: str | Path, field: str, message: str) -> None:
        self.file = str(file)
        self.field = field
        self.message = message
        where = f"{self.file}: {field}: " if field else f"{self.file}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class Legacy:
    """A field of an older OpenMetadata release that recipes printed in its docs still carry.

    It loads with a warning (`note`: what replaced it, or why it is gone) instead of
    refusing the recipe; with a `successor` (a dotted path in the same section) its value
    acts as that field's, unless the recipe sets the successor too.
    """

    note: str
    successor: str | None = None
    #: for a field whose value changed shape: its value to {dotted path: value} in today's schema
    convert: Callable[[Any], dict[str, Any]] | None = None


class Model(BaseModel):
    """Base of recipe models: unknown keys are errors, unsupported and older ones warnings.

    `unsupported` lists schema fields we accept but do not act on yet; setting one to
    anything but its default gives a warning naming it. `legacy` maps fields of older
    OpenMetadata releases to what became of them.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, hide_input_in_errors=True)
    unsupported: ClassVar[frozenset[str]] = frozenset()
    legacy: ClassVar[dict[str, Legacy]] = {}
    _legacy_set: tuple[str, ...] = PrivateAttr(default=())

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
        """`data` in today's schema (legacy fields out, their values to their successors),
        and the legacy fields it had."""
        found = tuple(name for name in cls.legacy if name in data)
        if not found:
            return data, found
        data = dict(data)
        for name in found:
            value = data.pop(name)
            legacy = cls.legacy[name]
            if legacy.successor:
                _set_default(data, legacy.successor.split("."), value)
            for path, converted in (legacy.convert(value) if legacy.convert else {}).items():
                _set_default(data, path.split("."), converted)
        return data, found

    @model_validator(mode="wrap")
    @classmethod
    def _older_fields(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """Upgrade the legacy fields before validation, and remember them for the warnings."""
        found: tuple[str, ...] = ()
        if cls.legacy and isinstance(data, dict):
            data, found = cls.upgrade(data)
        model = handler(data)
        model._legacy_set = found
        return model

    def field_warnings(self, prefix: str) -> list[tuple[str, str]]:
        """(dotted path, what to say) for each unsupported or legacy field this recipe sets,
        nested models included."""
        found = [
            (
                f"{prefix}.{name}" if prefix else name,
                f"a field of older OpenMetadata releases, {self.legacy[name].note}",
            )
            for name in self._legacy_set
        ]
        for name in sorted(self.model_fields_set):
            value = getattr(self, name)
            path = f"{prefix}.{name}" if prefix else name
            if name in self.unsupported:
                if value != type(self).model_fields[name].default:
                    found.append((path, "not supported yet, ignored"))
            elif isinstance(value, Model):
                found.extend(value.field_warnings(path))
        return found


def _set_default(data: dict[str, Any], path: list[str], value: Any) -> None:
    """`data[a][b]... = value` unless the recipe sets it already."""
    head, *rest = path
    if not rest:
        data.setdefault(head, value)
        return
    inner = data.get(head)
    inner = dict(inner) if isinstance(inner, dict) else {}
    _set_default(inner, rest, value)
    data[head] = inner


def field_warnings(origin: str | Path, model: Model, prefix: str) -> list[str]:
    """One line per unsupported or legacy field of `model`, naming the file and the path."""
    return [f"{origin}: {path}: {message}" for path, message in model.field_warnings(prefix)]


class FilterPattern(Model):
    includes: list[str] = Field(default_factory=list)
    excludes: list[str] = Field(default_factory=list)

    @field_validator("includes", "excludes")
    @classmethod
    def _regexes_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"invalid regex {pattern!r}: {err}") from None
        return patterns


# --- workflowConfig.openMetadataServerConfig -------------------------------------------


class JwtSecurityConfig(Model):
    jwtToken: SecretStr


class SslConfig(Model):
    caCertificate: str | None = None
    sslCertificate: str | None = None
    sslKey: SecretStr | None = None


SSO_PROVIDERS = frozenset({"azure", "google", "okta", "auth0", "aws-cognito", "custom-oidc", "ldap", "saml"})
AuthProvider = Literal[
    "no-auth",  # removed in 1.3; still in older recipes (a warning)
    "basic",
    "azure",
    "google",
    "okta",
    "auth0",
    "aws-cognito",
    "custom-oidc",
    "ldap",
    "saml",
    "openmetadata",
]


class OpenMetadataServerConfig(Model):
    unsupported = frozenset(
        {"secretsManagerProvider", "secretsManagerLoader", "forceEntityOverwriting", "elasticsSearch"}
    )

    hostPort: str = "http://localhost:8585/api"
    authProvider: AuthProvider = "basic"
    securityConfig: JwtSecurityConfig | None = None
    verifySSL: Literal["no-ssl", "ignore", "validate"] = "no-ssl"
    sslConfig: SslConfig | None = None
    apiVersion: str = "v1"
    enableVersionValidation: bool = True
    storeServiceConnection: bool = True
    extraHeaders: dict[str, str] | None = None
    secretsManagerProvider: Any = "db"
    secretsManagerLoader: Any = "noop"
    forceEntityOverwriting: bool = False
    elasticsSearch: Any = None
    # Indexing switches of the search-indexing workflow and UI defaults: no effect here.
    clusterName: str = "openmetadata"
    type: Literal["OpenMetadata"] = "OpenMetadata"
    includeTopics: bool = True
    includeTables: bool = True
    includeDashboards: bool = True
    includePipelines: bool = True
    includeMlModels: bool = True
    includeUsers: bool = True
    includeTeams: bool = True
    includeGlossaryTerms: bool = True
    includeTags: bool = True
    includePolicy: bool = True
    includeMessagingServices: bool = True
    includeDatabaseServices: bool = True
    includePipelineServices: bool = True
    limitRecords: int = 1000
    schemaFilterPattern: FilterPattern | None = None
    tableFilterPattern: FilterPattern | None = None
    databaseFilterPattern: FilterPattern | None = None
    supportsDataInsightExtraction: bool | None = None
    supportsElasticSearchReindexingExtraction: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _ingestion_takes_a_jwt(cls, data: Any) -> Any:
        """Older docs print SSO logins (`auth0` with clientId, secretKey, domain...): a server
        takes none from ingestion, only a bot's JWT; with a `jwtToken` the name is harmless."""
        if not isinstance(data, dict) or data.get("authProvider") not in SSO_PROVIDERS:
            return data
        security = data.get("securityConfig")
        if isinstance(security, dict) and "jwtToken" in security:
            return data
        provider = data["authProvider"]
        message = (
            f"{provider!r} is a login for people; OpenMetadata servers take the ingestion bot's JWT "
            "from ingestion: set authProvider: openmetadata and securityConfig.jwtToken "
            "(the token of ingestion-bot, under Settings > Bots)"
        )
        error = PydanticCustomError("value_error", message)
        raise ValidationError.from_exception_data(
            cls.__name__, [InitErrorDetails(type=error, loc=("authProvider",), input=provider)]
        )

    @property
    def jwt_token(self) -> str | None:
        return self.securityConfig.jwtToken.get_secret_value() if self.securityConfig else None

    def field_warnings(self, prefix: str) -> list[tuple[str, str]]:
        found = super().field_warnings(prefix)
        if self.authProvider == "no-auth":
            found.append(
                (
                    f"{prefix}.authProvider" if prefix else "authProvider",
                    "'no-auth' was removed in 1.3 (servers take the ingestion bot's JWT: authProvider: "
                    "openmetadata and securityConfig.jwtToken); a token is sent only if one is set",
                )
            )
        return found


class WorkflowConfig(Model):
    unsupported = frozenset({"config", "loggerLevel"})

    loggerLevel: Literal["DEBUG", "INFO", "WARN", "ERROR"] = "INFO"
    raiseOnError: bool = True
    successThreshold: int = Field(default=90, ge=0, le=100)
    openMetadataServerConfig: OpenMetadataServerConfig
    config: dict[str, Any] | None = None


# --- steps ----------------------------------------------------------------------------


class ComponentConfig(Model):
    """`processor`, `stage`, `sink`, `bulkSink`: a type and its free-form config."""

    type: str
    config: dict[str, Any] | None = None


class SourceConfig(Model):
    config: dict[str, Any] = Field(default_factory=dict)


class ServiceConnection(Model):
    config: dict[str, Any]


class SourceSection(Model):
    type: str
    serviceName: str | None = None
    serviceConnection: ServiceConnection | None = None
    sourceConfig: SourceConfig


class Workflow(Model):
    """The recipe envelope (`workflow.json#/properties/openMetadataWorkflowConfig`)."""

    unsupported = frozenset({"ingestionRunnerName", "enableStreamableLogs"})

    source: SourceSection
    processor: ComponentConfig | None = None
    stage: ComponentConfig | None = None
    bulkSink: ComponentConfig | None = None
    sink: ComponentConfig | None = None
    workflowConfig: WorkflowConfig
    ingestionPipelineFQN: str | None = None
    pipelineRunId: str | None = None
    ingestionRunnerName: str | None = None
    enableStreamableLogs: bool = False


def valid_cron(value: str | None) -> str | None:
    from dagster._utils.schedules import is_valid_cron_string  # the sidecar is Dagster's part

    if value is not None and not is_valid_cron_string(value):
        raise ValueError(f"{value!r} is not a valid cron expression (e.g. '0 3 * * *')")
    return value


class OnCron(Model):
    """`automation: {on_cron: "0 2 * * *"}`: once a cron tick has passed and upstream is fresh."""

    on_cron: str

    _valid_cron = field_validator("on_cron")(valid_cron)


class Sidecar(Model):
    """`NAME.dagster.yaml`: what Dagster needs and `metadata ingest` must never see."""

    schedule: str | None = None
    timezone: str = "UTC"
    enabled: bool = False
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    owners: list[str] = Field(default_factory=list)  # of the asset: emails or `team:name`
    automation: Literal["eager"] | OnCron | None = None
    deps: list[str] = Field(default_factory=list)  # stems of upstream recipes in the folder
    severity: Literal["ERROR", "WARN"] = "ERROR"  # of the asset checks a test suite's cases become

    _valid_cron = field_validator("schedule")(valid_cron)

    @field_validator("automation", mode="before")
    @classmethod
    def _one_automation(cls, value: Any) -> Any:
        if value is None or value == "eager" or isinstance(value, OnCron):
            return value
        if isinstance(value, dict):
            return OnCron.model_validate(value)
        raise ValueError("expected `eager` or `{on_cron: '<cron>'}`")

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (an IANA name such as 'Europe/Paris')") from None
        return value


# --- loading --------------------------------------------------------------------------


class Recipe:
    """A parsed recipe: its file, the workflow model, the steps' classes and warnings."""

    def __init__(self, path: Path, workflow: Workflow, sidecar: Sidecar, warnings: list[str]) -> None:
        self.path = path
        self.workflow = workflow
        self.sidecar = sidecar
        self.warnings = warnings
        self.steps: dict[str, type[Step]] = {}  # by recipe section: source, processor, sink...
        #: AWS settings from the `aws` resource, for what a recipe's `awsConfig` leaves out.
        self.aws_defaults: dict[str, Any] = {}

    @functools.cached_property
    def secrets(self) -> frozenset[str]:
        """Every secret value in the recipe, to mask wherever text could carry it."""
        found = set(secret_values(self.workflow))
        if self.workflow.source.serviceConnection:
            found.update(secret_values(self.workflow.source.serviceConnection.config))
        return frozenset(v for v in found if len(v) >= 4)  # masking "a" would garble every message

    def mask(self, text: str) -> str:
        return mask(text, self.secrets)

    def resolve(self, path: str) -> Path:
        """A path the recipe names: `~` expanded, a relative one from the recipe's folder (so a
        recipe runs from any working directory); a recipe built from a pipeline has no folder."""
        given = Path(path).expanduser()
        if given.is_absolute() or not self.path.parent.is_dir():
            return given
        return self.path.parent / given

    @property
    def workflow_kind(self) -> str:
        """`metadata`, `profiler`, `test_suite`, `usage`, `lineage`...: what the recipe runs.
        Without a `type`, OpenMetadata reads usage and lineage from the source's name."""
        source = self.workflow.source
        kind = source.sourceConfig.config.get("type")
        if kind is None:
            by_name = {"-usage": "DatabaseUsage", "-lineage": "DatabaseLineage"}
            kind = next((k for end, k in by_name.items() if source.type.endswith(end)), "DatabaseMetadata")
        return WORKFLOW_KINDS.get(kind, JOB_NAME_UNSAFE.sub("_", str(kind)).lower())

    @property
    def service_connection(self) -> dict[str, Any] | None:
        """The connection a service entity made from this recipe stores (today's schema)."""
        return self.steps["source"].service_connection(self)

    @property
    def needs_server(self) -> bool:
        return any(step.needs_server for step in self.steps.values())

    @property
    def uses_aws(self) -> bool:
        return any(step.uses_aws for step in self.steps.values())

    @property
    def job_name(self) -> str:
        return job_name_for(self.path)

    @property
    def service_name(self) -> str:
        return self.workflow.source.serviceName or self.job_name

    @property
    def server(self) -> OpenMetadataServerConfig:
        return self.workflow.workflowConfig.openMetadataServerConfig

    def error(self, field: str, message: str) -> RecipeError:
        return RecipeError(self.path, field, message)


SECRET_KEY = re.compile(r"password|secret|token|private|passphrase|credential|apikey|sslkey", re.IGNORECASE)


def secret_values(value: Any, key: str = "") -> list[str]:
    """Secret values in a model or raw config: `SecretStr`s, and strings under secret-sounding keys."""
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    if isinstance(value, BaseModel):  # typed: its secrets are SecretStr
        return [s for name in type(value).model_fields for s in secret_values(getattr(value, name))]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in secret_values(v, str(k))]
    if isinstance(value, list):
        return [s for v in value for s in secret_values(v, key)]
    if isinstance(value, str) and SECRET_KEY.search(key):
        return [value]
    return []


def job_name_for(path: Path) -> str:
    """The stem with characters outside [A-Za-z0-9_] as `_`; a name Dagster reserves
    (a Python keyword, `meta`, `config`...) or one starting with a digit gets a `_`."""
    name = JOB_NAME_UNSAFE.sub("_", path.stem)
    if name[:1].isdigit():
        return f"_{name}"
    return f"{name}_" if name in RESERVED_NAMES or keyword.iskeyword(name) else name


def expand_env(value: Any, file: Path, path: str = "", strict: bool = True) -> Any:
    """Replace `${VAR}` in every string of the tree; an unset VAR is an error if strict."""
    if isinstance(value, dict):
        return {k: expand_env(v, file, f"{path}.{k}" if path else str(k), strict) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, file, f"{path}[{i}]", strict) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in os.environ:
            return os.environ[name]
        if strict:
            raise RecipeError(file, path, f"refers to ${{{name}}}, which is not set: export {name}")
        return match.group(0)

    return ENV_REF.sub(sub, value)


def read_document(path: Path) -> dict[str, Any]:
    """A recipe or sidecar as a mapping: JSON for `*.json` (as `metadata ingest -c` reads
    it), YAML otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RecipeError(path, "", f"cannot read: {err.strerror}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise RecipeError(
                path, "", f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
            ) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise RecipeError(path, "", f"invalid YAML at {where}{problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(path, "", f"expected a mapping at the top, got {type(data).__name__}")
    return data


PROBLEMS_SHOWN = 10


def validation_error(file: Path, err: ValidationError, prefix: str = "") -> RecipeError:
    """Every problem of a pydantic error on one line, the first field leading, so one edit
    fixes them all (one problem a field)."""
    problems: dict[str, str] = {}
    for problem in err.errors():
        loc = ".".join(str(p) for p in problem["loc"] if not str(p).startswith("function-"))
        field = f"{prefix}.{loc}" if prefix and loc else prefix or loc
        problems.setdefault(field, problem_message(problem))
    (field, message), *others = problems.items()
    if others:
        shown = "; ".join(f"{f}: {m}" for f, m in others[: PROBLEMS_SHOWN - 1])
        beyond = len(others) - (PROBLEMS_SHOWN - 1)
        message += f"; also {shown}" + (f" (and {beyond} more)" if beyond > 0 else "")
    return RecipeError(file, field, message)


def problem_message(problem: Any) -> str:
    kind = problem["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "is not a field of this section (check the spelling against the OpenMetadata schema)"
    if kind == "literal_error":
        return f"expected {problem['ctx']['expected']}"
    return problem["msg"].removeprefix("Value error, ")


def parse_model(model: type[M], data: Any, file: Path, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise validation_error(file, err, prefix) from None


RECIPE_SUFFIXES = (".yaml", ".yml", ".json")


def namesakes(path: Path) -> list[Path]:
    """Other recipe files of the folder that would give this one's job name."""
    name = job_name_for(path)
    return sorted(
        p
        for p in path.parent.iterdir()
        if p != path and p.suffix in RECIPE_SUFFIXES and not is_sidecar(p) and job_name_for(p) == name
    )


def name_clash(path: Path, others: list[Path]) -> RecipeError:
    """`shop.yaml` beside `shop.json`: which one runs must not be a guess."""
    listed = ", ".join(str(p) for p in others)
    return RecipeError(
        path, "", f"job name {job_name_for(path)!r} is also that of {listed}: rename or remove all but one"
    )


def is_sidecar(path: Path) -> bool:
    return path.name.endswith((".dagster.yaml", ".dagster.yml"))


def sidecar_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.dagster.yaml")
