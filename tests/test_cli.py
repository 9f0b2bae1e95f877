"""The command line builds explicit arguments for the experiments (nothing runs here)."""

import pytest

from sklearn_salreg.experiments import cli, report


def test_report_command_passes_keywords(monkeypatch):
    seen = {}
    monkeypatch.setattr(report, "run_report", lambda *args, **kwargs: seen.update(
        args=args, kwargs=kwargs))
    cli.main(["report", "--size", "instre", "--no-search", "--n-views", "3", "--device", "cpu",
              "--cache", "maps/", "--max-side", "256"])
    assert seen["args"] == ("instre",)
    assert seen["kwargs"] == dict(seed=0, max_side=256, cache="maps/", device="cpu", search=False,
                                  multiscale=None, n_objects=None, n_views=3, n_distractors=None,
                                  verbose=1)


def test_a_command_is_required():
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2


def test_python_m_dispatches_to_the_experiments_cli():
    import sklearn_salreg.__main__ as entry

    assert entry.main is cli.main
