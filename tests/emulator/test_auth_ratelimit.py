"""401s, OAuth refresh, and HubSpot's rate limits on an injected clock."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException, UnauthorizedException
from hubspot.oauth.exceptions import ApiException as OAuthApiException

# -- auth ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer "}])
def test_missing_or_invalid_token_is_401(emu, raw, headers):
    r = raw("GET", "/crm/v3/objects/contacts", token=None, headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["category"] == "INVALID_AUTHENTICATION" and body["status"] == "error" and body["correlationId"]
    assert "wrong" not in json.dumps(emu.requests()[-1].__dict__)


def test_client_raises_unauthorized(emu, client_for):
    bad = client_for(token="pat-na1-not-a-real-token")
    with pytest.raises(UnauthorizedException):
        bad.crm.contacts.basic_api.get_page()


def test_configured_private_app_tokens(emu, raw):
    emu.add_token("pat-na1-11111111-2222-3333-4444-555555555555")
    assert raw("GET", "/crm/v3/objects/contacts", token="pat-na1-11111111-2222-3333-4444-555555555555").ok
    emu.revoke_token("pat-na1-11111111-2222-3333-4444-555555555555")
    assert raw("GET", "/crm/v3/objects/contacts",
               token="pat-na1-11111111-2222-3333-4444-555555555555").status_code == 401


def test_oauth_refresh_through_client_then_expiry(emu, client, client_for):
    clock = emu.freeze_clock()
    tokens = client.oauth.tokens_api.create(grant_type="refresh_token", client_id=emu.oauth.client_id,
                                            client_secret=emu.oauth.client_secret,
                                            refresh_token="emulator-refresh-token")
    assert tokens.expires_in == 1800 and tokens.token_type == "bearer"
    assert tokens.refresh_token == "emulator-refresh-token"
    oauth_client = client_for(tokens.access_token)
    assert oauth_client.crm.contacts.basic_api.get_page().results == []
    clock.advance(1801)
    with pytest.raises(UnauthorizedException) as info:
        oauth_client.crm.contacts.basic_api.get_page()
    body = json.loads(info.value.body)
    assert body["category"] == "EXPIRED_AUTHENTICATION" and "expired" in body["message"]


@pytest.mark.parametrize("field, value, status", [
    ("refresh_token", "nope", "BAD_REFRESH_TOKEN"),
    ("client_id", "nope", "BAD_CLIENT_ID"),
    ("client_secret", "nope", "BAD_CLIENT_SECRET"),
    ("grant_type", "password", "BAD_GRANT_TYPE"),
])
def test_oauth_bad_inputs_are_400(emu, client, raw, field, value, status):
    form = {"grant_type": "refresh_token", "client_id": emu.oauth.client_id,
            "client_secret": emu.oauth.client_secret, "refresh_token": "emulator-refresh-token", field: value}
    r = raw("POST", "/oauth/v1/token", token=None, data=form)
    assert r.status_code == 400
    assert r.json()["status"] == status and r.json()["message"] and r.json()["correlationId"]
    if field == "refresh_token":
        with pytest.raises(OAuthApiException) as info:
            client.oauth.tokens_api.create(**form)
        assert info.value.status == 400


def test_oauth_token_info(emu, raw):
    form = {"grant_type": "refresh_token", "client_id": emu.oauth.client_id,
            "client_secret": emu.oauth.client_secret, "refresh_token": "emulator-refresh-token"}
    token = raw("POST", "/oauth/v1/token", token=None, data=form).json()["access_token"]
    info = raw("GET", f"/oauth/v1/access-tokens/{token}", token=None).json()
    assert info["hub_id"] == emu.state.hub_id and info["expires_in"] > 0
    assert all(token not in e.path for e in emu.requests())  # tokens never reach the request log


# -- rate limits -------------------------------------------------------------------------------------

def test_ten_second_window_free_tier(emu, raw):
    clock = emu.freeze_clock()
    emu.set_rate_limit("free")
    for i in range(100):
        r = raw("GET", "/crm/v3/objects/contacts")
        assert r.status_code == 200, i
    assert r.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert r.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert r.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert r.headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert r.headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(250000 - 100)
    assert r.headers["X-HubSpot-RateLimit-Secondly"] == "10"
    limited = raw("GET", "/crm/v3/objects/contacts")
    assert limited.status_code == 429
    body = limited.json()
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["status"] == "error" and body["correlationId"] and "category" not in body
    assert "Retry-After" not in limited.headers
    clock.advance(9.9)
    assert raw("GET", "/crm/v3/objects/contacts").status_code == 429
    clock.advance(0.2)
    fresh = raw("GET", "/crm/v3/objects/contacts")
    assert fresh.status_code == 200 and fresh.headers["X-HubSpot-RateLimit-Remaining"] == "99"
    assert emu.counts(status=429) == {"GET /crm/v3/objects/contacts": 2}


def test_window_is_rolling_and_per_token_and_pro_is_190(emu, raw):
    clock = emu.freeze_clock()
    emu.set_rate_limit("pro")
    emu.add_token("second-app")
    for _ in range(95):
        assert raw("GET", "/crm/v3/owners/").status_code == 200
    clock.advance(5)
    for _ in range(95):
        assert raw("GET", "/crm/v3/owners/").status_code == 200
    assert raw("GET", "/crm/v3/owners/").status_code == 429
    assert raw("GET", "/crm/v3/owners/", token="second-app").status_code == 200
    clock.advance(5.01)  # the first 95 have rolled out of the window
    r = raw("GET", "/crm/v3/owners/")
    assert r.status_code == 200 and r.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert r.headers["X-HubSpot-RateLimit-Daily"] == "650000"


def test_search_is_limited_per_second(emu, client):
    clock = emu.freeze_clock()
    emu.set_rate_limit("pro")
    req = PublicObjectSearchRequest(limit=1)
    for _ in range(5):
        client.crm.contacts.search_api.do_search(req)
    with pytest.raises(ApiException) as info:
        client.crm.contacts.search_api.do_search(req)
    assert info.value.status == 429
    body = json.loads(info.value.body)
    assert body["policyName"] == "SECONDLY" and body["message"] == "You have reached your secondly limit."
    assert "X-HubSpot-RateLimit-Remaining" not in info.value.headers  # search responses carry no limit headers
    clock.advance(1.0)
    client.crm.contacts.search_api.do_search(req)


def test_daily_budget_and_midnight_reset(emu, raw):
    from datetime import datetime, timezone
    clock = emu.freeze_clock(datetime(2025, 3, 3, 23, 0, tzinfo=timezone.utc))
    emu.set_rate_limit("free")
    emu.rate_limits.daily_limit = 3
    emu.rate_limits.send_retry_after = True
    for _ in range(3):
        assert raw("GET", "/crm/v3/objects/contacts").status_code == 200
    r = raw("GET", "/crm/v3/objects/contacts")
    assert r.status_code == 429 and r.json()["policyName"] == "DAILY"
    assert r.json()["message"] == "You have reached your daily limit."
    assert int(r.headers["Retry-After"]) == 3600
    clock.advance(3600)  # midnight UTC (the account's time zone)
    ok = raw("GET", "/crm/v3/objects/contacts")
    assert ok.status_code == 200 and ok.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "2"


def test_oauth_calls_omit_daily_headers(emu, raw):
    emu.set_rate_limit("free")
    form = {"grant_type": "refresh_token", "client_id": emu.oauth.client_id,
            "client_secret": emu.oauth.client_secret, "refresh_token": "emulator-refresh-token"}
    token = raw("POST", "/oauth/v1/token", token=None, data=form).json()["access_token"]
    r = raw("GET", "/crm/v3/objects/contacts", token=token)
    assert r.status_code == 200 and "X-HubSpot-RateLimit-Max" in r.headers
    assert "X-HubSpot-RateLimit-Daily" not in r.headers


def test_rate_limit_off_has_no_headers(raw):
    r = raw("GET", "/crm/v3/objects/contacts")
    assert r.status_code == 200 and "X-HubSpot-RateLimit-Max" not in r.headers


def test_401_does_not_consume_budget(emu, raw):
    emu.freeze_clock()
    emu.set_rate_limit("free")
    for _ in range(150):
        assert raw("GET", "/crm/v3/objects/contacts", token="bad").status_code == 401
    assert raw("GET", "/crm/v3/objects/contacts").status_code == 200
