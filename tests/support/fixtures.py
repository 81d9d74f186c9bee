"""The support fixtures as one pytest plugin.

``./candor test`` loads it with ``-p tests.support.fixtures``; tests/conftest.py should say
``pytest_plugins = ["tests.support.fixtures"]`` so that a bare ``python -m pytest`` has them
too (pytest registers a plugin once, by module name, so both together are fine). Always
import this package as ``tests.support``, never as ``support``.

Fixtures: ``postgres_url``, ``postgres_db_url`` (tests.support.postgres); ``playwright``,
``browser``, ``page``, ``launch_browser`` (tests.support.browser); ``server_url``
(tests.support.server); ``exclusive_network`` (tests.support.parallel, autouse).
"""

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.browser",
    "tests.support.server",
    "tests.support.parallel",
]
