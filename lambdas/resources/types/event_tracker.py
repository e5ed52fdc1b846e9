"""The event tracker row: ``Custom::PersonalizeEventTracker``, the one tracker of a group PutEvents writes through."""

from __future__ import annotations

from typing import Final

from contract import EVENT_TRACKER_RESOURCE_TYPE
from resources.types.base import ResourceType

EVENT_TRACKER: Final = ResourceType(
    cfn_type=EVENT_TRACKER_RESOURCE_TYPE,
    noun="event tracker",
    api_noun="EventTracker",
    required=("Name", "DatasetGroupArn"),
    optional=(),
    replace_on=("Name", "DatasetGroupArn"),
    # "Only one event tracker can be associated with a dataset group" (API_CreateEventTracker.html).
    slot=("DatasetGroupArn",),
    name=lambda properties: properties["Name"],
    create_request=lambda properties: {"name": properties["Name"], "datasetGroupArn": properties["DatasetGroupArn"]},
    list_filter=lambda properties: {"datasetGroupArn": properties["DatasetGroupArn"]},
    # By name, not "the group's one tracker": an Action interactions dataset comes with a tracker Personalize makes
    # for it (action-interaction-tracker-id.html), and whether ListEventTrackers shows that one is undocumented;
    # it must never be adopted as ours. Another tracker of the group makes CreateEventTracker fail, with its reason.
    matches=lambda summary, properties: summary.get("name") == properties["Name"],
    # A tracker has no settings besides its name and group, which are what found it.
    differences=lambda properties, description: [],
    attributes=lambda description: {
        "Arn": str(description["eventTrackerArn"]),
        "Name": str(description["name"]),
        "TrackingId": str(description["trackingId"]),
    },
)
