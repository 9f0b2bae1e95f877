"""The experiments: application code built on the library, never imported by it.

:mod:`~sklearn_salreg.experiments.table1` evaluates named configurations as in Table 1
of the paper, :mod:`~sklearn_salreg.experiments.report` tunes OS.EGM on half of the
built-in benchmark's objects and reports on the other half, and
:mod:`~sklearn_salreg.experiments.cli` is the command line
(``python -m sklearn_salreg demo | table | report``). The library
(every other subpackage of :mod:`sklearn_salreg`) does not import this package;
``tests/test_architecture.py`` checks it.
"""
