"""The one error type users see: it says what was wrong and how to fix it."""


class GlueHelpersError(ValueError):
    """Bad input or an unreachable resource, with the fix in the message."""
