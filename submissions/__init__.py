"""Packaging and validation of ATTM challenge entries.

Built on :mod:`s2acc`; s2acc never imports this package.
"""
