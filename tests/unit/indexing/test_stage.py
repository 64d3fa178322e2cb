"""The stage contract: what a Work item holds before a stage decides, and both stages fit the protocol."""

from __future__ import annotations

import inspect

from clipvec.indexing.local_stage import LocalStage
from clipvec.indexing.ray_stage import RayStage
from clipvec.indexing.stage import Stage, Work
from clipvec.sources import FoundFile


def test_a_new_work_item_has_no_outcome_yet():
    found = FoundFile("a.png", 10, 1.0)
    work = Work(found)
    assert work.found is found
    assert (work.content_hash, work.vector, work.error, work.skip, work.stored) == (
        "",
        None,
        None,
        None,
        False,
    )
    assert (work.format, work.width, work.height) == ("", 0, 0)


def test_both_stages_take_the_importers_call():
    """The importer calls ``stage.run(source, todo, known, report)`` and reads ``model_loaded``."""
    expected = list(inspect.signature(Stage.run).parameters)
    for stage in (LocalStage, RayStage):
        assert list(inspect.signature(stage.run).parameters) == expected, stage
        assert hasattr(stage, "model_loaded"), stage


def test_a_ray_import_loads_no_model_on_the_driver():
    assert RayStage.model_loaded is False


def test_a_local_stage_given_a_loader_has_not_loaded_a_model():
    def load():
        raise AssertionError("the model was loaded")

    assert LocalStage(load).model_loaded is False  # loaded only when a file needs it
