"""The live bubble's state: finished paragraphs freeze, so each flush sends only the paragraph
being written; a code block is never cut in two."""

from __future__ import annotations

import reflex as rx

import energyapp.energyapp  # noqa: F401 - registers every state
from energyapp.states.chat import LiveAnswerState


def live() -> LiveAnswerState:
    root = rx.State(_reflex_internal_init=True)
    return root.get_substate(LiveAnswerState.get_full_name().split("."))


def test_finished_paragraphs_move_to_frozen() -> None:
    state = live()
    state._begin()
    state._append("Primer párrafo.\n\nSegundo ")
    assert (state.frozen, state.tail, state.waiting) == ("Primer párrafo.\n\n", "Segundo ", False)
    state._append("párrafo.\n\nTercero")
    assert state.frozen == "Primer párrafo.\n\nSegundo párrafo.\n\n"
    assert state.tail == "Tercero"
    assert state.frozen + state.tail == "Primer párrafo.\n\nSegundo párrafo.\n\nTercero"


def test_a_code_block_with_blank_lines_stays_in_the_tail_until_closed() -> None:
    state = live()
    state._begin()
    state._append("Mira:\n\n```python\nx = 1\n\ny = 2\n")
    assert state.frozen == "Mira:\n\n" and state.tail.startswith("```python")
    state._append("```\n\nListo")
    assert state.frozen.endswith("```\n\n") and state.tail == "Listo"


def test_these_helpers_are_not_browser_events() -> None:
    assert not {"_begin", "_end", "_append"} & set(LiveAnswerState.event_handlers)
