"""Owners, properties and property groups, OAuth v1 tokens."""

from __future__ import annotations

from typing import Any

from . import errors
from .errors import correlation_id
from .router import Request, Response
from .state import State, object_type

OWNERS_MAX = 500


# -- owners -------------------------------------------------------------------------------------

def list_owners(state: State, req: Request) -> Response:
    limit = min(max(req.q_int("limit", 100), 1), OWNERS_MAX)
    archived = req.q_bool("archived")
    email = (req.q("email") or "").strip().lower()
    owners = [o for o in state.owners if o["archived"] == archived and (not email or o["email"].lower() == email)]
    after = req.q("after")
    start = 0
    if after:
        if not after.isdigit():
            raise errors.validation(f"after must be a valid paging cursor; got {after!r}")
        start = int(after)
    page = owners[start:start + limit]
    body: dict[str, Any] = {"results": page}
    if start + limit < len(owners):
        nxt = str(start + limit)
        body["paging"] = {"next": {"after": nxt, "link": f"{state.base_url}/crm/v3/owners/?after={nxt}"}}
    return Response(200, body)


def get_owner(state: State, req: Request) -> Response:
    raw = req.params["ownerId"]
    id_prop = req.q("idProperty") or "id"
    archived = req.q_bool("archived")
    if id_prop == "userId":
        owner = next((o for o in state.owners if str(o.get("userId")) == raw), None)
    elif id_prop == "id":
        owner = state.owners_by_id.get(raw)
    else:
        raise errors.validation(f"idProperty must be 'id' or 'userId'; got {id_prop!r}")
    if owner is None or owner["archived"] != archived:
        raise errors.not_found(f"Owner {raw} not found")
    return Response(200, owner)


# -- properties -----------------------------------------------------------------------------------

def list_properties(state: State, req: Request) -> Response:
    registry = state.registries[object_type(req.params["objectType"])]
    wanted = set(req.q_list("properties"))
    results = [p.to_json() for p in registry.props.values() if not wanted or p.name in wanted]
    return Response(200, {"results": results})


def get_property(state: State, req: Request) -> Response:
    registry = state.registries[object_type(req.params["objectType"])]
    prop = registry.get(req.params["propertyName"])
    if prop is None:
        raise errors.not_found(f"Property {req.params['propertyName']} does not exist")
    return Response(200, prop.to_json())


def create_property(state: State, req: Request) -> Response:
    registry = state.registries[object_type(req.params["objectType"])]
    body = req.json()
    if not isinstance(body, dict):
        raise errors.validation("Invalid property definition.")
    return Response(201, registry.create(body, state.now_iso()).to_json())


def list_groups(state: State, req: Request) -> Response:
    registry = state.registries[object_type(req.params["objectType"])]
    return Response(200, {"results": list(registry.groups.values())})


def get_group(state: State, req: Request) -> Response:
    registry = state.registries[object_type(req.params["objectType"])]
    group = registry.groups.get(req.params["groupName"])
    if group is None:
        raise errors.not_found(f"Property group {req.params['groupName']} does not exist")
    return Response(200, group)


def create_group(state: State, req: Request) -> Response:
    registry = state.registries[object_type(req.params["objectType"])]
    body = req.json()
    if not isinstance(body, dict):
        raise errors.validation("Invalid property group.")
    return Response(201, registry.create_group(body))


# -- OAuth v1 ------------------------------------------------------------------------------------

def _oauth_error(status: str, message: str) -> errors.ApiError:
    return errors.ApiError(400, {"status": status, "message": message, "correlationId": correlation_id()})


def oauth_token(state: State, req: Request) -> Response:
    form = req.form()
    oauth = state.oauth
    grant = form.get("grant_type", "")
    if grant not in ("refresh_token", "authorization_code", "client_credentials"):
        raise _oauth_error("BAD_GRANT_TYPE", f"unsupported grant type: {grant or 'missing'}")
    if form.get("client_id") != oauth.client_id:
        raise _oauth_error("BAD_CLIENT_ID", "missing or unknown client id")
    if form.get("client_secret") != oauth.client_secret:
        raise _oauth_error("BAD_CLIENT_SECRET", "missing or mismatched client secret")
    if grant != "refresh_token":
        raise _oauth_error("BAD_AUTH_CODE", "missing or unknown auth code (the emulator only supports "
                                            "grant_type=refresh_token)")
    refresh = form.get("refresh_token", "")
    if refresh not in oauth.refresh_tokens:
        raise _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
    token = oauth.mint(state.clock.monotonic())
    return Response(200, {"token_type": "bearer", "refresh_token": refresh, "access_token": token,
                          "expires_in": oauth.ttl_seconds})


def oauth_token_info(state: State, req: Request) -> Response:
    token = req.params["token"]
    expiry = state.oauth.access_tokens.get(token)
    left = None if expiry is None else int(expiry - state.clock.monotonic())
    if left is None or left <= 0:
        raise errors.not_found("Token not found or expired")
    return Response(200, {"token": token, "user": "recruiter@example.com", "hub_domain": "emulator.hubspot.test",
                          "scopes": ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write",
                                     "crm.objects.owners.read", "crm.schemas.contacts.read",
                                     "crm.schemas.contacts.write"],
                          "hub_id": state.hub_id, "app_id": 1_234_567, "expires_in": left, "user_id": 7_654_321,
                          "token_type": "access"})


def account_details(state: State, req: Request) -> Response:
    """`GET /account-info/v3/details` (HubSpot's Account information API): the portal's id and settings."""
    return Response(200, {"portalId": state.hub_id, "accountType": "STANDARD", "timeZone": "US/Eastern",
                          "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
                          "utcOffsetMilliseconds": -18_000_000, "uiDomain": "app.hubspot.com",
                          "dataHostingLocation": "na1"})


def register(router) -> None:
    router.add("GET", "/account-info/v3/details", account_details, "GET /account-info/v3/details")
    router.add("GET", "/crm/v3/owners/", list_owners, "GET /crm/v3/owners/")
    router.add("GET", "/crm/v3/owners", list_owners, "GET /crm/v3/owners/")
    router.add("GET", "/crm/v3/owners/{ownerId}", get_owner, "GET /crm/v3/owners/{ownerId}")
    props = "/crm/v3/properties/{objectType}"
    router.add("GET", props + "/groups", list_groups, "GET /crm/v3/properties/{objectType}/groups")
    router.add("POST", props + "/groups", create_group, "POST /crm/v3/properties/{objectType}/groups", write=True)
    router.add("GET", props + "/groups/{groupName}", get_group,
               "GET /crm/v3/properties/{objectType}/groups/{groupName}")
    router.add("GET", props, list_properties, "GET /crm/v3/properties/{objectType}")
    router.add("POST", props, create_property, "POST /crm/v3/properties/{objectType}", write=True)
    router.add("GET", props + "/{propertyName}", get_property, "GET /crm/v3/properties/{objectType}/{propertyName}")
    router.add("POST", "/oauth/v1/token", oauth_token, "POST /oauth/v1/token", auth=False)
    router.add("GET", "/oauth/v1/access-tokens/{token}", oauth_token_info, "GET /oauth/v1/access-tokens/{token}",
               auth=False)
