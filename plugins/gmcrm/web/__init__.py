"""The gmcrm pages inside the Airflow UI (lead log, operations): see :mod:`gmcrm.web.app`."""
