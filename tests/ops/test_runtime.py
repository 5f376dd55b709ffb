"""How the web process tunes the interpreter (``ops.runtime``, called by ``chatproject.asgi``)."""

import gc
import sys

import pytest

from ops.runtime import tune_web_process


@pytest.fixture
def interpreter():
    interval = sys.getswitchinterval()
    yield
    gc.unfreeze()
    sys.setswitchinterval(interval)


def test_the_objects_loaded_at_startup_are_kept_out_of_full_collections(interpreter, settings):
    settings.CHAT_GC_FREEZE = True
    settings.CHAT_SWITCH_INTERVAL = 0.002
    tune_web_process(settings)
    # Django, the apps and their libraries: far more than a bare interpreter holds.
    assert gc.get_freeze_count() > 50_000
    assert sys.getswitchinterval() == pytest.approx(0.002)


def test_the_freeze_can_be_turned_off(interpreter, settings):
    gc.unfreeze()
    settings.CHAT_GC_FREEZE = False
    tune_web_process(settings)
    assert gc.get_freeze_count() == 0
