"""Torch-free scoring of a trained checkpoint: rows for predict (scorer), whole tables for scoring jobs (table, job_spec)."""

from adamant.scoring.scorer import Scorer, load_scorer, score_frame, score_rows

__all__ = ["Scorer", "load_scorer", "score_frame", "score_rows"]
