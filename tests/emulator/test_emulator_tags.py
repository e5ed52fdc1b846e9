"""Tags: TagResource, UntagResource, ListTagsForResource and the tags Create* calls carry, with the service's limits.

Limits from the botocore model (keys 1..128 characters, values 0..256, at most 200 per call) and "Guidelines and
requirements" (https://docs.aws.amazon.com/personalize/latest/dg/personalize-managing-tags.html): 50 tags per
resource, no ``aws:`` prefix. Every call goes over HTTP through boto3 (and the AWS CLI once).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from local.emulator import EmulatorServer
from tests.emulator.emulator_helpers import ManualClock, Setup, aws_cli

Tags = list[dict[str, str]]


def tags(count: int, prefix: str = "k") -> Tags:
    """Return ``count`` distinct tags ``{prefix}0=v0``..."""
    return [{"tagKey": f"{prefix}{n}", "tagValue": f"v{n}"} for n in range(count)]


def listed(personalize: Any, arn: str) -> dict[str, str]:
    """Return a resource's tags as a mapping, as ListTagsForResource answers them."""
    return {tag["tagKey"]: tag["tagValue"] for tag in personalize.list_tags_for_resource(resourceArn=arn)["tags"]}


# How each taggable resource is created with tags (the dataset and the tracker in a group of their own).
CREATORS: dict[str, Callable[[Any, Setup, Tags], str]] = {
    "dataset group": lambda p, _, t: str(p.create_dataset_group(name="tagged", tags=t)["datasetGroupArn"]),
    "dataset": lambda p, s, t: str(
        p.create_dataset(
            name="tagged", schemaArn=s.schema("Items"), datasetGroupArn=s.group(), datasetType="Items", tags=t
        )["datasetArn"]
    ),
    "event tracker": lambda p, s, t: str(
        p.create_event_tracker(name="tagged", datasetGroupArn=s.group(), tags=t)["eventTrackerArn"]
    ),
}


@pytest.mark.parametrize("resource", list(CREATORS))
def test_create_with_tags_lists_them_in_order(personalize: Any, setup: Setup, resource: str) -> None:
    given = [{"tagKey": "team", "tagValue": "data"}, {"tagKey": "env", "tagValue": ""}]

    arn = CREATORS[resource](personalize, setup, given)

    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == given


def test_tag_resource_adds_and_replaces_untag_removes_and_ignores_unknown_keys(personalize: Any, setup: Setup) -> None:
    # GIVEN a group created with two tags
    group = CREATORS["dataset group"](personalize, setup, tags(2))

    # WHEN one tag is replaced and one added, then one removed along with a key the group does not have
    personalize.tag_resource(resourceArn=group, tags=[{"tagKey": "k1", "tagValue": "new"}, *tags(1, prefix="x")])
    after_tag = listed(personalize, group)
    personalize.untag_resource(resourceArn=group, tagKeys=["k0", "absent"])

    # THEN each call's effect shows in the list, and an untagged group has no tags
    assert after_tag == {"k0": "v0", "k1": "new", "x0": "v0"}
    assert listed(personalize, group) == {"k1": "new", "x0": "v0"}
    assert listed(personalize, setup.group()) == {}


def test_tag_resource_past_50_tags_raises_too_many_tags_and_changes_nothing(personalize: Any, setup: Setup) -> None:
    group = CREATORS["dataset group"](personalize, setup, tags(40))

    with pytest.raises(personalize.exceptions.TooManyTagsException, match="at most 50"):
        personalize.tag_resource(resourceArn=group, tags=tags(11, prefix="x"))
    personalize.tag_resource(resourceArn=group, tags=[*tags(10, prefix="x"), *tags(40)])  # 50, replacing 40

    assert len(listed(personalize, group)) == 50


def test_create_with_51_tags_raises_too_many_tags_and_creates_nothing(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.TooManyTagsException):
        personalize.create_dataset_group(name="over", tags=tags(51))

    assert personalize.list_dataset_groups()["datasetGroups"] == []


def test_untag_resource_51_keys_raises_too_many_tag_keys(personalize: Any, setup: Setup) -> None:
    group = setup.group()

    with pytest.raises(personalize.exceptions.TooManyTagKeysException):
        personalize.untag_resource(resourceArn=group, tagKeys=[f"k{n}" for n in range(51)])


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ([{"tagKey": "aws:owner", "tagValue": "me"}], 'cannot start with "aws:"'),
        ([{"tagKey": "owner", "tagValue": "aws:me"}], 'cannot start with "aws:"'),
        ([{"tagKey": "k", "tagValue": "a"}, {"tagKey": "k", "tagValue": "b"}], "given twice"),
        ([{"tagKey": "k" * 129, "tagValue": "v"}], "length less than or equal to 128"),
        ([{"tagKey": "k", "tagValue": "v" * 257}], "length less than or equal to 256"),
        ([{"tagKey": "cost#centre", "tagValue": "v"}], "regular expression pattern"),
        (tags(201), "length less than or equal to 200"),
    ],
)
def test_tag_resource_invalid_tag_raises_invalid_input(
    personalize: Any, setup: Setup, given: Tags, problem: str
) -> None:
    group = setup.group()

    with pytest.raises(personalize.exceptions.InvalidInputException, match=problem):
        personalize.tag_resource(resourceArn=group, tags=given)
    with pytest.raises(personalize.exceptions.InvalidInputException, match=problem):
        personalize.create_event_tracker(name="t", datasetGroupArn=group, tags=given)


def test_tag_operations_on_unknown_or_untaggable_resources(personalize: Any, setup: Setup) -> None:
    unknown = "arn:aws:personalize:us-east-1:123456789012:dataset-group/nowhere"
    schema = setup.schema("Items")

    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.list_tags_for_resource(resourceArn=unknown)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.untag_resource(resourceArn=unknown, tagKeys=["k"])
    with pytest.raises(personalize.exceptions.InvalidInputException, match="schemas are not taggable"):
        personalize.tag_resource(resourceArn=schema, tags=tags(1))
    with pytest.raises(personalize.exceptions.InvalidInputException, match="regular expression"):
        personalize.tag_resource(resourceArn="arn:aws:s3:::bucket", tags=tags(1))


def test_tags_go_with_their_resource_and_cannot_change_while_it_is_deleted(
    emu: EmulatorServer, personalize: Any, setup: Setup, clock: ManualClock
) -> None:
    # On the manual clock, the deletion stays under way until the poller below lets time pass
    # GIVEN a tagged group whose deletion is under way
    group = CREATORS["dataset group"](personalize, setup, tags(3))
    setup.wait(setup.describe_group, group, "ACTIVE")
    emu.configure(delete_delay=0.5)
    personalize.delete_dataset_group(datasetGroupArn=group)

    # WHEN its tags are changed, then read once the group is gone, then a group of the same name is created
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.tag_resource(resourceArn=group, tags=tags(1, prefix="x"))
    while_deleting = listed(personalize, group)
    setup.wait_gone(setup.describe_group, group)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.list_tags_for_resource(resourceArn=group)
    again = personalize.create_dataset_group(name="tagged")["datasetGroupArn"]

    # THEN the tags stayed until the group was gone, and went with it
    assert len(while_deleting) == 3
    assert (again, listed(personalize, again)) == (group, {})


def test_aws_cli_tags_and_lists_tags(emu: EmulatorServer, setup: Setup) -> None:
    group = setup.group()

    tagged = aws_cli(
        emu.endpoint_url, "personalize", "tag-resource", "--resource-arn", group, "--tags", "tagKey=team,tagValue=data"
    )
    listing = aws_cli(emu.endpoint_url, "personalize", "list-tags-for-resource", "--resource-arn", group)

    assert (tagged.returncode, tagged.stderr) == (0, "")
    assert json.loads(listing.stdout) == {"tags": [{"tagKey": "team", "tagValue": "data"}]}
