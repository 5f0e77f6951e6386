"""The HubSpot account is the portal: its id, read once from the Account information API.

`GET /account-info/v3/details` answers `{portalId, timeZone, companyCurrency, uiDomain,
dataHostingLocation, ...}` for the token's portal. The id names the account in new states
(`hubspot:<portalId>`), so two spellings of the API's URL (`localhost` and `127.0.0.1`, an
explicit `:443`, the EU host) are one account, with one set of task keys and one run lock.

The call goes through the client library's own `ApiClient.call_api` (the generated client
every API of `hubspot-api-client` uses: its connection pool, auth and `_request_timeout`),
not `HubSpot.api_request`, which has no timeout and prints failures to stdout.
"""

from __future__ import annotations

from typing import Any

from connector.crm.base import FatalCRMError

from .http import Caller

PATH = "/account-info/v3/details"


def read_portal_id(call: Caller, api_client: Any) -> str:
    """The portal id of the token's account (one request)."""

    def details(_request_timeout: float | None = None) -> Any:
        return api_client.call_api(PATH, "GET", header_params={"Accept": "application/json"},
                                   response_types_map={200: "object"}, auth_settings=["oauth2"],
                                   _return_http_data_only=True, _request_timeout=_request_timeout)

    body = call(details)
    portal = body.get("portalId") if isinstance(body, dict) else None
    if portal in (None, ""):
        raise FatalCRMError(f"HubSpot's account details ({PATH}) gave no portalId: cannot tell which account this is")
    return str(portal)


class PortalAccount:
    """Mixed into `HubSpotCRM`: the account is the portal."""

    _portal_id = ""

    def account_id(self: Any) -> str:
        """`hubspot:<portalId>`, read once per adapter from the Account information API."""
        if not self._portal_id:
            self._portal_id = read_portal_id(self.call, self._owners.api_client)
        return f"hubspot:{self._portal_id}"

    def account_aliases(self: Any) -> list[str]:
        """The id states created before portal ids knew this account by (`hubspot:<host>`):
        such a state keeps it, so its task keys do not change."""
        from .settings import account_of

        return [account_of({"base_url": self.base_url})]
