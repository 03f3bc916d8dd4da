"""Ranking for implicit-feedback recommendation (issue 13): the leave-last-out split, top-k
without already-bought items, and the metrics the field reports. Torch-free: the trainer, the
scorer and the side-by-side benchmark (other libraries' models) use the same code."""
