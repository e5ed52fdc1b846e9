"""Composition root of the CDK app: read the configuration from the CDK context and build the stack.

This is the only module that reads configuration (cdk.json's ``context``, overridden with ``-c key=value``).
It makes no AWS calls, so ``cdk synth`` works offline and without credentials.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import CONTEXT_KEYS, ConfigError, PipelineConfig
from stacks.ingestion_stack import IngestionStack


def read_config(app: cdk.App) -> PipelineConfig:
    """Validate the app's context values into the typed configuration.

    Parameters
    ----------
    app
        The app whose context (cdk.json, ``-c``, or the ``context`` given to :func:`build_app`) to read.

    Returns
    -------
    PipelineConfig
        The configuration.

    Raises
    ------
    ConfigError
        A value is invalid; the message starts with its context key.
    """
    return PipelineConfig.from_context({key: app.node.try_get_context(key) for key in CONTEXT_KEYS})


def build_app(context: Mapping[str, object] | None = None, *, outdir: str | None = None) -> cdk.App:
    """Build the CDK app: the ingestion stack, checked by cdk-nag's AwsSolutions pack at synthesis.

    Parameters
    ----------
    context
        Context values for the app. ``None`` (the CLI) uses what the CDK CLI passes: cdk.json's ``context``
        with ``-c`` overrides. Tests pass a mapping, which is all the context the app then sees.
    outdir
        Where ``synth()`` writes the cloud assembly; ``None`` lets the CLI (or a temporary directory) decide.

    Returns
    -------
    aws_cdk.App
        The app, not yet synthesized.

    Raises
    ------
    ConfigError
        The context holds an invalid value.
    """
    app = cdk.App(context=dict(context) if context is not None else None, outdir=outdir)
    config = read_config(app)
    IngestionStack(app, config.stack_name, config=config)
    # Every rule of the pack runs on every synth; a finding that is not acknowledged (next to its resource,
    # with a reason) fails the synthesis.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> int:
    """Synthesize the app for the CDK CLI; report a configuration error in one line instead of a traceback."""
    try:
        app = build_app()
    except ConfigError as error:
        print(f"Invalid configuration (cdk.json context or -c): {error}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
