"""The control plane: FastAPI routes, job lifecycle, dashboard. Never imports torch."""
