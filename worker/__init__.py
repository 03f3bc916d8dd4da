"""The data plane: Celery tasks, training engine, Adam core, models, data. Never imports FastAPI."""
