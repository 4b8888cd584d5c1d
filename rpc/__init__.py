"""What chat commands do and show, as plain functions returning plain data.

Telegram handlers parse, call one of these, format and reply; the same figures can serve
a test or a future API. Everything here is scoped to the calling user through
models.owned()/get_owned(). Friendly failures are UserError (or models.NotFound).
"""


def N_(message: str) -> str:
    """Marks a text for the chat's gettext catalog; it is translated where it is shown."""
    return message


class UserError(Exception):
    """The request cannot be done as asked; the text says why and what to do, and is safe to show.

    `template` is the catalog's English text with {named} fields and `params` their values, so
    the chat can show it in the user's language; str() is the English text.
    """

    def __init__(self, template: str, **params):
        super().__init__(template.format(**params) if params else template)
        self.template, self.params = template, params
