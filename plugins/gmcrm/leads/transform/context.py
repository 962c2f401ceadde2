"""The dealer context: one dealership's settings as the transform needs them (:class:`DealerContext`),
and the contexts of a batch as small arrays (:class:`Dealers`), so that a lead's receiving user,
department and contact settings are one lookup at (dealership, lead type) whatever the batch size."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import numpy as np

from gmcrm.leads.transform.kernels import BoolArray, Coded, IntArray, ObjArray
from gmcrm.leads.transform.schema import LEAD_TYPES, ROUTING_TARGET, ROUTINGS, USER_SETTING


@dataclass(frozen=True)
class UserRef:
    """A DMS user (``dms.app_user``) who receives leads, with the department the contact gets."""

    id: int
    department_id: int | None = None


@dataclass(frozen=True)
class ContactSetting:
    """``gmcrm.contact_setting`` for one lead type (``department_id``: used vehicles only)."""

    contact_type: str
    contact_subtype: str
    department_id: int | None = None


@dataclass(frozen=True)
class DealerContext:
    """One dealership's settings as the transform needs them.

    ``users`` and ``contact_settings`` are keyed by DMS lead type; a lead type without a receiving
    user or without contact settings is absent (its leads are quarantined).
    """

    dealer_code: str
    routing: str
    traffic_origin: str | None = None
    users: Mapping[str, UserRef] = field(default_factory=dict)
    contact_settings: Mapping[str, ContactSetting] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.routing not in ROUTING_TARGET:
            raise ValueError(f"routing must be one of {', '.join(ROUTINGS)}, not {self.routing!r}")
        for name in ("users", "contact_settings"):
            keys = set(getattr(self, name))
            unknown = keys - set(LEAD_TYPES)
            if unknown:
                raise ValueError(f"{name}: unknown lead type(s) {', '.join(sorted(unknown))}")
            # Frozen all the way down: nobody changes a context that a transform is using.
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @classmethod
    def from_dicts(
        cls,
        dealership: Mapping[str, Any],
        user_departments: Mapping[int, int | None] | None = None,
        contact_settings: Iterable[Mapping[str, Any]] = (),
    ) -> DealerContext:
        """From plain rows: a ``gmcrm.dealership`` row (``dealer_code``, ``routing``,
        ``traffic_origin``, ``vehicles_user_id``, ``parts_user_id``, ``service_user_id``,
        ``after_sales_user_id``), the departments of users by id (``dms.app_user.department_id``; a
        user not in it has none) and ``gmcrm.contact_setting`` rows (``lead_type``,
        ``contact_type``, ``contact_subtype``, ``department_id``). Rows of another dealership are
        ignored."""
        code = str(dealership["dealer_code"])
        departments = user_departments or {}
        users: dict[str, UserRef] = {}
        for lead_type, column in USER_SETTING.items():
            user_id = dealership.get(column)
            if user_id is not None:
                users[lead_type] = UserRef(int(user_id), _int_or_none(departments.get(int(user_id))))
        settings: dict[str, ContactSetting] = {}
        for row in contact_settings:
            if row.get("dealer_code", code) != code:
                continue
            settings[str(row["lead_type"])] = ContactSetting(
                contact_type=str(row["contact_type"]),
                contact_subtype=str(row["contact_subtype"]),
                department_id=_int_or_none(row.get("department_id")),
            )
        return cls(
            dealer_code=code,
            routing=str(dealership.get("routing") or "DIRECT"),
            traffic_origin=dealership.get("traffic_origin"),
            users=users,
            contact_settings=settings,
        )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


#: A lead type's column in the tables of :class:`Dealers` (any other code: the last column, that of
#: no user and no contact settings).
TYPE_INDEX: Final[Mapping[str, int]] = MappingProxyType({code: i for i, code in enumerate(LEAD_TYPES)})


@dataclass(frozen=True)
class Dealers:
    """The contexts of a batch as small arrays: one row per dealership (in the order of ``codes``), for
    the per-lead-type ones a column per :data:`LEAD_TYPES` entry and a last one for an unknown type.
    A lead's settings are then one numpy lookup at (dealership, lead type), whatever the batch size."""

    contexts: tuple[DealerContext, ...]
    codes: tuple[str, ...]
    direct: BoolArray  # routing DIRECT (else DISTRIBUTION)
    has_user: BoolArray
    user_id: IntArray
    has_setting: BoolArray
    contact_type: ObjArray
    contact_subtype: ObjArray
    department_id: IntArray
    has_department: BoolArray

    @classmethod
    def of(cls, contexts: Mapping[str, DealerContext]) -> Dealers:
        seen: dict[str, str] = {}
        for code, ctx in contexts.items():
            if code != ctx.dealer_code:
                raise ValueError(f"contexts: key {code!r} is not the dealer code of its context ({ctx.dealer_code!r})")
            other = seen.setdefault(code.casefold(), code)
            if other != code:
                raise ValueError(f"contexts: dealer codes {other!r} and {code!r} differ only in case")
        shape = (len(contexts), len(LEAD_TYPES) + 1)
        has_user, has_setting, has_department = (np.zeros(shape, dtype=bool) for _ in range(3))
        user_id, department_id = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
        contact_type, contact_subtype = np.full(shape, None, dtype=object), np.full(shape, None, dtype=object)
        for row, ctx in enumerate(contexts.values()):
            for code, column in TYPE_INDEX.items():
                user, setting = ctx.users.get(code), ctx.contact_settings.get(code)
                if user is not None:
                    has_user[row, column], user_id[row, column] = True, user.id
                if setting is not None:
                    has_setting[row, column] = True
                    contact_type[row, column] = setting.contact_type
                    contact_subtype[row, column] = setting.contact_subtype
                # The receiving user's department; for used vehicles the settings' one when set.
                department = user.department_id if user is not None else None
                if code == "USED_VEHICLE" and setting is not None and setting.department_id is not None:
                    department = setting.department_id
                if department is not None:
                    has_department[row, column], department_id[row, column] = True, department
        return cls(
            contexts=tuple(contexts.values()),
            codes=tuple(contexts),
            direct=np.array([ctx.routing == "DIRECT" for ctx in contexts.values()], dtype=bool),
            has_user=has_user,
            user_id=user_id,
            has_setting=has_setting,
            contact_type=contact_type,
            contact_subtype=contact_subtype,
            department_id=department_id,
            has_department=has_department,
        )

    def assign(self, dealer: Coded) -> tuple[IntArray, BoolArray]:
        """Each row's dealership (an index into ``codes``) and whether its dealer code is that one's.
        One context takes every row (the others are its mismatches); with several, a row of no
        context's code is a ``ValueError``."""
        index = {code.casefold(): i for i, code in enumerate(self.codes)}
        matched = dealer.derive(lambda v: -1 if v is None else index.get(v.casefold(), -1), np.int64)
        if len(self.codes) == 1:
            return np.zeros(len(matched), dtype=np.int64), matched == 0
        unknown = matched < 0
        if unknown.any():
            given = sorted({repr(v) if v else "empty" for v in dealer.values[unknown]})
            shown = ", ".join(given[:20]) + (f" and {len(given) - 20} more" if len(given) > 20 else "")
            raise ValueError(
                f"{int(unknown.sum())} lead(s) of dealer codes that none of the {len(self.codes)} dealerships "
                f"has: {shown}; pass only the leads of the dealerships given"
            )
        return matched, np.ones(len(matched), dtype=bool)

    def served(self, cell: IntArray) -> tuple[BoolArray, BoolArray]:
        """Whether each row's (dealership, lead type) cell has a receiving user, and contact settings."""
        return self.has_user.ravel()[cell], self.has_setting.ravel()[cell]
