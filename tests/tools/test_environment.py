"""Which variables count as secrets when a tool process gets its environment."""

from __future__ import annotations

import pytest

from opscopilot.tools import is_secret_variable, scrubbed_environment


@pytest.mark.parametrize(
    "name",
    [
        "OPENAI_API_KEY",
        "FOO_TOKEN",
        "client_secret",
        "DB_PASSWORD",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AWS_REGION",
        "HTTP_AUTH_HEADER",
        "MYSQL_PWD",
        "SSH_PRIVATE_FILE",
        "SENTRY_DSN",
        "Github_Token",
    ],
)
def test_secret_looking_names_are_dropped(name: str) -> None:
    assert is_secret_variable(name, "value")


@pytest.mark.parametrize("name", ["PATH", "HOME", "LANG", "PWD", "OLDPWD", "TERM", "USER", "TZ"])
def test_ordinary_names_are_kept(name: str) -> None:
    assert not is_secret_variable(name, "/usr/bin")


def test_a_url_with_a_password_is_a_secret_whatever_its_name() -> None:
    assert is_secret_variable("DATABASE_URL", "postgres://app:s3cret@db:5432/app")
    assert not is_secret_variable("SITE_URL", "https://example.com/a:b")


def test_scrubbed_environment_filters_a_given_mapping() -> None:
    env = {"PATH": "/bin", "FOO_TOKEN": "x", "AWS_PROFILE": "prod", "HOME": "/root"}
    assert scrubbed_environment(env) == {"PATH": "/bin", "HOME": "/root"}
