"""What each binding becomes in Home Assistant: its drafts, and which one is the main entity.

- a patch and a watch of one binding whose maps name the same two values (the patch
  map's inputs are the watch map's outputs, e.g. ON/OFF) → `switch`, never optimistic;
- a patch without a map on a count (`spec.replicas`, …) → `number`, with its state from a
  watch of the same field when there is one;
- any other watch → `binary_sensor` when its map has exactly two fixed non-empty outputs,
  else `sensor`;
- each literal payload in an action's map → `button` (for a `jsonpath` map, the JSON
  document that selects it);
- a recipe's command → a `switch` with its state watch (power), else a `button`.

A recipe's associations carry an `EntityHint`: their entities take its name, and the one
it marks main is the device's main entity; a binding of recipes alone with none marked
(`restart` alone) has no main entity, so each of its entities keeps its own name.

What cannot be exposed is reported as a note, never silently dropped.
"""

from __future__ import annotations

from mqtt_kube.config.model import (
    ActionSpec,
    BindingSpec,
    CommandSpec,
    EntityHint,
    PatchSpec,
    WatchSpec,
)
from mqtt_kube.core.payload import encode_payload
from mqtt_kube.homeassistant.drafts import (
    BinarySensorDraft,
    ButtonDraft,
    Draft,
    NumberDraft,
    SensorDraft,
    SwitchDraft,
)
from mqtt_kube.homeassistant.naming import humanize, humanize_locus, locus_id
from mqtt_kube.homeassistant.readings import (
    command_payload,
    is_count,
    order_command,
    order_states,
    two_literal_keys,
    two_states,
    why_no_payload,
)

_MAIN_ORDER = ((SwitchDraft,), (NumberDraft,), (BinarySensorDraft, SensorDraft), (ButtonDraft,))


def infer_drafts(binding: BindingSpec, wanted: object, notes: list[str]) -> list[Draft]:
    """The entities a binding offers, in order; what it cannot offer goes to `notes`."""
    drafts: list[Draft] = []
    watches = list(enumerate(binding.watch))
    states = {id(command.state) for command in binding.command if command.state is not None}
    used = {index for index, watch in watches if id(watch) in states}
    for index, patch in enumerate(binding.patch):
        where = patch.where if patch.hint else f"{binding.where}.patch[{index}]"
        if patch.values.has_map:
            switch = _switch(patch, watches, used, where)
            if switch is None:
                notes.append(
                    f"{where}: no entity for {patch.topic}: a switch needs a watch whose "
                    "map gives the same two values as this patch's map takes"
                )
                continue
            drafts.append(switch)
        elif is_count(patch.locus) or (
            wanted == "number" and not any(isinstance(d, NumberDraft) for d in drafts)
        ):
            drafts.append(_number(patch, watches, used, where))
        else:
            notes.append(
                f"{where}: no entity for {patch.topic}: give the patch a map (switch) "
                "or set homeassistant.component: number"
            )
    for index, watch in watches:
        if index not in used:
            where = watch.where if watch.hint else f"{binding.where}.watch[{index}]"
            drafts.append(_reading(watch, where))
    for index, action in enumerate(binding.action):
        drafts.extend(_buttons(action, f"{binding.where}.action[{index}]", notes))
    drafts.extend(_command(command) for command in binding.command)
    return drafts


def pick_main(
    binding: BindingSpec, drafts: list[Draft], wanted: object, notes: list[str]
) -> Draft | None:
    """The device's main entity: the wanted component if the binding has one, else the one a
    recipe marks main, else none for recipes alone, else by rank.

    A binding asking for a `sensor` may have its two-state watch shown as one (the draft in
    `drafts` is replaced).
    """
    if wanted is not None:
        for draft in drafts:
            if draft.component == wanted:
                return draft
        if wanted == "sensor":
            for index, draft in enumerate(drafts):
                if isinstance(draft, BinarySensorDraft):
                    drafts[index] = draft.as_sensor()
                    return drafts[index]
        notes.append(
            f"{binding.where}.homeassistant.component: {binding.label} cannot be a "
            f"{wanted}; using the inferred {drafts[0].component}"
        )
    for draft in drafts:
        if draft.hint is not None and draft.hint.main:
            return draft
    if all(draft.hint is not None for draft in drafts):
        return None
    for group in _MAIN_ORDER:
        for draft in drafts:
            if isinstance(draft, group):
                return draft
    return drafts[0]


def _switch(
    patch: PatchSpec, watches: list[tuple[int, WatchSpec]], used: set[int], where: str
) -> SwitchDraft | None:
    keys = two_literal_keys(patch.values)
    if keys is None:
        return None
    texts = {encode_payload(key): key for key in keys}
    for index, watch in watches:
        states = two_states(watch.values)
        if index in used or states is None or set(states) != set(texts):
            continue
        on_key, off_key = order_command(patch.values, keys)
        on, off = command_payload(patch.values, on_key), command_payload(patch.values, off_key)
        if on is None or off is None:
            return None
        used.add(index)
        return SwitchDraft(
            part=f"patch:{locus_id(patch.locus)}",
            name=_name(patch.hint, humanize_locus(patch.locus)),
            source=f"{where} + {watch.where}" if patch.hint else f"{where}+watch[{index}]",
            patch=patch,
            watch=watch,
            on_off=(on, off),
            states=(encode_payload(on_key), encode_payload(off_key)),
            hint=patch.hint,
        )
    return None


def _command(command: CommandSpec) -> SwitchDraft | ButtonDraft:
    """A recipe's command: the power switch (with its state watch), or a button."""
    hint = command.hint
    name = _name(hint, humanize(command.operation))
    part = f"command:{command.operation}"
    keys = [entry.key for entry in command.values.entries]
    if command.state is not None:
        return SwitchDraft(
            part=part,
            name=name,
            source=command.where,
            patch=command,
            watch=command.state,
            on_off=(encode_payload(keys[0]), encode_payload(keys[1])),
            states=(encode_payload(keys[0]), encode_payload(keys[1])),
            hint=hint,
        )
    return ButtonDraft(
        part=part,
        name=name,
        source=command.where,
        action=command,
        press=encode_payload(keys[0]),
        output=command.operation,
        hint=hint,
    )


def _name(hint: EntityHint | None, inferred: str) -> str:
    return inferred if hint is None else hint.name


def _number(
    patch: PatchSpec, watches: list[tuple[int, WatchSpec]], used: set[int], where: str
) -> NumberDraft:
    field_id = locus_id(patch.locus)
    state: WatchSpec | None = None
    source = where
    for index, watch in watches:
        if index in used or watch.values.has_map or locus_id(watch.locus) != field_id:
            continue
        used.add(index)
        state = watch
        source = f"{where}+watch[{index}]"
        break
    return NumberDraft(
        part=f"patch:{field_id}",
        name=humanize_locus(patch.locus),
        source=source,
        patch=patch,
        watch=state,
    )


def _reading(watch: WatchSpec, where: str) -> BinarySensorDraft | SensorDraft:
    part, name = f"watch:{locus_id(watch.locus)}", _name(watch.hint, humanize_locus(watch.locus))
    states = two_states(watch.values)
    if states is None:
        return SensorDraft(part=part, name=name, source=where, watch=watch, hint=watch.hint)
    return BinarySensorDraft(
        part=part,
        name=name,
        source=where,
        watch=watch,
        states=order_states(watch.values, states),
        hint=watch.hint,
    )


def _buttons(action: ActionSpec, where: str, notes: list[str]) -> list[ButtonDraft]:
    values = action.values
    if not values.has_map:
        return [
            ButtonDraft(
                part="action:*",
                name="Launch",
                source=where,
                action=action,
                press="PRESS",
                output="launch",
                hint=action.hint,
            )
        ]
    drafts = []
    for entry in values.entries:
        press = command_payload(values, entry.key) if entry.form == "literal" else None
        if press is None:
            notes.append(
                f"{where}: no button for map entry {entry.key!r}: "
                + why_no_payload(values, entry.form, entry.key)
            )
            continue
        drafts.append(
            ButtonDraft(
                part=f"action:{encode_payload(entry.key)}",
                name=humanize(encode_payload(entry.key)),
                source=where,
                action=action,
                press=press,
                output=entry.output,
                hint=action.hint,
            )
        )
    return drafts
