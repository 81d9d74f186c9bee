"""Labelled evaluation of the vision signals (issue 18): ``build_set`` makes the set from
photos that installed packages ship, ``run_eval`` runs the real pipeline over it."""
