"""A list element's row body (store/lists.py `body`): an event id of ASCII text is written by the
json module's escaper, byte-equal to pydantic's text of it; anything else by pydantic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rules_engine.store.lists import _SERIALIZERS, body


@given(st.text(st.characters(max_codepoint=127)) | st.text(st.characters(exclude_categories=("Cs",))))
def test_an_event_ids_body_is_pydantics_text_of_it(event_id: str) -> None:
    """Quotes, backslashes, every control character, DEL, and non-ASCII text (pydantic's path)."""
    assert body("processed", event_id) == _SERIALIZERS["processed"].to_json(event_id).decode()


def test_control_characters_are_escaped_as_pydantic_escapes_them() -> None:
    every = "".join(map(chr, range(128)))
    assert body("processed", every) == _SERIALIZERS["processed"].to_json(every).decode()
