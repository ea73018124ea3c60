"""One rule for every seed, wherever it comes from."""
import pytest

from explorer.checks import SEED_RULE, check_seed
from explorer.errors import ConfigError
from explorer.ui.interpolate import parse_seeds


@pytest.mark.parametrize("value,expected", [(0, 0), (7, 7), (7.0, 7), ("12", 12), (" 3 ", 3), (2**32 - 1, 2**32 - 1)])
def test_whole_numbers_in_range_are_seeds(value, expected):
    assert check_seed(value) == expected


@pytest.mark.parametrize("value", [-5, -3, 1.5, 1e20, 2**32, "abc", "1.5", "1e20", "-3", "", None, True,
                                   float("nan"), float("inf"), [1]])
def test_everything_else_is_refused_with_the_same_message(value):
    with pytest.raises(ConfigError, match=SEED_RULE):
        check_seed(value)


@pytest.mark.parametrize("text", ["1, -3", "1, 1e20", "1, 1.5", "1, x"])
def test_seed_lists_use_the_same_rule(text):
    with pytest.raises(ConfigError, match=SEED_RULE):
        parse_seeds(text)
    assert parse_seeds("4; 5, 6") == [4, 5, 6]
