"""``reactive.conf``: every setting is declared once, typed, checked and documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from reactive.checks import check_settings
from reactive.conf import DEFAULTS, SETTINGS, Constraint

from .security_helpers import reactive_settings_with

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
DOCUMENTED = dict(re.findall(r"^### `([A-Z_]+)`\n(.*)$", README, flags=re.MULTILINE))


def test_every_setting_has_a_constraint_its_default_meets() -> None:
    assert set(SETTINGS) == set(DEFAULTS)
    for name, setting in SETTINGS.items():
        assert isinstance(setting.constraint, Constraint), name
        assert setting.constraint.accepts(setting.default), name


def test_every_setting_is_documented_in_the_readme_with_its_type() -> None:
    assert set(DOCUMENTED) == set(SETTINGS)
    for name, setting in SETTINGS.items():
        assert DOCUMENTED[name].startswith(f"`{setting.constraint.type_name}`"), name


def test_every_check_id_is_in_the_readme() -> None:
    for setting in SETTINGS.values():
        assert f"| `{setting.constraint.check_id}` |" in README


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"GC_FREEZE": "yes"}, ("reactive.E008", "REACTIVE['GC_FREEZE'] must be True or False.")),
        (
            {"TABLE_LEVEL_INVALIDATION": 1},
            ("reactive.E008", "REACTIVE['TABLE_LEVEL_INVALIDATION'] must be True or False."),
        ),
        ({"BUS_GROUP": ""}, ("reactive.E008", "REACTIVE['BUS_GROUP'] must be a non-empty string.")),
        ({"METRICS_TOKEN": 5}, ("reactive.E008", "REACTIVE['METRICS_TOKEN'] must be a string or None.")),
        (
            {"IGNORED_TABLES": "django_session"},
            ("reactive.E008", "REACTIVE['IGNORED_TABLES'] must be a list of strings."),
        ),
        ({"ALLOWED_ORIGINS": [5]}, ("reactive.E008", "REACTIVE['ALLOWED_ORIGINS'] must be a list of strings.")),
        ({"MAX_PAGE_SIZE": 0}, ("reactive.E005", "REACTIVE['MAX_PAGE_SIZE'] must be a positive integer.")),
        ({"PING_INTERVAL": "15"}, ("reactive.E004", "REACTIVE['PING_INTERVAL'] must be a positive number.")),
    ],
)
def test_a_value_of_the_wrong_type_is_reported_alone(overrides: dict[str, Any], expected: tuple[str, str]) -> None:
    """What reads a mistyped value (E003, E006, E007) is skipped for it instead of failing."""
    with reactive_settings_with(**overrides):
        assert [(p.id, p.msg) for p in check_settings()] == [expected]


def test_a_database_of_the_wrong_type_is_reported_and_not_looked_up() -> None:
    with reactive_settings_with(DATABASE=["default"]):
        assert [(p.id, p.msg) for p in check_settings()] == [
            ("reactive.E008", "REACTIVE['DATABASE'] must be a non-empty string.")
        ]


def test_tuples_of_strings_are_lists_of_strings() -> None:
    with reactive_settings_with(FUNCTION_MODULES=("functions",), ALLOWED_ORIGINS=("https://app.example.com",)):
        assert check_settings() == []
