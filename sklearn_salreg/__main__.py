"""``python -m sklearn_salreg``: the experiments' command line (:mod:`sklearn_salreg.experiments.cli`)."""

from sklearn_salreg.experiments.cli import main

if __name__ == "__main__":
    main()
