"""Values the configuration tests share: existing resources' ARNs and ids, and the smallest valid configuration."""

from __future__ import annotations

from stacks.config import PipelineConfig
from tests.infra.synthesis import ITEMS_ARN

KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KMS_ROLE = "arn:aws:iam::111122223333:role/PersonalizeKms"

ITEMS_ONLY = {"items": {"arn": ITEMS_ARN}}
GROUP_ARN = "arn:aws:personalize:us-east-1:111122223333:dataset/personalize-ingest"
INTERACTIONS_ARN = f"{GROUP_ARN}/INTERACTIONS"
TRACKING_ID = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def config_with(**values: object) -> PipelineConfig:
    """A configuration from the bare minimum (one items dataset) plus ``values``."""
    return PipelineConfig.from_context({"datasets": ITEMS_ONLY, **values})
