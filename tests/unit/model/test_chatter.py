"""Library notices are silenced only when the CLI asks, and only once transformers is wanted."""

from __future__ import annotations

import pytest

from clipvec.model import chatter


@pytest.fixture
def transformers_logging():
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    wanted, chatter._wanted = chatter._wanted, False  # an earlier in-process command may have asked
    yield transformers_logging
    chatter._wanted = wanted
    transformers_logging.set_verbosity(verbosity)
    if bars:
        transformers_logging.enable_progress_bar()


def test_nothing_is_silenced_unless_asked(transformers_logging):
    transformers_logging.set_verbosity_warning()
    chatter.before_transformers()
    assert transformers_logging.get_verbosity() == transformers_logging.WARNING


def test_asked_for_silence_transformers_only_reports_errors(transformers_logging):
    transformers_logging.set_verbosity_warning()
    chatter.silence_transformers()  # transformers is loaded: applied now
    assert transformers_logging.get_verbosity() == transformers_logging.ERROR
    assert not transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_warning()
    chatter.before_transformers()  # and again before each later use
    assert transformers_logging.get_verbosity() == transformers_logging.ERROR
