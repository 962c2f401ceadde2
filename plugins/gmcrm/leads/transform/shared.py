"""The leads of a load that share a matching key with another lead of their dealership.

The load matches such leads one at a time, in CreatedDate order, so that each sees the customers the
earlier ones made; the others are matched in one statement (``gmcrm.load_dealers``). A key is a
document, an e-mail key or a phone key (phone and mobile in one space: a lead's mobile equal to its
phone counts once), compared over the open leads, new or re-read (taking a few more leads than
needed is only slower, never wrong). Worked out here from the transform's output, in one pass of
pandas, instead of by a query per load statement (issue 11: ~3 us of the database's CPU per lead).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The token space of each key column: phone and mobile share one.
KEY_KINDS = (("document", "D"), ("email_key", "E"), ("phone_key", "P"), ("mobile_phone_key", "P"))


def shared_key_leads(leads: pd.DataFrame) -> pd.DataFrame:
    """``lead_id`` and ``dealer_code`` of the open leads (rows of ``leads``, the transform's
    :data:`~gmcrm.leads.transform.schema.LEAD_COLUMNS`) with a key that another open lead of the same
    dealership has too."""
    is_open = leads["is_open"].to_numpy(dtype=bool, na_value=False)
    rows = np.flatnonzero(is_open)
    dealer = leads["dealer_code"].to_numpy(dtype=object)[rows]
    values = {col: leads[col].to_numpy(dtype=object, na_value=None)[rows] for col, _kind in KEY_KINDS}
    mobile = values["mobile_phone_key"]
    values["mobile_phone_key"] = np.where(mobile == values["phone_key"], None, mobile)
    positions, dealers, tokens = [], [], []
    for col, kind in KEY_KINDS:
        present = np.flatnonzero(values[col] != None)  # noqa: E711 (element-wise on an object array)
        positions.append(present)
        dealers.append(dealer[present])
        tokens.append(np.array([kind + v for v in values[col][present]], dtype=object))
    keys = pd.DataFrame({"dealer": np.concatenate(dealers), "token": np.concatenate(tokens)})
    shared = np.concatenate(positions)[keys.duplicated(keep=False).to_numpy()]
    picked = rows[np.unique(shared)]
    return pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy(dtype=object)[picked],
            "dealer_code": leads["dealer_code"].to_numpy(dtype=object)[picked],
        }
    )
