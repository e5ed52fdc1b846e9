"""``replay``: re-validate validation failures with the ingest Lambda's own code against today's schemas, and send
back the ones that pass; the others stay in the DLQ, untouched."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from contract import DEAD_LETTER_QUEUE_URL, KIND_SPECS, ErrorCode
from ingest.catalog import DatasetCatalog, DatasetInfo
from ingest.decode import Change, decode
from ingest.errors import RejectedRecord, classify
from ingest.model import ApiModel, api_models
from ingest.settings import Settings
from ingest.validate import validate
from tools.dlq.copier import DEFAULT_MAX_PER_SECOND, RateLimiter
from tools.dlq.errors import DlqToolError, check_distinct_queues
from tools.dlq.messages import REPLAYABLE, DeadLetterMessage
from tools.dlq.passes import copy_pass
from tools.dlq.redrive import Method
from tools.dlq.report import DEFAULT_SAMPLES, MoveReport
from tools.dlq.scan import DEFAULT_HOLD_SECONDS, DEFAULT_WAIT_SECONDS

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a dead letter passes validation now, and if not, the code and reason it would get now."""

    passes: bool
    code: str | None = None
    reason: str = ""


class Revalidator:
    """Runs a dead letter's body through the ingest Lambda's own decode and validate, against today's schemas.

    The schema of a kind comes from Personalize (DescribeDataset → DescribeSchema) through the Lambda's own
    ``DatasetCatalog``, for the dataset ARNs in ``settings`` (docs/contracts.md §2). A kind without a dataset, or
    an event kind without a tracking id, is still ``DatasetNotConfigured``, as the Lambda would decide.

    Parameters
    ----------
    settings
        The settings the deployed Lambda runs with (at least its dataset ARNs).
    catalog
        Reads and caches schemas.
    apis
        The Put* API models (botocore's); the Lambda's own by default.
    """

    def __init__(
        self, *, settings: Settings, catalog: DatasetCatalog, apis: Mapping[str, ApiModel] | None = None
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._apis = apis or api_models()
        self._datasets: dict[str, DatasetInfo | Verdict] = {}

    def check(self, message: DeadLetterMessage) -> Verdict:
        """Validate ``message`` as the Lambda would now."""
        try:
            change = decode(message.as_ingest_message())
            dataset = self._dataset(change)
            if isinstance(dataset, Verdict):
                return dataset
            validate(change, self._apis[change.kind.name], dataset.schema)
        except RejectedRecord as rejection:
            return Verdict(passes=False, code=str(rejection.code), reason=rejection.message)
        except Exception as exc:  # one body the Lambda's code chokes on must not stop the replay: it stays put
            return Verdict(passes=False, code=type(exc).__name__, reason="the ingest code failed on this message")
        return Verdict(passes=True)

    def _dataset(self, change: Change) -> DatasetInfo | Verdict:
        # What the Lambda's pipeline decides per kind before it validates, once per run.
        name = change.kind.name
        if name not in self._datasets:
            self._datasets[name] = self._resolve(change)
        return self._datasets[name]

    def _resolve(self, change: Change) -> DatasetInfo | Verdict:
        kind = change.kind
        dataset = self._settings.datasets.get(kind.name)
        if dataset is None:
            return Verdict(False, str(ErrorCode.DATASET_NOT_CONFIGURED), f"{kind.name}: {kind.dataset_env} is not set")
        try:
            info = self._catalog.describe(kind, dataset)
        except Exception as exc:  # any failure to read the schema means "cannot tell": the message stays put
            failure = classify(exc)
            return Verdict(False, failure.error_code, f"cannot read the {kind.name} schema: {failure.message}")
        if not (self._settings.targets.get(kind.name) or info.tracking_id):
            return Verdict(False, str(ErrorCode.DATASET_NOT_CONFIGURED), f"{kind.name}: {kind.target_env} is not set")
        return info


def replay_settings(
    *, dlq_url: str, dataset_arns: Mapping[str, str], tracking_ids: Mapping[str, str], env: Mapping[str, str]
) -> Settings:
    """The Lambda settings (docs/contracts.md §2) replay validates with: the environment's, overridden by the flags.

    Parameters
    ----------
    dlq_url
        The DLQ (the Lambda's environment requires one).
    dataset_arns, tracking_ids
        Kind name (``item``, ``event``, ...) → dataset ARN / tracking id, from ``--dataset-arn`` / ``--tracking-id``.
    env
        The process environment: ``ITEMS_DATASET_ARN``, ``EVENT_TRACKING_ID``... as the Lambda reads them.
    """
    values = {
        name: env[name]
        for kind in KIND_SPECS.values()
        for name in (kind.dataset_env, kind.target_env)
        if env.get(name, "").strip()
    }
    for kind_name, arn in dataset_arns.items():
        values[KIND_SPECS[kind_name].dataset_env] = arn
    for kind_name, tracking_id in tracking_ids.items():
        values[KIND_SPECS[kind_name].target_env] = tracking_id
    values[DEAD_LETTER_QUEUE_URL] = dlq_url
    return Settings.from_env(values)


def not_replayable(codes: frozenset[str] | None) -> str | None:
    """Why replay refuses ``codes`` (None: all of :data:`~tools.dlq.messages.REPLAYABLE`), or None when it takes
    them."""
    refused = sorted((codes or frozenset()) - set(REPLAYABLE))
    if not refused:
        return None
    return f"replay re-validates {', '.join(REPLAYABLE)} only, not {', '.join(refused)}: use redrive for those"


def replay(
    *,
    sqs: SQSClient,
    dlq_url: str,
    queue_url: str,
    revalidator: Revalidator,
    codes: frozenset[str] | None = None,
    dry_run: bool = False,
    max_per_second: float | None = DEFAULT_MAX_PER_SECOND,
    limit: int | None = None,
    samples: int = DEFAULT_SAMPLES,
    hold_seconds: int = DEFAULT_HOLD_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
    limiter: RateLimiter | None = None,
) -> MoveReport:
    """Send back the validation failures that pass validation now; leave the others in the DLQ, untouched.

    Parameters
    ----------
    sqs
        An SQS client.
    dlq_url, queue_url
        From where, to where.
    revalidator
        Decides, message by message, with the Lambda's own code.
    codes
        The codes to re-validate, a subset of :data:`~tools.dlq.messages.REPLAYABLE` (all three when None).
    dry_run
        Re-validate and report; send and delete nothing.
    max_per_second, limit, hold_seconds, wait_seconds, limiter
        As for :func:`tools.dlq.redrive.redrive`.
    samples
        Still-failing messages listed in the report (ids, codes and reasons only).

    Raises
    ------
    DlqToolError
        The queues are the same, or a code is not replayable.
    """
    check_distinct_queues(dlq_url, queue_url)
    refusal = not_replayable(codes)
    if refusal:
        raise DlqToolError(refusal)
    wanted = codes if codes is not None else frozenset(REPLAYABLE)
    report = MoveReport(dlq_url=dlq_url, queue_url=queue_url, dry_run=dry_run, method=str(Method.COPY))

    def passes_now(message: DeadLetterMessage) -> bool:
        if message.code not in wanted:
            return False
        verdict = revalidator.check(message)
        if not verdict.passes and len(report.still_failing) < samples:
            report.still_failing.append(
                {
                    "messageId": message.message_id,
                    "sourceMessageId": message.source_message_id,
                    "was": message.code,
                    "now": verdict.code,
                    "reason": verdict.reason,
                }
            )
        return verdict.passes

    copy_pass(
        sqs=sqs,
        report=report,
        choose=passes_now,
        limit=limit,
        limiter=limiter or RateLimiter(max_per_second or None),
        hold_seconds=hold_seconds,
        wait_seconds=wait_seconds,
    )
    return report
