"""Connection strings with secrets from the environment, and their redacted form for messages.

A DSN or URL in the configuration may hold ``${VAR}`` placeholders (``postgresql://app:${PGPASS}
@db/shop``); they are filled in from the environment only when connecting, and whatever is shown
to a person (logs, errors, reports) is the redacted form, without the password.

Example:
    >>> import os
    >>> os.environ["EXAMPLE_PW"] = "s3cret"
    >>> expand_env("redis://:${EXAMPLE_PW}@127.0.0.1:6379/0")
    'redis://:s3cret@127.0.0.1:6379/0'
    >>> redact("postgresql://app:s3cret@127.0.0.1:5432/shop")
    'postgresql://app:***@127.0.0.1:5432/shop'
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

from aidmp.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str, *, field: str = "dsn") -> str:
    """``text`` with every ``${VAR}`` replaced by the environment variable's value.

    Raises:
        ConfigError: a named variable is not set (the message names the variable, not a value).
    """
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(f"environment variable {name} is not set", field=field)
        return os.environ[name]

    return _VAR.sub(value, text)


def redact(url: str) -> str:
    """The URL without its password (``***`` in its place); text that is not a URL with a
    user part is returned unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable connection string>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def scrub(message: str, *secrets: str | None) -> str:
    """``message`` with every given secret (a password, a whole DSN) replaced by ``***``.

    Drivers quote the connection string or password in some of their errors; everything that
    reaches a person passes through here first.
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message
