"""The dataset kinds the configuration accepts: the contract's five kinds, with what the stack checks of each.

The kinds themselves (their names, dataset types, APIs and environment variables) are ``contract.KIND_SPECS``;
this module adds the columns only the stack needs, keyed by the contract's kind: the default schema's path and how
the kind is granted and configured. The fields Personalize requires in the kind's schema are ``schema_rules``'
(``lambdas/schema_rules.py``), the one table the local emulator checks schemas by too. A kind added to the
contract without a row here fails at import, naming the kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from contract import KIND_SPECS, KindSpec
from schema_rules import REQUIRED_FIELDS

# Where the default schemas live, relative to the project root (the contract names the file).
SCHEMAS_DIRECTORY: Final = "schemas"


@dataclass(frozen=True)
class DatasetKind:
    """What the stack needs to know about one Personalize dataset type.

    Parameters
    ----------
    spec
        The contract's kind (``contract.KIND_SPECS["item"]``): names, dataset type, API, environment variables.
    put_on_dataset
        Whether :attr:`put_action` can be scoped to the dataset ARN. PutEvents and PutActionInteractions have no
        resource type and need ``Resource: "*"`` (docs/personalize.md §1).
    needs_metadata
        Whether the schema needs a metadata field besides the required ones (Items, Users, Actions; §4).
    tracking_id_required
        Whether an existing dataset of this kind must be given its tracking id: an event tracker's id cannot be
        derived from the dataset ARN, whereas the Action interactions dataset's own id is read at runtime with
        DescribeDataset when absent.
    """

    spec: KindSpec
    put_on_dataset: bool = True
    needs_metadata: bool = True
    tracking_id_required: bool = False

    @property
    def name(self) -> str:
        """The key under the ``datasets`` context object (``items``)."""
        return self.spec.config_key

    @property
    def dataset_type(self) -> str:
        """The dataset type as it ends a dataset ARN (``.../dataset/<group>/ITEMS``)."""
        return self.spec.dataset_type

    @property
    def required_fields(self) -> tuple[str, ...]:
        """The fields Personalize requires in this type's schema (``schema_rules.REQUIRED_FIELDS``,
        docs/personalize.md §4), checked at synth so a wrong schema file fails ``cdk synth`` rather than the
        deployment."""
        return tuple(REQUIRED_FIELDS[self.dataset_type])

    @property
    def env_var(self) -> str:
        """The ingest Lambda's environment variable that carries the dataset ARN (docs/contracts.md §2)."""
        return self.spec.dataset_env

    @property
    def tracking_env(self) -> str | None:
        """For kinds written through a tracking id, the variable that carries it; ``None`` for the others."""
        return self.spec.tracking_env

    @property
    def put_action(self) -> str:
        """The IAM action of the incremental API that writes this kind (``personalize:PutItems``)."""
        return self.spec.iam_action

    @property
    def default_schema(self) -> str:
        """The schema file (relative to the project root) of a dataset the stack creates when none is configured."""
        return f"{SCHEMAS_DIRECTORY}/{self.spec.schema_file}"


# The stack's columns of each contract kind.
_ROWS: Final = (
    DatasetKind(KIND_SPECS["item"]),
    DatasetKind(KIND_SPECS["action"]),
    DatasetKind(KIND_SPECS["user"]),
    DatasetKind(KIND_SPECS["event"], put_on_dataset=False, needs_metadata=False, tracking_id_required=True),
    DatasetKind(KIND_SPECS["actionInteraction"], put_on_dataset=False, needs_metadata=False),
)


def _kinds() -> Mapping[str, DatasetKind]:
    rows = {row.spec.name: row for row in _ROWS}
    missing = [name for name in KIND_SPECS if name not in rows]
    if missing:
        raise LookupError(f"stacks.config.kinds: no row for the contract's kind(s) {', '.join(missing)}")
    # In the contract's order: the template lists datasets in it, whatever order the configuration names them in.
    return MappingProxyType({spec.config_key: rows[spec.name] for spec in KIND_SPECS.values()})


# Config key (``items``) -> kind.
DATASET_KINDS: Final[Mapping[str, DatasetKind]] = _kinds()
