"""How the project's commands (``tools.dlq``, ``tools.backfill``) name an AWS failure: one line, never a traceback."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError


def describe_error(exc: Exception) -> str:
    """One line naming what refused or failed: ``Code: message`` for a service error, else the exception's type."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def command_failure(exc: BotoCoreError | ClientError) -> str:
    """What a command prints when the SDK stops it: what to set when region or credentials are missing, else the
    service's refusal."""
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region, or set AWS_REGION (or a profile's region)"
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials (environment, AWS_PROFILE, SSO or an instance role)"
    return f"AWS refused a call: {describe_error(exc)}"
