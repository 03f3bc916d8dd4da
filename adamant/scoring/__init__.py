"""Torch-free scoring of a trained checkpoint: the HTTP service's synchronous predictions."""

from adamant.scoring.scorer import Scorer, load_scorer, score_frame, score_rows

__all__ = ["Scorer", "load_scorer", "score_frame", "score_rows"]
