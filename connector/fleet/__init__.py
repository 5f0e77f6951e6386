"""Many accounts, many machines: a fleet file, procrastinate workers, and their status."""
