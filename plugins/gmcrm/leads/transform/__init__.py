"""GM CRM leads -> DMS contacts: the pure, vectorised transform.

No database, no network, no Airflow. The entry point is :func:`transform_group`: in, a DataFrame of
leads as read from GM (the logical column names of ``config/gm_crm.yaml`` plus ``raw_record``, the
record as the API returned it) and the settings of one or more dealerships (:class:`DealerContext`,
keyed by dealer code); out, a :class:`GroupResult`, whole (what the loader COPYs) or cut by dealership
with :meth:`GroupResult.by_dealer` (a :class:`TransformResult` each):

* ``leads``: one loadable row per lead with what the loader writes to ``dms.customer`` and
  ``dms.contact`` (columns and nullable dtypes: :data:`LEAD_COLUMNS`, ready for COPY);
* ``quarantine``: leads that cannot become a contact, with a reason a person can act on
  (:data:`QUARANTINE_COLUMNS`, rows of ``gmcrm.lead_quarantine``);
* ``deleted``: leads deleted at GM (:data:`DELETED_COLUMNS`); the loader marks the known ones.

The package, in reading order: ``schema`` (columns, field limits, reason codes), ``context`` (the
dealer context), ``rules`` (the business rules: quarantine checks and messages, routing, person type,
description), ``keys`` (identifier keys, kept equal to ``gmcrm.normalize`` and the SQL key functions),
``kernels`` (the numpy and pandas text kernels the rest stands on), ``columns`` (a batch's cleaned
columns), ``output`` (the output frames) and ``batch`` (the pass over a batch).
"""

from gmcrm.leads.transform.batch import GroupResult, TransformResult, transform_group
from gmcrm.leads.transform.context import ContactSetting, DealerContext, UserRef
from gmcrm.leads.transform.keys import salesforce_id18
from gmcrm.leads.transform.schema import (
    DELETED_COLUMNS,
    DESCRIPTION_HEADERS,
    DESCRIPTION_LABELS,
    FIELD_LIMITS,
    LEAD_COLUMNS,
    LEAD_TYPES,
    QUARANTINE_COLUMNS,
    USER_SETTING,
    Reason,
)

__all__ = [
    "DELETED_COLUMNS",
    "DESCRIPTION_HEADERS",
    "DESCRIPTION_LABELS",
    "FIELD_LIMITS",
    "LEAD_COLUMNS",
    "LEAD_TYPES",
    "QUARANTINE_COLUMNS",
    "USER_SETTING",
    "ContactSetting",
    "DealerContext",
    "GroupResult",
    "Reason",
    "TransformResult",
    "UserRef",
    "salesforce_id18",
    "transform_group",
]
