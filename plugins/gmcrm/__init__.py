"""gmcrm: the GM CRM (Salesforce) <-> dealership DMS (PostgreSQL) lead integration.

Small modules with one concern each; the DAGs in ``dags/`` only wire them together.
"""

__version__ = "0.1.0"
