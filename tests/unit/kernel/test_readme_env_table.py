"""The README's table of environment variables matches the settings classes."""

from __future__ import annotations

from services.devstack.settings_doc import BEGIN, END, README, render


def test_every_setting_is_in_the_readme_table() -> None:
    readme = README.read_text()
    table = readme[readme.index(BEGIN) + len(BEGIN) : readme.index(END)].strip()
    assert table == render().strip(), "README variable table is stale: run `make docs`"
    for name in ("NATS_URL", "DATABASE_URL", "S3_URL", "VAULT_KEYS", "GATEWAY_HTTP_PORT"):
        assert f"`{name}`" in table
