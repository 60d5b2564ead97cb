"""Errors a user can act on.

Everything raised as a :class:`RecipeError` reaches the user as one line (``Error: ...``) and a
non-zero exit status, never as a traceback. Messages say what is wrong *and* how to fix it.
"""


class RecipeError(Exception):
    """A problem with the user's data, files or environment (exit status 1)."""

    exit_code = 1


class ConfigError(RecipeError):
    """A problem with the recipe, config file or ``--set`` options (exit status 2, like Click)."""

    exit_code = 2
