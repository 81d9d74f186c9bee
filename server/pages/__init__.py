"""The HR pages: plain HTML forms over the same domain functions as the JSON API.

Importing this package registers every page on `server.api.router` (so the OpenAPI document
lists them); `server.app.create_app` imports it.

- `common`: the page gate (session + CSRF), form errors, error pages, redirects.
- `login`: GET/POST /login, POST /logout.
- `jobs`: /jobs, /jobs/new, /jobs/{id}.
- `interview_templates`: /jobs/{id}/templates/new, /templates/{id} (and its invitation form).
- `candidates`: /candidates, /candidates/{id}.
- `interviews`: interview lists, the invitation form's parsing, /invitations (links just sent).
- `users`: /users (admin: HR accounts), /account (your password).
- `results`: /jobs/{id}/results (the results board).
- `compare`: /jobs/{id}/compare (2 to 4 interviews side by side).
- `mail`: /mail (email on or off; the wording of messages to candidates).
- `webhooks`: /webhooks (admin: hooks for other systems, their delivery log).
- `servers`: /servers (admin: the server processes' load and the capacity left).
- `erasures`: /candidates/{id}/erase (what is erased, typed confirmation), /erasures (certificates).
"""
from __future__ import annotations

from server.pages import candidates, interview_templates, interviews, jobs, login  # noqa: F401
from server.pages import monitor  # noqa: F401  (the live panel, /monitor)
from server.pages import reports  # noqa: F401  (a report and its review, /interviews/{id}/report)
from server.pages import users  # noqa: F401  (/users, /account)
from server.pages import results  # noqa: F401  (/jobs/{id}/results)
from server.pages import compare  # noqa: F401  (/jobs/{id}/compare)
from server.pages import mail  # noqa: F401  (/mail)
from server.pages import adverse_impact  # noqa: F401  (/jobs/{id}/adverse-impact, admin)
from server.pages import webhooks  # noqa: F401  (/webhooks, admin)
from server.pages import servers  # noqa: F401  (/servers, admin)
from server.pages import erasures  # noqa: F401  (/candidates/{id}/erase, /erasures)
from server.pages import employees, validity, recalibrations  # noqa: F401  (/employees, /imports, /jobs/{id}/validity)
