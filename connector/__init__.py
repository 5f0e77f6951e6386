"""crm-cadence: the imperative shell (CRMs, state, sync, service, CLI)."""

__version__ = "0.1.0"
