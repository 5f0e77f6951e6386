"""Synthetic, reproducible portal data: owners and contacts.

Contacts span ten countries with matching time zones (stored in HubSpot's
``hs_timezone`` option style, ``america_slash_new_york``), and include the awkward
cases a sync must survive: missing phone / time zone / first name / email, odd
unicode (accents, CJK, emoji, RTL), garbage phones and time zones, opted-out
contacts, owners, lead statuses and recent activity dates.  Seeded records are
visible to search at once (no indexing lag) and bypass value validation, the
way old imported data does.
"""

from __future__ import annotations

import random
import re
import unicodedata

from .properties import LEAD_STATUSES, LIFECYCLE_STAGES, iana_to_hubspot_tz
from .timefmt import iso_from_ms

# code, country name, domain, phone prefix, [(IANA zone, state, city)], first names, last names
COUNTRIES = [
    ("US", "United States", "example.com", "+1", [("America/New_York", "New York", "New York"),
                                                 ("America/Chicago", "Illinois", "Chicago"),
                                                 ("America/Denver", "Colorado", "Denver"),
                                                 ("America/Los_Angeles", "California", "San Francisco")],
     ["James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "Tyrone", "Ashley"],
     ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller"]),
    ("GB", "United Kingdom", "example.co.uk", "+44", [("Europe/London", "England", "London"),
                                                     ("Europe/London", "Scotland", "Edinburgh")],
     ["Oliver", "Amelia", "Harry", "Isla", "George", "Siobhan"], ["Taylor", "Davies", "Evans", "Wilson", "O'Brien"]),
    ("DE", "Germany", "beispiel.de", "+49", [("Europe/Berlin", "Berlin", "Berlin"),
                                            ("Europe/Berlin", "Bayern", "München")],
     ["Lukas", "Mia", "Jürgen", "Hannah", "Maximilian"], ["Müller", "Schmidt", "Schneider", "Weiß", "Groß"]),
    ("FR", "France", "exemple.fr", "+33", [("Europe/Paris", "Île-de-France", "Paris"),
                                          ("Europe/Paris", "Auvergne-Rhône-Alpes", "Lyon")],
     ["Léa", "Hugo", "Chloé", "Théo", "Anaïs"], ["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau"]),
    ("IN", "India", "example.in", "+91", [("Asia/Kolkata", "Karnataka", "Bengaluru"),
                                         ("Asia/Kolkata", "Maharashtra", "Mumbai")],
     ["Aarav", "Priya", "Vivaan", "Ananya", "Rohan"], ["Sharma", "Patel", "Iyer", "Reddy", "Gupta"]),
    ("AU", "Australia", "example.com.au", "+61", [("Australia/Sydney", "New South Wales", "Sydney"),
                                                 ("Australia/Perth", "Western Australia", "Perth")],
     ["Jack", "Charlotte", "Noah", "Olivia"], ["Nguyen", "Kelly", "Walker", "Thompson"]),
    ("CA", "Canada", "example.ca", "+1", [("America/Toronto", "Ontario", "Toronto"),
                                         ("America/Vancouver", "British Columbia", "Vancouver"),
                                         ("America/Halifax", "Nova Scotia", "Halifax")],
     ["Liam", "Emma", "Étienne", "Sophie"], ["Tremblay", "Roy", "Campbell", "Côté"]),
    ("BR", "Brazil", "exemplo.com.br", "+55", [("America/Sao_Paulo", "São Paulo", "São Paulo"),
                                              ("America/Manaus", "Amazonas", "Manaus")],
     ["João", "Maria", "Gabriel", "Ana", "Lucas"], ["Silva", "Santos", "Oliveira", "Conceição"]),
    ("JP", "Japan", "example.jp", "+81", [("Asia/Tokyo", "Tokyo", "Tokyo"), ("Asia/Tokyo", "Osaka", "Osaka")],
     ["Haruto", "Yui", "Sota", "Aoi", "太郎"], ["Sato", "Suzuki", "Takahashi", "山田", "田中"]),
    ("NP", "Nepal", "example.com.np", "+977", [("Asia/Kathmandu", "Bagmati", "Kathmandu")],
     ["Aayush", "Sita", "Bikash", "Pooja"], ["Shrestha", "Gurung", "Tamang", "Adhikari"]),
]
COUNTRY_WEIGHTS = [30, 12, 8, 7, 10, 6, 7, 6, 7, 7]

ODD_NAMES = [("Zoë", "Ångström"), ("José", "Núñez"), ("芳", "王"), ("太郎", "山田"), ("محمد", "الأحمد"),
             ("שרה", "כהן"), ("Ærin 🚀", "O'Connor-Šimić"), ("Łukasz", "Żółć"), ("Minh", "Nguyễn Thị"),
             (None, "Prince"), ("Dr. Emily", "St. John-Smythe"), ("Анна", "Иванова"), ("  Padded ", " Name  "),
             ("SHOUTY", "CAPSLOCK"), ("😀", "Emoji"), ("Ng", "Ó Súilleabháin")]
GARBAGE_PHONES = ["N/A", "12345", "+1 (555) CALL-NOW", "0000000000", "tbd", "+44 07700 900 000 ext"]
GARBAGE_TZS = ["mars_slash_olympus_mons", "eastern", "utc_plus_5", "America/New_York"]
JOB_TITLES = ["Software Engineer", "Senior Data Scientist", "Head of Talent", "Product Manager",
              "Staff Engineer", "Engineering Manager", "Designer", "DevOps Engineer", "CTO", "Recruiter"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises",
             "Soylent", "Tyrell", "Cyberdyne", "Vandelay Industries", "Pied Piper"]
OWNER_NAMES = [("Riley", "Recruiter"), ("Sam", "Sourcer"), ("Alex", "Agency"), ("Jordan", "Hiring"),
               ("Casey", "Talent"), ("Morgan", "Partner"), ("Taylor", "Search"), ("Jamie", "Scout")]
DAY_MS = 86_400_000


def _slug(text: str | None) -> str:
    if not text:
        return ""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "", ascii_)


def make_owners(n: int, first_id: int, now_iso: str, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    owners = []
    for i in range(n):
        first, last = OWNER_NAMES[i % len(OWNER_NAMES)]
        if i >= len(OWNER_NAMES):
            last = f"{last}{i // len(OWNER_NAMES) + 1}"
        owner_id = first_id + i
        owners.append({
            "id": str(owner_id), "email": f"{first.lower()}.{_slug(last)}@recruiting.example",
            "type": "PERSON", "firstName": first, "lastName": last, "userId": 9_000_000 + owner_id % 1_000_000,
            "userIdIncludingInactive": 9_000_000 + owner_id % 1_000_000,
            "createdAt": now_iso, "updatedAt": now_iso, "archived": False,
            "teams": [{"id": str(100 + rng.randint(1, 3)), "name": "Recruiting", "primary": True}],
        })
    return owners


def contact_values(rng: random.Random, index: int, now_ms: int, owner_ids: list[str]) -> tuple[dict, int, int]:
    """One synthetic contact: (properties, createdate ms, lastmodifieddate ms)."""
    r = rng.random
    _code, country, domain, prefix, places, firsts, lasts = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
    zone, state, city = rng.choice(places)
    if r() < 0.06:
        first, last = rng.choice(ODD_NAMES)
    else:
        first, last = rng.choice(firsts), rng.choice(lasts)
    v = {"firstname": first, "lastname": last, "country": country, "state": state, "city": city,
         "company": rng.choice(COMPANIES), "jobtitle": rng.choice(JOB_TITLES)}
    if r() > 0.01:
        local = ".".join(x for x in (_slug(first), _slug(last)) if x) or "contact"
        v["email"] = f"{local}.{index}@{domain}"
    roll = r()
    if roll < 0.02:
        v["phone"] = rng.choice(GARBAGE_PHONES)
    elif roll < 0.17:
        pass  # no phone
    else:
        v["phone"] = f"{prefix} {rng.randint(200, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    if r() < 0.2:
        v["mobilephone"] = f"{prefix} 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}"
    roll = r()
    if roll < 0.01:
        v["hs_timezone"] = rng.choice(GARBAGE_TZS)
    elif roll > 0.10:
        v["hs_timezone"] = iana_to_hubspot_tz(zone)
    if owner_ids and r() < 0.85:
        v["hubspot_owner_id"] = rng.choice(owner_ids)
    if r() < 0.8:
        v["hs_lead_status"] = rng.choice(LEAD_STATUSES)
    v["lifecyclestage"] = rng.choice(LIFECYCLE_STAGES[:5])
    if r() < 0.03:
        v["hs_email_optout"] = "true"
    if r() < 0.5:
        v["hs_linkedin_url"] = f"https://www.linkedin.com/in/{_slug(first) or 'someone'}-{index}"
    created = now_ms - rng.randint(1, 730) * DAY_MS - rng.randint(0, DAY_MS)
    modified = rng.randint(created, now_ms)
    if r() < 0.4:
        contacted = rng.randint(created, modified)
        v["notes_last_contacted"] = iso_from_ms(contacted)
        v["num_contacted_notes"] = str(rng.randint(1, 6))
        if r() < 0.12:
            v["hs_sales_email_last_replied"] = iso_from_ms(rng.randint(contacted, modified))
        if r() < 0.06:
            v["engagements_last_meeting_booked"] = iso_from_ms(rng.randint(contacted, modified))
    return v, created, modified
