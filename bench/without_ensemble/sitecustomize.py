"""textpipe without the ensemble score, to measure what the ensemble costs a run.

`bench/without_ensemble/textpipe` puts this folder first on PYTHONPATH, so every
process of the run (the CLI, the flow, the worker processes) imports it at start-up:
it makes `SentenceScorer.score` score VADER alone, as the stage did before the
ensemble, and leave the ensemble NULL. Everything else is the build's own code.

    python bench/run.py 20000 --runs 3 --reruns 0 --skip-baseline --modes server \
        --before bench/without_ensemble/textpipe
"""

from textpipe import ensemble


def _vader_only(self, text):  # type: ignore[no-untyped-def]  # noqa: ANN001
    return self.vader.score(text), None


ensemble.SentenceScorer.score = _vader_only
ensemble.article_ensemble = lambda scores: None
