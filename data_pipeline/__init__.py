"""The dataset stages (ingest, separate, segment, leadsheet, caption, grade, select, encode).

Built on :mod:`s2acc`; s2acc never imports this package.
"""
