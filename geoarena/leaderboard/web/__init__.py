"""The server-rendered site: participant and organizer pages over the same service
functions as the API and the CLI.

Every page works without JavaScript; two small hand-written scripts (``static/``) add an
upload progress bar and local times where JavaScript runs. Forms carry a signed CSRF token
(:mod:`.csrf`), the login lives in an HttpOnly cookie (:mod:`.cookies`) and never in a URL.
Modules: ``render`` (templates, filters, the tab bar, HTML error pages), ``forms``
(reading posted forms), ``csrf``, ``cookies``, ``charts``, ``evaluation`` (the scoring
rules in words), and one module of routes per audience and task: ``account_pages``,
``challenge_pages``, ``submission_pages``, ``organizer_pages`` (challenge setup),
``moderation_pages`` (exclusions, rescores), ``docs_pages``.
"""
