"""Sweeps over Adam's hyperparameters and optimizer comparisons: parents of ordinary jobs."""
