"""``python -m sklearn_salreg``: the experiments' command line.

The commands live in :mod:`sklearn_salreg.experiments.cli`; the library never imports them.
"""

from sklearn_salreg.experiments.cli import main

if __name__ == "__main__":
    main()
