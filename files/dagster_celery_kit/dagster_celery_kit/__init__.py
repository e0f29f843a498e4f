"""Runtime of the Dagster-on-Celery kit, installed into every release."""
