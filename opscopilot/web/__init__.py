"""Deciding from elsewhere: `opscopilot serve` (the approvals page and JSON API), operator
tokens, signed single-use links and the notifiers that send them.

Only `operators`, `signing` and `notify` load without the `serve` extra (Starlette, uvicorn,
Jinja2): the token commands and the runtime's notifier need nothing more than the core.
"""
