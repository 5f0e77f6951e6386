"""What must hold on every machine the tests run on."""

from __future__ import annotations

import pytest


def test_a_crm_plugin_installed_elsewhere_is_hidden_from_tests(monkeypatch) -> None:
    """During tests the registry sees only this package's own CRMs: a third-party plugin installed on the machine is ignored."""
    from importlib.metadata import EntryPoint

    from connector.crm import registry

    own = [EntryPoint(name="local", value="connector.crm.local:LocalCRM", group=registry.GROUP)]
    foreign = EntryPoint(name="pipedrive", value="cadence_pipedrive.crm:PipedriveCRM", group=registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [*own, foreign])
    assert registry.installed() == ["local"]
    with pytest.raises(registry.UnknownCRMError, match="unknown CRM 'pipedrive'"):
        registry.get_factory("pipedrive")
