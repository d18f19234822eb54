"""The mutation pass (``python -m tests.mutations``) stays applicable to the code."""

from __future__ import annotations

from tests.mutations import MUTANTS, stale


def test_every_mutant_snippet_is_found_once_and_its_tests_exist() -> None:
    assert stale() == []


def test_every_mutant_changes_the_code_and_has_a_unique_name() -> None:
    unchanged = [m.name for m in MUTANTS if m.original == m.replacement]
    assert unchanged == []
    names = [m.name for m in MUTANTS]
    assert sorted(names) == sorted(set(names))
