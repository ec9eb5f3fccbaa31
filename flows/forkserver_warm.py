"""Imported by the worker pool's forkserver after `forkserver_start`: the models the
stages use (Punkt's parameters, the stop words, the sentiment lexicons and their
memos, fastText's language model), loaded once and shared by every worker it forks,
instead of once per worker (~0.3 s of CPU each).
"""

from textpipe import clean, pipeline, resources, tokenize

tokenize._sentence_splitter()
resources.stop_words()
pipeline._scorer()
clean._language_detector()
