"""Fixtures for the emulator's own tests."""

from __future__ import annotations

import pytest
import requests
from hubspot import HubSpot


def make_client(emu, token=None, strict=True):
    """The real hubspot-api-client pointed at the emulator.  ``host`` drives the
    generated APIs, ``base_url`` the ``api_request`` escape hatch (facts §5).
    ``client_side_validation=True`` makes the client's models reject responses
    that lack required fields or carry values outside the spec's enums."""
    return HubSpot(access_token=token or emu.token, host=emu.base_url, base_url=emu.base_url,
                   client_side_validation=strict)


@pytest.fixture
def client_for(hubspot_emulator):
    """``client_for(token)``: a client using another token."""
    return lambda token=None, strict=True: make_client(hubspot_emulator, token, strict)


@pytest.fixture
def emu(hubspot_emulator):
    return hubspot_emulator


@pytest.fixture
def client(hubspot_emulator):
    return make_client(hubspot_emulator)


class Raw:
    """``requests`` with the emulator's base URL and token filled in."""

    def __init__(self, emu):
        self.emu = emu
        self.session = requests.Session()

    def __call__(self, method, path, token="default", **kw):
        headers = kw.pop("headers", {})
        if token == "default":
            token = self.emu.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.emu.base_url + path, headers=headers, timeout=10, **kw)


@pytest.fixture
def raw(hubspot_emulator):
    r = Raw(hubspot_emulator)
    yield r
    r.session.close()
