"""airspeed velocity benchmarks of sklearn_salreg, one module per stage of the pipeline."""
