"""Reading the GM trigger catalogue: ``config/triggers.yaml`` validated into :mod:`gmcrm.catalogue.model`,
so that a typo in the catalogue fails at load time rather than when an event is sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

from gmcrm import settings
from gmcrm.catalogue.model import (
    CARRIED_FIELDS,
    CONTACT_FORM_TYPES,
    EVENT_FIELDS,
    SUBSTAGE_SOURCES,
    UNTYPED_FORM,
    CatalogueError,
    ContactFormRule,
    ReasonType,
    StageRule,
    TriggerCatalogue,
    TriggerDef,
)
from gmcrm.paths import PACKAGE_DIR

DEFAULT_FILE: Final = PACKAGE_DIR / "config" / "triggers.yaml"


def _expand(
    names: Iterable[str], groups: Mapping[str, tuple[str, ...]], known: tuple[str, ...], where: str
) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        for lead_type in groups.get(name, (name,)):
            if lead_type not in known:
                raise CatalogueError(f"{where}: unknown lead type or group {name!r}")
            if lead_type not in out:
                out.append(lead_type)
    return tuple(out)


def _rule(raw: Mapping[str, Any], field_groups: Mapping[str, tuple[str, ...]], where: str) -> StageRule:
    substage = raw.get("substage")
    substage_from = None
    if isinstance(substage, Mapping):
        substage_from = substage.get("from")
        if substage_from not in SUBSTAGE_SOURCES:
            raise CatalogueError(f"{where}: substage 'from' must be one of {SUBSTAGE_SOURCES}")
        substage = None
    carries = tuple(raw.get("carries") or ())
    for group in carries:
        if group not in field_groups:
            raise CatalogueError(f"{where}: unknown field group {group!r}")
    return StageRule(stage=raw.get("stage"), substage=substage, substage_from=substage_from, carries=carries)


def _trigger(raw: Mapping[str, Any], cat: dict[str, Any]) -> TriggerDef:
    code = str(raw.get("code", ""))
    where = f"trigger {code or '?'}"
    if len(code) != 3 or not code.isalpha() or not code.isupper():
        raise CatalogueError(f"{where}: a code is three capital letters")
    groups, known, field_groups = cat["lead_type_groups"], cat["lead_types"], cat["field_groups"]
    lead_types = _expand(raw.get("lead_types") or (), groups, known, where)
    if not lead_types:
        raise CatalogueError(f"{where}: no lead types")
    if raw.get("communication") not in cat["communications"]:
        raise CatalogueError(f"{where}: communication must be one of {cat['communications']}")
    sources: Mapping[str, tuple[str, ...]] | None = None
    if raw.get("sources"):
        sources = MappingProxyType(
            {str(k): _expand(v, groups, known, f"{where} source {k}") for k, v in raw["sources"].items()}
        )
        for key, types in sources.items():
            if not set(types) <= set(lead_types):
                raise CatalogueError(f"{where}: source {key} names lead types outside the trigger's")
    by_lead_type: dict[str, StageRule] = {}
    for key, value in (raw.get("by_lead_type") or {}).items():
        rule = _rule(value, field_groups, f"{where} by_lead_type {key}")
        for lead_type in _expand([key], groups, known, where):
            by_lead_type[lead_type] = rule
    steps = tuple(_rule(s, field_groups, f"{where} step {i}") for i, s in enumerate(raw.get("steps") or (), 1))
    form_types = None if raw.get("contact_form_types") is None else tuple(raw["contact_form_types"])
    if form_types is not None and not set(form_types) <= set(CONTACT_FORM_TYPES):
        raise CatalogueError(f"{where}: contact_form_types must be among {CONTACT_FORM_TYPES}")
    trig = TriggerDef(
        code=code,
        name=str(raw.get("name") or code),
        action=str(raw.get("action") or ""),
        communication=raw["communication"],
        lead_types=lead_types,
        base=_rule(raw, field_groups, where),
        sources=sources,
        by_lead_type=MappingProxyType(by_lead_type),
        steps=steps,
        requires=tuple(raw.get("requires") or ()),
        contact_form_types=form_types,
        notes=raw.get("notes"),
    )
    # Every lead type and step must end with a stage: checked now, not when GM rejects the event.
    for lead_type in lead_types:
        for step in range(1, trig.step_count + 1):
            if not trig.rule(lead_type, step).stage:
                raise CatalogueError(f"{where}: no stage for {lead_type} step {step}")
    unknown = [f for f in trig.requires if f not in EVENT_FIELDS]
    if unknown:
        raise CatalogueError(f"{where}: requires unknown field(s) {unknown}")
    return trig


def parse_catalogue(raw: Mapping[str, Any]) -> TriggerCatalogue:
    """Validate and freeze a catalogue read from YAML."""
    lead_types = tuple(raw["lead_types"])
    groups = {str(k): tuple(v) for k, v in (raw.get("lead_type_groups") or {}).items()}
    field_groups = {str(k): tuple(v) for k, v in raw["field_groups"].items()}
    for group, fields in field_groups.items():
        missing = [f for f in fields if f not in CARRIED_FIELDS]
        if missing:
            raise CatalogueError(f"field group {group}: no value known for {missing}")
    ctx: dict[str, Any] = {
        "lead_types": lead_types,
        "lead_type_groups": groups,
        "communications": tuple(raw["communications"]),
        "field_groups": field_groups,
    }
    forms: dict[str, ContactFormRule] = {}
    untyped: ContactFormRule | None = None
    for key, value in raw["contact_forms"].items():
        form_type = None if key == UNTYPED_FORM else str(key)
        if form_type is not None and form_type not in CONTACT_FORM_TYPES:
            raise CatalogueError(f"contact form type {key!r} is not one of {CONTACT_FORM_TYPES}")
        rule = ContactFormRule(
            form_type=form_type,
            substage=value["substage"],
            channel=value["channel"],
            presence_indicator=value.get("presence_indicator"),
            label=value.get("label"),
        )
        if form_type is None:
            untyped = rule
        else:
            forms[form_type] = rule
    if untyped is None:
        raise CatalogueError(f"contact_forms needs an {UNTYPED_FORM!r} entry (forms with no type)")
    triggers: dict[str, TriggerDef] = {}
    for item in raw["triggers"]:
        trig = _trigger(item, ctx)
        if trig.code in triggers:
            raise CatalogueError(f"trigger {trig.code} appears twice")
        triggers[trig.code] = trig
    default_carries = tuple(raw.get("default_carries") or ())
    for group in default_carries:
        if group not in field_groups:
            raise CatalogueError(f"default_carries: unknown field group {group!r}")
    gm_reasons = tuple(str(r) for r in raw["gm_reasons"])
    if len(set(gm_reasons)) != len(gm_reasons):
        raise CatalogueError("gm_reasons has duplicates")
    return TriggerCatalogue(
        version=int(raw.get("version", 1)),
        lead_types=lead_types,
        lead_type_groups=MappingProxyType(groups),
        communications=ctx["communications"],
        field_groups=MappingProxyType(field_groups),
        default_carries=default_carries,
        contact_forms=MappingProxyType(forms),
        untyped_form=untyped,
        reason_types=MappingProxyType(
            {
                str(k): ReasonType(code=str(k), name=str(v["name"]), needs_gm_reason=bool(v["needs_gm_reason"]))
                for k, v in raw["reason_types"].items()
            }
        ),
        gm_reasons=gm_reasons,
        triggers=MappingProxyType(triggers),
    )


@lru_cache(maxsize=4)
def load_catalogue(path: str | None = None) -> TriggerCatalogue:
    """The catalogue from ``path``, ``GMCRM_TRIGGER_CATALOGUE`` or the project default."""
    file = Path(path or settings.trigger_catalogue_file() or DEFAULT_FILE)
    try:
        return parse_catalogue(yaml.safe_load(file.read_text(encoding="utf-8")))
    except (KeyError, TypeError) as exc:
        raise CatalogueError(f"{file}: malformed trigger catalogue ({exc!r})") from exc
