"""``local.environment.provision``: what ``make demo`` and the integration tests stand on, provisioned through the
custom resource handlers the way CloudFormation drives them."""

from __future__ import annotations

from typing import Any

import pytest

from contract import KIND_NAMES, KIND_SPECS
from local.cloudformation import CustomResourceFailed
from local.emulator import EmulatorServer
from local.environment import provision


def test_provision_every_kind_through_handlers_gives_datasets_and_tracking_id(
    personalize: Any, emu: EmulatorServer
) -> None:
    provisioned = provision(personalize, name="local-test", kinds=KIND_NAMES)

    assert provisioned.dataset_group_arn == "arn:aws:personalize:us-east-1:123456789012:dataset-group/local-test"
    assert {kind: arn.rpartition("/")[2] for kind, arn in provisioned.datasets.items()} == {
        name: spec.dataset_type for name, spec in KIND_SPECS.items()
    }
    (tracker,) = personalize.list_event_trackers(datasetGroupArn=provisioned.dataset_group_arn)["eventTrackers"]
    described = personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]
    assert provisioned.event_tracking_id == described["trackingId"]
    # the handlers' way: every create looked first
    assert len(emu.state.calls("ListDatasets")) == len(KIND_NAMES)


def test_provision_items_only_no_tracker(personalize: Any) -> None:
    provisioned = provision(personalize, name="local-items", kinds=("item",))

    assert list(provisioned.datasets) == ["item"]
    assert provisioned.event_tracking_id is None


def test_provision_create_failed_reports_reason(personalize: Any, emu: EmulatorServer) -> None:
    emu.configure(fail_create="^local-broken$", failure_reason="Quota for dataset groups reached")

    with pytest.raises(CustomResourceFailed, match=r"is CREATE FAILED: Quota for dataset groups reached"):
        provision(personalize, name="local-broken", kinds=("item",))
