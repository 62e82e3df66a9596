"""Challenge evaluation: FAD, CLAP score, CCS, Borda ranking and reports.

Built on :mod:`s2acc`; s2acc never imports this package.
"""
