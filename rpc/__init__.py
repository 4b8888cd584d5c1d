"""What chat commands do and show, as plain functions returning plain data.

Telegram handlers parse, call one of these, format and reply; the same figures can serve
a test or a future API. Everything here is scoped to the calling user through
models.owned()/get_owned(). Friendly failures are UserError (or models.NotFound).
"""


class UserError(Exception):
    """The request cannot be done as asked; the text says why and what to do, and is safe to show."""
