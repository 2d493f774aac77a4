"""The jobs' console logger: Dagster's own, except that a failure we raised reads as its line.

Every error om-dagster raises in a run is a `Failure` whose description is one line naming
the recipe, the field or entity and the fix. Dagster's console logger prints it followed
by ~25 lines of framework stack trace, twice (the step's failure, then the run's), which
buries it. This logger prints such a failure as its description alone; any other
exception (a bug: ours or a library's) keeps its full stack trace. The event log, and so
the UI, keep everything.
"""

import logging
from typing import Any

from dagster import ConfigMapping, Field, InitLoggerContext, colored_console_logger, logger

FAILURE_CLASS = "Failure"
# A job's config: no run config to edit (the recipe fixes what runs), and the `console` logger
# named, which is what makes Dagster use the job's loggers. A mapping rather than a default
# config dict: a dict would be resolved against the resources once, and pin their config
# over resources given to `execute_in_process(resources=...)`.
LOGGER_CONFIG = ConfigMapping(config_fn=lambda _: {"loggers": {"console": {"config": {}}}}, config_schema={})


class OneLineFailures(logging.Filter):
    """Rewrites the message of a record whose Dagster event carries a `Failure`."""

    def filter(self, record: logging.LogRecord) -> bool:
        meta: dict[str, Any] = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        error = getattr(getattr(event, "event_specific_data", None), "error", None)
        if error is not None and error.cls_name == FAILURE_CLASS and not error.cause:
            head = str(record.msg).split("\n\n", 1)[0]
            description = error.message.split(": ", 1)[-1].strip()
            record.msg = f"{head}\n\n{description}"
            record.args = ()
        return True


@logger(
    {
        "log_level": Field(str, is_required=False, default_value="DEBUG", description="The threshold."),
        "name": Field(str, is_required=False, default_value="dagster", description="The logger's name."),
    },
    description="Dagster's colored console logger; a failure om-dagster raised prints as its one line.",
)
def console(init_context: InitLoggerContext) -> logging.Logger:
    console_logger = colored_console_logger.logger_fn(init_context)
    for handler in console_logger.handlers:
        handler.addFilter(OneLineFailures())
    return console_logger


LOGGERS = {"console": console}
