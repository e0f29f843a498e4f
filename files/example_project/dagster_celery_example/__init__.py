"""Example project deployed by the Dagster-on-Celery kit."""
