"""CloudFormation's side of the custom resource protocol, on one machine: requests in, physical ids and attributes out.

:class:`CustomResourceDriver` does what CloudFormation and the CDK Provider framework do with the Personalize
custom resources (``lambdas/resources/``): it sends a Create, Update or Delete request event to ``on_event``,
merges the answer into the event the way the framework does, and polls ``is_complete`` with it until the
operation is complete or fails. :meth:`CustomResourceDriver.rollback` sends what CloudFormation sends to roll an
update back. ``local.environment.provision`` and the handler tests use it, so the resources a
laptop provisions go through the same code as a deployment.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from resources import provider

Handler = Callable[[dict[str, Any]], dict[str, Any]]
STACK_ID: Final = "arn:aws:cloudformation:us-east-1:123456789012:stack/local/00000000-0000-0000-0000-000000000000"
_counter = itertools.count(1)


class CustomResourceFailed(RuntimeError):
    """A request ended FAILED.

    Attributes
    ----------
    reason
        The status reason CloudFormation would show.
    physical_id
        The physical id the failure was reported with: after a failed create, CloudFormation's rollback sends a
        Delete for it (``None`` when ``on_event`` itself failed: the framework then answers with a marker id whose
        Delete it ignores).
    """

    def __init__(self, request_type: str, resource_type: str, reason: str, physical_id: str | None = None) -> None:
        super().__init__(f"{request_type} {resource_type} failed: {reason}")
        self.reason = reason
        self.physical_id = physical_id


@dataclass
class Deployed:
    """A custom resource as CloudFormation remembers it: type, logical id, physical id, properties, attributes."""

    resource_type: str
    logical_id: str
    physical_id: str
    properties: dict[str, str]
    data: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        """The ``Arn`` attribute (``Fn::GetAtt Resource.Arn``)."""
        return self.data["Arn"]


@dataclass
class CustomResourceDriver:
    """Sends custom resource requests to ``on_event`` and polls ``is_complete``, as the Provider framework does.

    Parameters
    ----------
    on_event, is_complete
        The two handlers, each taking the event (build them with :meth:`for_client`).
    poll_interval
        Seconds between ``is_complete`` calls (the Provider's query interval).
    timeout
        Seconds before a request fails as the framework's "Operation timed out".
    """

    on_event: Handler
    is_complete: Handler
    poll_interval: float = 0.01
    timeout: float = 30.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def for_client(cls, client: Any, **settings: Any) -> CustomResourceDriver:
        """A driver of the real handler logic with ``client`` as its ``personalize`` client."""
        return cls(
            on_event=lambda event: provider.on_event(event, client),
            is_complete=lambda event: provider.is_complete(event, client),
            **settings,
        )

    def create(self, resource_type: str, properties: Mapping[str, str], logical_id: str | None = None) -> Deployed:
        """Create a resource; return it with its physical id and attributes.

        Raises
        ------
        CustomResourceFailed
            The create failed; CloudFormation would now roll back (see :meth:`delete`).
        """
        logical_id = logical_id or f"{resource_type.removeprefix('Custom::')}{next(_counter)}"
        physical_id, data = self._send(
            {"RequestType": "Create", "ResourceType": resource_type, "LogicalResourceId": logical_id},
            properties,
        )
        return Deployed(resource_type, logical_id, physical_id, dict(properties), data)

    def update(self, resource: Deployed, properties: Mapping[str, str]) -> Deployed:
        """Update ``resource`` to ``properties``; the result has a new physical id if the resource was replaced.

        CloudFormation deletes a replaced resource later, in the cleanup phase: call :meth:`delete` on the old one.
        If the update fails, or a later resource of the same stack update does, CloudFormation rolls it back: call
        :meth:`rollback`.
        """
        return self._update(resource, old_properties=resource.properties, properties=properties)

    def rollback(
        self, previous: Deployed, attempted: Deployed | Mapping[str, Any], *, swapped_update: bool = False
    ) -> Deployed:
        """Roll ``previous`` back from an update, as CloudFormation does in UPDATE_ROLLBACK_IN_PROGRESS.

        Parameters
        ----------
        previous
            The resource as CloudFormation recorded it before the update (its physical id and properties).
        attempted
            The update being rolled back: the properties it asked for, when the update itself failed (CloudFormation
            then still records ``previous``); or the resource it produced, when it succeeded and a later resource
            of the same stack update failed.
        swapped_update
            For a replacement (``attempted`` has a new physical id): send CloudFormation's other form of its
            rollback, an Update of the *new* physical id with the properties swapped, instead of deleting it.
            The answer's physical id is the one CloudFormation records; when it differs from ``attempted``'s,
            CloudFormation deletes ``attempted`` in the cleanup phase, after every rollback update: the caller
            sends that :meth:`delete`.

        Returns
        -------
        Deployed
            The resource as CloudFormation records it after the rollback.

        Notes
        -----
        - An update that gave a new physical id (a replacement) left ``previous`` untouched: CloudFormation returns
          to it and deletes the replacement, by its new physical id, in UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS.
          No request reaches ``previous``.
        - CloudFormation may also send a replacement an Update of its new physical id with the properties swapped,
          instead of (or before) the Delete (``swapped_update``).
        - Otherwise CloudFormation sends an Update of the same physical id with the properties swapped:
          ``ResourceProperties`` the previous ones, ``OldResourceProperties`` the attempted ones. (:meth:`update`
          with ``previous.properties`` would send identical old and new properties, which is not that event.)
        """
        if isinstance(attempted, Deployed) and attempted.physical_id != previous.physical_id:
            if swapped_update:
                return self._update(attempted, old_properties=attempted.properties, properties=previous.properties)
            self.delete(attempted)
            return previous
        attempted_properties = attempted.properties if isinstance(attempted, Deployed) else attempted
        current = attempted if isinstance(attempted, Deployed) else previous
        return self._update(current, old_properties=attempted_properties, properties=previous.properties)

    def _update(
        self, resource: Deployed, *, old_properties: Mapping[str, Any], properties: Mapping[str, str]
    ) -> Deployed:
        """Send an Update of ``resource`` (its physical id) from ``old_properties`` to ``properties``."""
        physical_id, data = self._send(
            {
                "RequestType": "Update",
                "ResourceType": resource.resource_type,
                "LogicalResourceId": resource.logical_id,
                "PhysicalResourceId": resource.physical_id,
                "OldResourceProperties": {"ServiceToken": "local", **old_properties},
            },
            properties,
        )
        return Deployed(resource.resource_type, resource.logical_id, physical_id, dict(properties), data)

    def delete(self, resource: Deployed) -> None:
        """Delete ``resource`` and wait until the handlers report it gone."""
        self._send(
            {
                "RequestType": "Delete",
                "ResourceType": resource.resource_type,
                "LogicalResourceId": resource.logical_id,
                "PhysicalResourceId": resource.physical_id,
            },
            resource.properties,
        )

    def _send(self, request: dict[str, Any], properties: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        event: dict[str, Any] = {
            **request,
            "ServiceToken": "local",
            "ResponseURL": "http://127.0.0.1/unused",
            "StackId": STACK_ID,
            "RequestId": str(uuid.uuid4()),
            "ResourceProperties": {"ServiceToken": "local", **properties},
        }
        self.requests.append(event)
        kind, resource_type = event["RequestType"], event["ResourceType"]
        physical_id: str | None = event.get("PhysicalResourceId")
        try:
            answer = self.on_event(event) or {}
            # The framework: the physical id defaults to the request id on Create and the old id otherwise; on
            # Delete it may not change; everything on_event returned travels on to is_complete.
            physical_id = answer.get("PhysicalResourceId") or physical_id or event["RequestId"]
            if kind == "Delete" and physical_id != event["PhysicalResourceId"]:
                raise CustomResourceFailed(kind, resource_type, "DELETE: cannot change the physical resource ID")
            waiter_event = {**event, **answer, "PhysicalResourceId": physical_id}
            deadline = time.monotonic() + self.timeout
            while True:
                result = self.is_complete(waiter_event)
                if result.get("IsComplete"):
                    # The framework sends CloudFormation the waiter's event overlaid with is_complete's answer, so
                    # a PhysicalResourceId in that answer is the one CloudFormation records (framework.ts,
                    # isComplete: `{...event, ...isCompleteResult}`).
                    physical_id = result.get("PhysicalResourceId") or physical_id
                    data = {**waiter_event.get("Data", {}), **result.get("Data", {})}
                    return physical_id, {key: str(value) for key, value in data.items()}
                if result.get("Data"):
                    reason = '"Data" is not allowed if "IsComplete" is "False"'
                    raise CustomResourceFailed(kind, resource_type, reason, physical_id)
                if time.monotonic() > deadline:
                    raise CustomResourceFailed(kind, resource_type, "Operation timed out", physical_id)
                time.sleep(self.poll_interval)
        except CustomResourceFailed:
            raise
        except Exception as error:  # the framework reports whatever a handler raised as the status reason
            raise CustomResourceFailed(kind, resource_type, str(error), physical_id) from error
