"""The GM CRM sandbox: a local stand-in for GM's Salesforce org, served over HTTPS.

Unmodified simple-salesforce works against it as against Salesforce. Tests, benchmarks and the demo use
it; production code never imports it. Start it with ``python -m gmcrm_sandbox serve`` or, from Python,
``gmcrm_sandbox.process.SandboxProcess``; drive it through ``gmcrm_sandbox.admin.AdminClient``.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
