"""The one exception type of the models package."""
from __future__ import annotations


class ModelError(Exception):
    """A model is unknown, missing, corrupt or not what it claims to be; the message says which
    and what to do about it."""
