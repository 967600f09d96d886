"""The blast radius of a plan: destructive changes by node, why each happens, and the
destroy-time provisioners that will run (docs/design.md#the-destructive-diff, #confirmation). Pure.

A pipeline of one-idea modules: `nodes` (what a node is called), `hcl` (a lexer for the
configuration snapshot), `snapshot` (the snapshot indexed per module), `interpolate`
(provisioner commands resolved from prior state) and `cause` (the chain back to the origin).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from safeterraform.blast.cause import Cause, ConfigurationNeeded, Explainer, Link
from safeterraform.blast.interpolate import SENSITIVE, resolve
from safeterraform.blast.nodes import (
    NodeName,
    attribute,
    choose_node_name,
    display_label,
    display_name,
    display_names,
    node_name,
    state_sensitivity_mask,
    state_values,
    usable_addresses,
)
from safeterraform.blast.snapshot import ConfigIndex
from safeterraform.plan import ResourceChange, format_path, parse, parse_module_address

__all__ = [
    "SENSITIVE",
    "Analysis",
    "Cause",
    "ConfigIndex",
    "ConfigurationNeeded",
    "DestroyProvisioner",
    "DestructiveChange",
    "Link",
    "NodeName",
    "analyze",
    "attribute",
    "cause_from_dict",
    "cause_to_dict",
    "choose_node_name",
    "display_label",
    "display_name",
    "display_names",
    "node_name",
    "recall_causes",
    "resolve",
    "state_sensitivity_mask",
    "state_values",
    "usable_addresses",
]


@dataclass(frozen=True)
class DestructiveChange:
    """A change that destroys or forgets an object (docs/design.md#the-destructive-diff)."""

    address: str
    node: str
    action: str  # destroy, replace, forget, replace-and-forget; "moved-and-..." when moved
    actions: tuple[str, ...]  # as in the plan, e.g. ("delete", "create")
    action_reason: str | None
    reason: str | None  # action_reason in words
    replace_paths: tuple[str, ...]  # attributes that force the replacement
    previous_address: str | None
    deposed: str | None
    create_before_destroy: bool
    provisioners_skipped: str | None = None  # why configured destroy provisioners do not run
    cause: Cause | None = None  # why it happens (issue 19)
    name_hidden: bool = False  # a sensitive value would have named the node
    node_address: str | None = None  # the node's network address, when known and different

    @property
    def kind(self) -> str:
        """destroy, replace or forget: what happens to the current object, for counting."""
        if "replace" in self.action:
            return "replace"
        return "forget" if "forget" in self.action else "destroy"


@dataclass(frozen=True)
class DestroyProvisioner:
    """A `when = destroy` provisioner that runs for an object this plan destroys."""

    address: str
    node: str
    type: str  # local-exec, remote-exec, ...
    command: str  # with self.*, count.index and each.key resolved from prior state
    unresolved: tuple[str, ...]  # interpolations left as written
    source: str  # the configuration file as the user knows it, e.g. "modules/x/main.tf"
    removed_block: bool  # declared in a `removed` block


@dataclass(frozen=True)
class Analysis:
    """What a plan destroys, on which nodes, why, and what runs while it does."""

    terraform_version: str
    changes: tuple[DestructiveChange, ...]
    destroy_provisioners: tuple[DestroyProvisioner, ...]
    affected_nodes: tuple[str, ...]  # sorted, distinct
    nodes_known: int
    creates: int
    updates: int
    imports: int
    warnings: tuple[str, ...] = field(default=())
    # (node, its addresses) for affected nodes that have one that names no other node
    node_addresses: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    @property
    def destructive(self) -> bool:
        return bool(self.changes)

    @property
    def addresses(self) -> dict[str, tuple[str, ...]]:
        """Each affected node's addresses (either they or its name may be typed)."""
        return dict(self.node_addresses)

    def label(self, node: str) -> str:
        """`powder (192.0.2.65)`: a node's name, and its addresses where known."""
        return display_label(node, self.addresses.get(node, ()))

    def labels(self, nodes: Sequence[str] | None = None) -> str:
        """The labels of `nodes` (default: the affected nodes), comma separated."""
        addresses = self.addresses
        chosen = self.affected_nodes if nodes is None else nodes
        return ", ".join(display_label(node, addresses.get(node, ())) for node in chosen)

    @property
    def names_hidden(self) -> bool:
        """True when a sensitive value would have named an affected node."""
        return any(change.name_hidden for change in self.changes)

    def count(self, kind: str) -> int:
        """How many changes destroy, replace or forget (see DestructiveChange.kind)."""
        return sum(1 for change in self.changes if change.kind == kind)

    def by_node(self) -> tuple[tuple[str, tuple[DestructiveChange, ...]], ...]:
        groups: dict[str, list[DestructiveChange]] = {}
        for change in self.changes:
            groups.setdefault(change.node, []).append(change)
        return tuple((node, tuple(changes)) for node, changes in sorted(groups.items()))

    def by_cause(self) -> tuple[tuple[Cause, tuple[DestructiveChange, ...]], ...]:
        """Changes whose causes share an origin, in node order (changes without a cause and
        those whose reason Terraform already gives in full are left out)."""
        groups: dict[str, list[DestructiveChange]] = {}
        for change in self.changes:
            cause = change.cause
            if cause is not None and cause.kind in ("chain", "configuration", "not_found"):
                groups.setdefault(cause.group, []).append(change)
        return tuple(
            (changes[0].cause, tuple(changes))
            for changes in groups.values()
            if changes[0].cause is not None
        )


def analyze(
    plan_json: dict[str, Any],
    snapshot: Mapping[str, str],
    node_attributes: Sequence[str],
    config: ConfigIndex | None = None,
    *,
    native: bool = False,
) -> Analysis:
    """Analyse `terraform show -json` output against the plan's configuration snapshot.

    `nodes_known` counts the distinct nodes named by every prior-state instance of the
    resource blocks that have a destructive change (plus the affected nodes): the headline
    "3 of 3" means every node those resources manage is hit, which is what an operator must
    see; unrelated resources elsewhere in the state do not dilute it.
    """
    plan = parse(plan_json)
    config = config or ConfigIndex(snapshot)
    explainer = Explainer(plan, config)
    changes: list[DestructiveChange] = []
    provisioners: list[DestroyProvisioner] = []
    touched: set[str] = set()
    tainted = {
        instance.address
        for instance in plan.prior_instances
        if instance.tainted and instance.deposed is None
    }
    for change in plan.resource_changes:
        if change.mode != "managed" or not change.destructive:
            continue
        named = choose_node_name(
            change.before,
            change.index,
            change.name,
            change.modules,
            change.address,
            node_attributes,
            change.before_sensitive,
        )
        touched.add(change.config_address)
        skipped = None
        if change.deletes:
            found = list(_destroy_provisioners(config, change, named.name))
            skipped = _skipped(change, change.address in tainted) if found else None
            if skipped is None:
                provisioners.extend(found)
        cause = explainer.explain(change, change.reason_words)
        changes.append(_destructive(change, named, skipped, cause))
    affected = {change.node for change in changes}
    addresses: dict[str, list[str]] = {}
    for destructive in changes:
        if destructive.node_address is not None:
            addresses.setdefault(destructive.node, []).append(destructive.node_address)
    known = set(affected)
    named_already = {change.address for change in changes}
    for instance in plan.prior_instances:
        if instance.address in named_already and instance.deposed is None:
            continue  # its name is among the affected ones
        if instance.mode == "managed" and instance.config_address in touched:
            steps = parse_module_address(instance.module_address)
            known.add(
                node_name(
                    instance.values,
                    instance.index,
                    instance.name,
                    steps,
                    instance.address,
                    node_attributes,
                    instance.sensitive_values,
                )
            )
    if changes and not snapshot:
        config.warnings.append(
            "no configuration snapshot (plan JSON, not a plan file): "
            "destroy-time provisioners cannot be listed"
        )
    if plan.errored:
        config.warnings.append("terraform reported errors while planning: this plan is incomplete")
    changes.sort(key=lambda change: change.node)  # stable: plan order within a node
    provisioners.sort(key=lambda item: item.node)
    managed = [change for change in plan.resource_changes if change.mode == "managed"]
    return Analysis(
        terraform_version=plan.terraform_version,
        changes=tuple(changes),
        destroy_provisioners=tuple(provisioners),
        affected_nodes=tuple(sorted(affected)),
        nodes_known=len(known),
        creates=sum(1 for change in managed if change.actions == ("create",)),
        updates=sum(1 for change in managed if change.actions == ("update",)),
        imports=sum(1 for change in managed if change.importing),
        warnings=tuple(config.warnings),
        node_addresses=tuple(usable_addresses(addresses, affected).items()),
    )


UNTRACED = ("configuration", "not_found")  # the plan alone cannot say more


def recall_causes(analysis: Analysis, causes: Mapping[str, Cause], note: str) -> Analysis:
    """The analysis with each change the plan cannot trace past its own configuration
    explained by the cause an earlier plan traced for the same address (a rollout's
    first plan: its steps apply the upstream change before the later nodes' plans, which
    then no longer show it). `note` says where the cause comes from."""
    changes = []
    for change in analysis.changes:
        earlier = causes.get(change.address)
        if (
            earlier is not None
            and earlier.kind not in UNTRACED
            and (change.cause is None or change.cause.kind in UNTRACED)
        ):
            said = "; ".join(part for part in (earlier.note, note) if part)
            change = dataclasses.replace(change, cause=dataclasses.replace(earlier, note=said))
        changes.append(change)
    return dataclasses.replace(analysis, changes=tuple(changes))


def cause_to_dict(cause: Cause) -> dict[str, Any]:
    """A cause as JSON-ready data (a rollout keeps its first plan's causes for --resume)."""
    return dataclasses.asdict(cause)


def cause_from_dict(data: Mapping[str, Any]) -> Cause:
    """The inverse of cause_to_dict; raises TypeError or KeyError on anything else."""
    links = tuple(Link(**link) for link in data["links"])
    return Cause(**{**data, "links": links})


def _destroy_provisioners(
    config: ConfigIndex, change: ResourceChange, node: str
) -> list[DestroyProvisioner]:
    address = change.address + (f" (deposed {change.deposed})" if change.deposed else "")
    return [
        DestroyProvisioner(
            address=address,
            node=node,
            type=provisioner.type,
            command=command,
            unresolved=unresolved,
            source=provisioner.source,
            removed_block=provisioner.removed_block,
        )
        for provisioner, command, unresolved in config.destroy_provisioners(change)
    ]


def _skipped(change: ResourceChange, tainted: bool) -> str | None:
    """Why terraform will not run this object's destroy-time provisioners, if it will not.

    They run only for a current, untainted object: not for deposed objects, which is also
    what create_before_destroy replaces, nor for tainted ones.
    https://github.com/hashicorp/terraform/blob/main/internal/terraform/node_resource_destroy.go
    https://github.com/hashicorp/terraform/issues/13549
    """
    if change.deposed:
        return "the object is deposed"
    if change.create_before_destroy:
        return "create_before_destroy: the old object is destroyed as a deposed object"
    if tainted:
        return "the object is tainted"
    return None


_MOVED = {
    "replace": "replaced",
    "replace-and-forget": "replaced-and-forgotten",
    "forget": "forgotten",
    "destroy": "destroyed",
}


def _destructive(
    change: ResourceChange, named: NodeName, skipped: str | None, cause: Cause
) -> DestructiveChange:
    if change.replaces:
        action = "replace-and-forget" if change.forgets else "replace"
    else:
        action = "forget" if change.forgets else "destroy"
    if change.previous_address:
        action = "moved-and-" + _MOVED[action]
    return DestructiveChange(
        address=change.address,
        node=named.name,
        action=action,
        actions=change.actions,
        action_reason=change.action_reason,
        reason=change.reason_words,
        replace_paths=tuple(format_path(path) for path in change.replace_paths),
        previous_address=change.previous_address,
        deposed=change.deposed,
        create_before_destroy=change.create_before_destroy,
        provisioners_skipped=skipped,
        cause=cause,
        name_hidden=named.sensitive_hidden,
        node_address=named.address,
    )
