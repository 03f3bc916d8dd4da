"""Monitoring a trained model in use: reference profiles, gains and lift, and drift against training.

Scoring itself (rows, whole tables, the scoring job's spec) lives in adamant/scoring."""

from adamant.monitoring.drift import drift_report, population_stability_index
from adamant.monitoring.gains import auc, gains_table, lift_summary
from adamant.monitoring.profile import reference_profile, score_profile

__all__ = [
    "auc",
    "drift_report",
    "gains_table",
    "lift_summary",
    "population_stability_index",
    "reference_profile",
    "score_profile",
]
