from __future__ import annotations

from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker import countries
from tracker.countries import iso2, zone, zones


def _tzdata_codes() -> set[str]:
    text = resources.files("tzdata").joinpath("zoneinfo", "iso3166.tab").read_text("utf-8")
    return {line.split("\t")[0] for line in text.splitlines() if line and line[0] != "#"}


def test_table_covers_every_iso_country_plus_kosovo() -> None:
    assert set(countries.CODES) == _tzdata_codes() | {"XK"}
    assert len(countries.CODES) == 250


@pytest.mark.parametrize("code", sorted(_tzdata_codes()))
def test_every_alpha2_and_its_english_name_round_trip(code: str) -> None:
    assert iso2(code) == code
    assert iso2(code.lower()) == code
    assert iso2(countries.NAMES[code]) == code
    assert iso2(countries.NAMES[code].upper()) == code


@pytest.mark.parametrize(
    ("alpha3", "expected"),
    [
        ("DEU", "DE"),
        ("nld", "NL"),
        ("CHN", "CN"),
        ("USA", "US"),
        ("GBR", "GB"),
        ("KOR", "KR"),
        ("PRK", "KP"),
        ("HKG", "HK"),
        ("ESP", "ES"),
        ("XKX", "XK"),
        ("COD", "CD"),
        ("COG", "CG"),
    ],
)
def test_alpha3(alpha3: str, expected: str) -> None:
    assert iso2(alpha3) == expected


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("UNITED STATES", "US"),
        ("United States of America", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("u.s.", "US"),
        ("Great Britain", "GB"),
        ("UK", "GB"),
        ("United Kingdom", "GB"),
        ("Korea, Republic of", "KR"),
        ("KOREA (REP.)", "KR"),
        ("Korea, Democratic People's Republic of", "KP"),
        ("Hong Kong SAR", "HK"),
        ("HONG KONG SAR CHINA", "HK"),
        ("CHINA MAINLAND", "CN"),
        ("China (People's Rep.)", "CN"),
        ("Netherlands", "NL"),
        ("The Netherlands", "NL"),
        ("THE NETHERLANDS", "NL"),
        ("Nederland", "NL"),
        ("Deutschland", "DE"),
        ("GERMANY", "DE"),
        ("España", "ES"),
        ("ESPANA", "ES"),
        ("中国", "CN"),
        ("中国香港", "HK"),
        ("Côte d'Ivoire", "CI"),
        ("COTE D IVOIRE", "CI"),
        ("Côte d’Ivoire", "CI"),
        ("  germany  ", "DE"),
        ("Bosnia-Herzegovina", "BA"),
        ("Russian Federation", "RU"),
        ("Viet Nam", "VN"),
        ("Turkey", "TR"),
        ("Czech Republic", "CZ"),
        ("Macau", "MO"),
        ("Taiwan", "TW"),
        ("Kosovo", "XK"),
    ],
)
def test_carrier_variants(printed: str, expected: str) -> None:
    assert iso2(printed) == expected


@pytest.mark.parametrize(
    "unknown",
    [None, "", "   ", "Narnia", "ZZ", "XXX", "Germany Berlin", "the", "...", "Korea North"],
)
def test_unknown_is_none(unknown: str | None) -> None:
    assert iso2(unknown) is None


def test_names_are_distinct_keys() -> None:
    # _parse refuses a spelling that would name two countries; prove it does.
    with pytest.raises(ValueError, match="names both"):
        countries._parse("AA AAA Foo\nBB BBB Bar|F.O.O.")


@given(st.text(max_size=60))
def test_iso2_answers_a_known_code_or_none(text: str) -> None:
    result = iso2(text)
    assert result is None or result in countries.CODES


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("DE", "Europe/Berlin"),  # Büsingen has its own entry but keeps the same clock
        ("NL", "Europe/Amsterdam"),
        ("CN", "Asia/Shanghai"),  # Urumqi's row is unofficial
        ("GB", "Europe/London"),
        ("FR", "Europe/Paris"),
        ("ES", "Europe/Madrid"),
        ("IT", "Europe/Rome"),
        ("PL", "Europe/Warsaw"),
        ("JP", "Asia/Tokyo"),
        ("KR", "Asia/Seoul"),
        ("HK", "Asia/Hong_Kong"),
        ("MY", "Asia/Kuala_Lumpur"),
        ("KZ", "Asia/Almaty"),
        ("UA", "Europe/Kyiv"),
        ("nl", "Europe/Amsterdam"),
    ],
)
def test_single_zone_countries(country: str, expected: str) -> None:
    assert zone(country) == expected


@pytest.mark.parametrize(
    "country", ["US", "CA", "AU", "RU", "BR", "MX", "ID", "CL", "CD", "MN", "AQ", "ZZ", "XK", ""]
)
def test_multi_zone_or_unknown_countries_have_no_zone(country: str) -> None:
    assert zone(country) is None


def test_zones_lists_every_row() -> None:
    assert zones("DE") == ("Europe/Berlin", "Europe/Busingen")
    assert "America/New_York" in zones("US")
    assert zones("ZZ") == ()


def test_every_zone_answer_is_one_of_the_countrys_rows() -> None:
    for code in countries.CODES:
        found = zone(code)
        assert found is None or found in zones(code), code
