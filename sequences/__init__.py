"""crm-cadence: the pure cadence engine. No I/O, no clock, no network."""
