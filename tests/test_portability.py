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


def test_the_local_crm_and_the_sync_import_without_fcntl(tmp_path) -> None:
    """With no `fcntl` module (as on Windows), the local CRM, the sync and the CLI still import: the file locks come from
    filelock, not from a POSIX-only module."""
    import subprocess
    import sys
    from pathlib import Path

    shim = tmp_path / "sitecustomize.py"
    shim.write_text("import sys\nsys.modules['fcntl'] = None  # `import fcntl` now raises ImportError, as on Windows\n",
                    encoding="utf-8")
    probe = ("import importlib.util, sys\n"
             "assert importlib.util.find_spec('fcntl') is None or sys.modules.get('fcntl', 0) is None\n"
             "import connector.crm.local, connector.crm.local.csvio, connector.runlock, connector.sync, connector.cli\n"
             "print('imported', 'fcntl' in sys.modules and sys.modules['fcntl'] is not None)\n")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=120,
                          env={"PATH": "", "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "imported False"


def test_the_package_reads_no_test_settings() -> None:
    """No module of the package reads a CADENCE_TEST_ variable: tests inject their hooks (tests/support/launch.py)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readers = [str(p.relative_to(root)) for package in ("connector", "sequences") for p in (root / package).rglob("*.py")
               if "CADENCE_TEST_" in p.read_text(encoding="utf-8")]
    assert readers == []
