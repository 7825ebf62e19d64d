"""Country codes and names as carriers print them, and the time zone a country implies.

`iso2()` reads what sources put in a country field (alpha-2, alpha-3, an English name, the
variants carriers use such as "U.S.A.", "Korea, Republic of", "CHINA MAINLAND", and a few
local names such as "Deutschland" or "中国") and answers the ISO 3166-1 alpha-2 code, or None.
Matching ignores case, accents, punctuation and a leading "the".

`zone()` answers the IANA zone of a country that keeps one clock, so the normaliser can read a
naive local time; None for countries like the US where the zone depends on the place. It is
derived from tzdata's `zone.tab`: a country gets its first (main) zone when all its rows keep
the same clock (DE's Büsingen row does), or when one zone is the legal time of nearly everyone
(`_PRIMARY_ZONE`, each exception named there).

The names table is our own data (a line per country: alpha-2, alpha-3, names separated by
"|", the first being the English short name; a long line continues on a line with the same codes).
XK (Kosovo) is not in ISO 3166-1 but carriers (DHL, FedEx, UPU) use it, so it is here.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

_TABLE = """
AD AND Andorra
AE ARE United Arab Emirates|UAE|U.A.E.|Emirates
AF AFG Afghanistan
AG ATG Antigua and Barbuda|Antigua
AI AIA Anguilla
AL ALB Albania
AM ARM Armenia
AO AGO Angola
AQ ATA Antarctica
AR ARG Argentina
AS ASM American Samoa
AT AUT Austria|Österreich
AU AUS Australia
AW ABW Aruba
AX ALA Åland Islands|Aland
AZ AZE Azerbaijan
BA BIH Bosnia and Herzegovina|Bosnia-Herzegovina|Bosnia
BB BRB Barbados
BD BGD Bangladesh
BE BEL Belgium|Belgique|België
BF BFA Burkina Faso
BG BGR Bulgaria|Bulgaria (Rep.)
BH BHR Bahrain
BI BDI Burundi
BJ BEN Benin
BL BLM Saint Barthélemy|St Barthelemy
BM BMU Bermuda
BN BRN Brunei Darussalam|Brunei
BO BOL Bolivia|Bolivia, Plurinational State of
BQ BES Bonaire, Sint Eustatius and Saba|Caribbean Netherlands|Bonaire
BR BRA Brazil|Brasil
BS BHS Bahamas
BT BTN Bhutan
BV BVT Bouvet Island
BW BWA Botswana
BY BLR Belarus
BZ BLZ Belize
CA CAN Canada
CC CCK Cocos (Keeling) Islands|Cocos Islands
CD COD Congo, Democratic Republic of the|Democratic Republic of the Congo|DR Congo|Congo (Dem. Rep.)
CF CAF Central African Republic|Central African Rep.
CG COG Congo|Republic of the Congo|Congo (Rep.)|Congo-Brazzaville
CH CHE Switzerland|Schweiz|Suisse|Svizzera
CI CIV Côte d'Ivoire|Ivory Coast
CK COK Cook Islands
CL CHL Chile
CM CMR Cameroon
CN CHN China|China Mainland|Mainland China|People's Republic of China|PRC|中国|中国大陆
CN CHN China (People's Rep.)|P.R. China
CO COL Colombia
CR CRI Costa Rica
CU CUB Cuba
CV CPV Cabo Verde|Cape Verde
CW CUW Curaçao
CX CXR Christmas Island
CY CYP Cyprus
CZ CZE Czechia|Czech Republic|Česko
DE DEU Germany|Deutschland|Federal Republic of Germany
DJ DJI Djibouti
DK DNK Denmark|Danmark
DM DMA Dominica
DO DOM Dominican Republic
DZ DZA Algeria
EC ECU Ecuador
EE EST Estonia
EG EGY Egypt
EH ESH Western Sahara
ER ERI Eritrea
ES ESP Spain|España
ET ETH Ethiopia
FI FIN Finland|Suomi
FJ FJI Fiji
FK FLK Falkland Islands|Falkland Islands (Malvinas)
FM FSM Micronesia|Micronesia, Federated States of
FO FRO Faroe Islands|Faroes
FR FRA France
GA GAB Gabon
GB GBR United Kingdom|UK|U.K.|Great Britain|Britain|England|Scotland|Wales|Northern Ireland
GB GBR United Kingdom of Great Britain and Northern Ireland
GD GRD Grenada
GE GEO Georgia
GF GUF French Guiana
GG GGY Guernsey
GH GHA Ghana
GI GIB Gibraltar
GL GRL Greenland
GM GMB Gambia
GN GIN Guinea
GP GLP Guadeloupe
GQ GNQ Equatorial Guinea
GR GRC Greece|Hellas|EL
GS SGS South Georgia and the South Sandwich Islands
GT GTM Guatemala
GU GUM Guam
GW GNB Guinea-Bissau
GY GUY Guyana
HK HKG Hong Kong|Hong Kong SAR|Hong Kong SAR China|Hong Kong, China|中国香港|香港
HM HMD Heard Island and McDonald Islands
HN HND Honduras
HR HRV Croatia|Hrvatska
HT HTI Haiti
HU HUN Hungary|Magyarország
ID IDN Indonesia
IE IRL Ireland|Republic of Ireland|Éire
IL ISR Israel
IM IMN Isle of Man
IN IND India
IO IOT British Indian Ocean Territory
IQ IRQ Iraq
IR IRN Iran|Iran, Islamic Republic of
IS ISL Iceland
IT ITA Italy|Italia
JE JEY Jersey
JM JAM Jamaica
JO JOR Jordan
JP JPN Japan|日本
KE KEN Kenya
KG KGZ Kyrgyzstan
KH KHM Cambodia
KI KIR Kiribati
KM COM Comoros
KN KNA Saint Kitts and Nevis|St Kitts and Nevis
KP PRK North Korea|Korea, Democratic People's Republic of|DPRK
KR KOR South Korea|Korea|Korea, Republic of|Republic of Korea|Korea (Rep.)|대한민국|한국
KW KWT Kuwait
KY CYM Cayman Islands
KZ KAZ Kazakhstan
LA LAO Laos|Lao People's Democratic Republic
LB LBN Lebanon
LC LCA Saint Lucia|St Lucia
LI LIE Liechtenstein
LK LKA Sri Lanka
LR LBR Liberia
LS LSO Lesotho
LT LTU Lithuania
LU LUX Luxembourg
LV LVA Latvia
LY LBY Libya
MA MAR Morocco
MC MCO Monaco
MD MDA Moldova|Moldova, Republic of
ME MNE Montenegro
MF MAF Saint Martin|Saint Martin (French part)
MG MDG Madagascar
MH MHL Marshall Islands
MK MKD North Macedonia|Macedonia
ML MLI Mali
MM MMR Myanmar|Burma
MN MNG Mongolia
MO MAC Macao|Macau|Macao SAR|Macau SAR|中国澳门
MP MNP Northern Mariana Islands
MQ MTQ Martinique
MR MRT Mauritania
MS MSR Montserrat
MT MLT Malta
MU MUS Mauritius
MV MDV Maldives
MW MWI Malawi
MX MEX Mexico|México
MY MYS Malaysia
MZ MOZ Mozambique
NA NAM Namibia
NC NCL New Caledonia
NE NER Niger
NF NFK Norfolk Island
NG NGA Nigeria
NI NIC Nicaragua
NL NLD Netherlands|Nederland|Holland|Netherlands, Kingdom of the
NO NOR Norway|Norge
NP NPL Nepal
NR NRU Nauru
NU NIU Niue
NZ NZL New Zealand
OM OMN Oman
PA PAN Panama
PE PER Peru
PF PYF French Polynesia
PG PNG Papua New Guinea
PH PHL Philippines
PK PAK Pakistan
PL POL Poland|Polska
PM SPM Saint Pierre and Miquelon
PN PCN Pitcairn|Pitcairn Islands
PR PRI Puerto Rico
PS PSE Palestine|Palestine, State of|Palestinian Territories
PT PRT Portugal
PW PLW Palau
PY PRY Paraguay
QA QAT Qatar
RE REU Réunion
RO ROU Romania
RS SRB Serbia
RU RUS Russia|Russian Federation|Россия
RW RWA Rwanda
SA SAU Saudi Arabia
SB SLB Solomon Islands
SC SYC Seychelles
SD SDN Sudan
SE SWE Sweden|Sverige
SG SGP Singapore
SH SHN Saint Helena, Ascension and Tristan da Cunha|Saint Helena
SI SVN Slovenia
SJ SJM Svalbard and Jan Mayen
SK SVK Slovakia|Slovak Republic
SL SLE Sierra Leone
SM SMR San Marino
SN SEN Senegal
SO SOM Somalia
SR SUR Suriname
SS SSD South Sudan
ST STP Sao Tome and Principe
SV SLV El Salvador
SX SXM Sint Maarten|Sint Maarten (Dutch part)
SY SYR Syria|Syrian Arab Republic
SZ SWZ Eswatini|Swaziland
TC TCA Turks and Caicos Islands
TD TCD Chad
TF ATF French Southern Territories
TG TGO Togo
TH THA Thailand
TJ TJK Tajikistan
TK TKL Tokelau
TL TLS Timor-Leste|East Timor
TM TKM Turkmenistan
TN TUN Tunisia
TO TON Tonga
TR TUR Türkiye|Turkey|Turkiye
TT TTO Trinidad and Tobago
TV TUV Tuvalu
TW TWN Taiwan|Taiwan, Province of China|Chinese Taipei|中国台湾|台湾
TZ TZA Tanzania|Tanzania, United Republic of
UA UKR Ukraine
UG UGA Uganda
UM UMI United States Minor Outlying Islands
US USA United States|United States of America|U.S.A.|U.S.|美国
UY URY Uruguay
UZ UZB Uzbekistan
VA VAT Holy See|Vatican|Vatican City
VC VCT Saint Vincent and the Grenadines|St Vincent and the Grenadines
VE VEN Venezuela|Venezuela, Bolivarian Republic of
VG VGB British Virgin Islands|Virgin Islands, British
VI VIR U.S. Virgin Islands|Virgin Islands, U.S.|US Virgin Islands
VN VNM Viet Nam|Vietnam
VU VUT Vanuatu
WF WLF Wallis and Futuna
WS WSM Samoa
XK XKX Kosovo
YE YEM Yemen
YT MYT Mayotte
ZA ZAF South Africa
ZM ZMB Zambia
ZW ZWE Zimbabwe
"""

# Countries whose zone.tab rows disagree on the clock, but where one zone is the official time
# of (nearly) everyone, so a carrier's naive local time is read in it. The exception is named.
_PRIMARY_ZONE: dict[str, str] = {
    "CN": "Asia/Shanghai",  # Asia/Urumqi is Xinjiang's unofficial clock; Beijing time is legal
    "ES": "Europe/Madrid",  # all but the Canary Islands (about 5% of the population, UTC+0)
    "PT": "Europe/Lisbon",  # all but the Azores (about 2%, one hour behind)
    "EC": "America/Guayaquil",  # all but the Galápagos (about 0.2%)
    "NZ": "Pacific/Auckland",  # all but the Chatham Islands (about 600 people)
    "UA": "Europe/Kyiv",  # legal time; the Simferopol row is the occupation's Moscow clock
}

# Instants at which a country's zones must agree to count as one clock: winter and summer of
# recent years (after Kazakhstan's 2024 merge to one zone), fixed so the answer never depends
# on when the code runs.
_SAMPLES = tuple(
    datetime(year, month, 15, 12, tzinfo=UTC) for year in (2025, 2026) for month in (1, 7)
)


def _key(text: str) -> str:
    """Fold case, accents and punctuation: 'U.S.A.' -> 'usa', 'The Netherlands' -> 'netherlands'."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = "".join(ch if ch.isalnum() else " " for ch in bare.casefold()).split()
    if words and words[0] == "the":
        words = words[1:]
    return "".join(words)


def _parse(table: str) -> tuple[dict[str, str], dict[str, str]]:
    """Return (lookup key -> alpha-2, alpha-2 -> English name); refuse a key that means two."""
    lookup: dict[str, str] = {}
    names: dict[str, str] = {}
    for line in table.strip().splitlines():
        alpha2, alpha3, rest = line.split(" ", 2)
        aliases = rest.split("|")
        names.setdefault(alpha2, aliases[0])
        for spelling in (alpha2, alpha3, *aliases):
            key = _key(spelling)
            if lookup.setdefault(key, alpha2) != alpha2:
                raise ValueError(f"{spelling!r} names both {lookup[key]} and {alpha2}")
    return lookup, names


_LOOKUP, NAMES = _parse(_TABLE)
CODES: frozenset[str] = frozenset(NAMES)
"""Every alpha-2 code we know (ISO 3166-1 plus XK)."""


def iso2(value: str | None) -> str | None:
    """The ISO alpha-2 code for a code or a country name, or None when we cannot tell."""
    if not value:
        return None
    return _LOOKUP.get(_key(value))


def zone(country: str) -> str | None:
    """The IANA zone of a country that keeps one clock; None where it depends on the place."""
    return _single_zones().get(country.upper())


def zones(country: str) -> tuple[str, ...]:
    """Every zone tzdata lists for a country (empty for an unknown code)."""
    return _zone_rows().get(country.upper(), ())


@cache
def _zone_rows() -> dict[str, tuple[str, ...]]:
    """country -> its zones, from tzdata's zone.tab (one row per zone, main zone first)."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            fields = line.split("\t")
            rows.setdefault(fields[0], []).append(fields[2])
    return {country: tuple(found) for country, found in rows.items()}


@cache
def _single_zones() -> dict[str, str]:
    """country -> zone, for countries whose zones all show the same offsets (or one is official)."""
    single = {c: found[0] for c, found in _zone_rows().items() if _one_clock(found)}
    return single | _PRIMARY_ZONE


def _one_clock(names: tuple[str, ...]) -> bool:
    # Büsingen (DE) or Kuching (MY) are separate tz entries but keep the main zone's clock.
    offsets = {
        tuple(at.astimezone(ZoneInfo(name)).utcoffset() for at in _SAMPLES) for name in names
    }
    return len(offsets) == 1
