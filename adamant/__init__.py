"""Adamant's shared, torch-free contracts: the job spec, the store, datasets and errors."""
