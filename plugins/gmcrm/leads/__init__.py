"""Leads from GM CRM into the DMS, one module per step of the flow: ``extract`` (GM -> staging),
``transform`` (the pure, vectorised rules; its entry point ``transform.transform_group``), ``load``
(one database call per dealership) and ``pipeline`` (what the import DAG calls); ``stageable``,
``dealer_codes``, ``failures`` and ``heal`` beside them."""
