"""The leads of a batch as cleaned columns: every input column trimmed once, the low-cardinality ones
coded (worked out once per distinct value), the identifier keys computed, each row's dealership and
its (dealership, lead type) cell in the tables of :class:`~gmcrm.leads.transform.context.Dealers`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gmcrm.gm_mapping import GmMapping
from gmcrm.leads.transform import keys
from gmcrm.leads.transform.context import TYPE_INDEX, Dealers
from gmcrm.leads.transform.kernels import BoolArray, Coded, IntArray, ObjArray, cleaned
from gmcrm.leads.transform.schema import LEAD_TYPES


class Leads:
    """The cleaned columns of all rows, as object arrays, with presence masks and lengths; ``group``:
    each row's dealership (an index into ``dealers.codes``)."""

    def __init__(
        self,
        frame: pd.DataFrame,
        ids: ObjArray,
        ids_ok: BoolArray,
        dealer: Coded,
        group: IntArray,
        dealer_ok: BoolArray,
        dealers: Dealers,
        mapping: GmMapping,
    ):
        self.dealers = dealers
        self.mapping = mapping
        self.lead_id = ids
        self.id_ok = ids_ok
        self.group = group
        self.dealer_ok = dealer_ok
        # Few distinct values: cleaned, checked and mapped once per distinct value.
        few = ("lead_type", "stage", "substage", "model", "model_year", "trim", "lead_source")
        self.coded = {"dealer_code": dealer, **{name: Coded.of(frame[name]) for name in few}}
        self.coded["first_name"] = Coded.of(frame["first_name"], name=True)
        self.lengths = {
            name: column.derive(lambda v: 0 if v is None else len(v), np.int64) for name, column in self.coded.items()
        }
        # Mostly distinct values: once per value.
        texts = {
            name: cleaned(frame[name], name=name == "last_name")
            for name in ("last_name", "email", "phone", "mobile_phone", "document", "comments")
        }
        self.text = {name: column.values for name, column in texts.items()}
        self.lengths.update({name: column.lengths for name, column in texts.items()})
        self.email_key, self.email_ok = keys.email_keys(texts["email"])
        self.phone_key, self.phone_ok = keys.phone_keys(texts["phone"])
        self.mobile_phone_key, self.mobile_ok = keys.phone_keys(texts["mobile_phone"])
        self.document, self.document_kind, self.document_ok = keys.document_keys(texts["document"])

        by_picklist = {picklist.strip().casefold(): code for picklist, code in mapping.lead_types.items()}
        by_type = self.coded["lead_type"]
        self.types = by_type.mapped(
            np.array([by_picklist.get(v.casefold()) if v else None for v in by_type.table], dtype=object)
        )
        # Each row's cell in the tables of Dealers: (dealership, lead type), flattened.
        columns = len(LEAD_TYPES) + 1
        self.cell = group * columns + self.types.derive(lambda t: TYPE_INDEX.get(t, columns - 1), np.int64)
        closed = {stage.casefold() for stage in mapping.closed_stages}
        self.is_open = self.coded["stage"].derive(lambda v: v is None or v.casefold() not in closed, bool)

    def values(self, name: str) -> ObjArray:
        """A cleaned column as GM gave it (trimmed)."""
        return self.coded[name].values if name in self.coded else self.text[name]

    def api(self, logical: str) -> str:
        """The GM API name of a logical field (what a person sees at GM)."""
        return self.mapping.lead_fields.get(logical, logical)

    def label(self, lead_type: str) -> str:
        """A DMS lead type as GM's picklist names it."""
        return next((gm for gm, code in self.mapping.lead_types.items() if code == lead_type), lead_type)
