"""The simulator's code tables: each canonical journey kind as every source really writes it.

Tables are data. Codes come from `shared/reference/carriers.md` (§1.4, §2.3, §3.2, §4.1, §4.4 and
the mapping tables of §10.3), so an adapter maps what the simulator renders to the canonical
status named here. `None` means the source does not report that kind of event at all (USPS
never sees Chinese export customs, say), and the renderer leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.model import Status


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    status: Status  # the canonical status an adapter should read from the aggregators' codes
    leg: str  # "origin" or "destination": where the event happens when no location is given
    text: str  # default description (English, as the aggregators print it)
    t17: tuple[str, str, str | None]  # 17TRACK (status, sub_status, milestone stage)
    cainiao: str  # Cainiao actionCode
    cainiao_status: str  # Cainiao's loose parcel-level status token
    aftership: tuple[str, str, str]  # AfterShip (tag, subtag, subtag_message)
    usps: tuple[str, str] | None  # USPS v3 (eventCode, eventType)
    dhl: str | None  # DHL Unified statusCode


_S = Status
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "info_received",
            _S.PRE_TRANSIT,
            "origin",
            "Order information received",
            ("InfoReceived", "InfoReceived", "InfoReceived"),
            "GWMS_ACCEPT",
            "WAIT_ACCEPT",
            ("InfoReceived", "InfoReceived_001", "Info Received"),
            None,
            "pre-transit",
        ),
        Kind(
            "accepted",
            _S.IN_TRANSIT,
            "origin",
            "Parcel picked up by the carrier",
            ("InTransit", "InTransit_PickedUp", "PickedUp"),
            "PU_PICKUP_SUCCESS",
            "TRANSPORT",
            ("InTransit", "InTransit_002", "Acceptance scan"),
            None,
            "transit",
        ),
        Kind(
            "origin_facility",
            _S.IN_TRANSIT,
            "origin",
            "Arrived at sorting center",
            ("InTransit", "InTransit_Other", None),
            "SC_INBOUND_SUCCESS",
            "TRANSPORT",
            ("InTransit", "InTransit_003", "Arrival scan"),
            None,
            "transit",
        ),
        Kind(
            "export_customs_cleared",
            _S.IN_TRANSIT,
            "origin",
            "Export customs clearance complete",
            ("InTransit", "InTransit_Other", None),
            "CC_EX_SUCCESS",
            "TRANSPORT",
            ("InTransit", "InTransit_001", "In Transit"),
            None,
            "transit",
        ),
        Kind(
            "departed_origin",
            _S.IN_TRANSIT,
            "origin",
            "Departed from departure country",
            ("InTransit", "InTransit_Departure", "Departure"),
            "LH_DEPART",
            "TRANSPORT",
            ("InTransit", "InTransit_007", "Departure Scan"),
            None,
            "transit",
        ),
        Kind(
            "arrived_destination",
            _S.IN_TRANSIT,
            "destination",
            "Arrived at destination country",
            ("InTransit", "InTransit_Arrival", "Arrival"),
            "LH_ARRIVE",
            "TRANSPORT",
            ("InTransit", "InTransit_004", "Arrived at destination country"),
            None,
            "transit",
        ),
        Kind(
            "import_customs_processing",
            _S.IN_TRANSIT,
            "destination",
            "Import customs clearance started",
            ("InTransit", "InTransit_CustomsProcessing", None),
            "CC_IM_START",
            "CLEAR_CUSTOMS",
            ("InTransit", "InTransit_006", "Customs clearance started"),
            None,
            "transit",
        ),
        Kind(
            "import_customs_released",
            _S.IN_TRANSIT,
            "destination",
            "Import customs clearance complete",
            ("InTransit", "InTransit_CustomsReleased", None),
            "CC_IM_SUCCESS",
            "CLEAR_CUSTOMS",
            ("InTransit", "InTransit_005", "Customs clearance completed"),
            None,
            "transit",
        ),
        Kind(
            "held_customs",
            _S.EXCEPTION,
            "destination",
            "Held by customs, information required",
            ("InTransit", "InTransit_CustomsRequiringInformation", None),
            "CC_IM_FAILURE",
            "CLEAR_CUSTOMS",
            ("Exception", "Exception_018", "Incorrect or missing documents"),
            None,
            "failure",
        ),
        Kind(
            "handed_to_last_mile",
            _S.IN_TRANSIT,
            "destination",
            "Handed over to local carrier",
            ("InTransit", "InTransit_Other", None),
            "GTMS_ACCEPT",
            "TRANSPORT",
            ("InTransit", "InTransit_001", "In Transit"),
            ("03", "USPS in possession of item"),
            "transit",
        ),
        Kind(
            "facility_arrival",
            _S.IN_TRANSIT,
            "destination",
            "Arrived at local delivery center",
            ("InTransit", "InTransit_Other", None),
            "GTMS_SC_ARRIVE",
            "TRANSPORT",
            ("InTransit", "InTransit_003", "Arrival scan"),
            ("10", "Processed through USPS Regional Facility"),
            "transit",
        ),
        Kind(
            "facility_departure",
            _S.IN_TRANSIT,
            "destination",
            "Departed local delivery center",
            ("InTransit", "InTransit_Other", None),
            "GTMS_SC_DEPART",
            "TRANSPORT",
            ("InTransit", "InTransit_007", "Departure Scan"),
            ("EF", "Departed USPS Regional Facility"),
            "transit",
        ),
        Kind(
            "out_for_delivery",
            _S.OUT_FOR_DELIVERY,
            "destination",
            "Out for delivery",
            ("OutForDelivery", "OutForDelivery_Other", "OutForDelivery"),
            "GTMS_DELIVERING",
            "DELIVERING",
            ("OutForDelivery", "OutForDelivery_001", "Out for Delivery"),
            ("OF", "Out for Delivery"),
            "transit",
        ),
        Kind(
            "delivery_attempted",
            _S.DELIVERY_ATTEMPTED,
            "destination",
            "Delivery attempted, recipient not available",
            ("DeliveryFailure", "DeliveryFailure_NoBody", None),
            "GTMS_DEL_FAILURE",
            "DELIVERING",
            ("AttemptFail", "AttemptFail_002", "Addressee not available"),
            ("02", "Notice Left (No Authorized Recipient Available)"),
            "failure",
        ),
        Kind(
            "station_signed",
            _S.AVAILABLE_FOR_PICKUP,
            "destination",
            "Signed for by pickup station, awaiting collection",
            ("AvailableForPickup", "AvailableForPickup_Other", "AvailableForPickup"),
            "GTMS_STA_SIGNED",
            "WAIT_SELF_PICK",
            ("AvailableForPickup", "AvailableForPickup_001", "Available for pickup"),
            ("16", "Available for Pickup"),
            "transit",
        ),
        Kind(
            "delivered",
            _S.DELIVERED,
            "destination",
            "Delivered",
            ("Delivered", "Delivered_Other", "Delivered"),
            "GTMS_SIGNED",
            "SIGN",
            ("Delivered", "Delivered_001", "Delivered"),
            ("01", "Delivered, In/At Mailbox"),
            "delivered",
        ),
        Kind(
            "picked_up_by_recipient",
            _S.DELIVERED,
            "destination",
            "Collected by the recipient at the pickup point",
            ("Delivered", "Delivered_Other", "Delivered"),
            "GSTA_BUYER_SIGN",
            "SIGN",
            ("Delivered", "Delivered_002", "Picked up by customer"),
            ("01", "Delivered, Individual Picked Up at Post Office"),
            "delivered",
        ),
        Kind(
            "returning",
            _S.RETURNING,
            "destination",
            "Returning to sender",
            ("Exception", "Exception_Returning", "Returning"),
            "RT_INBOUND",
            "RETURNING",
            ("Exception", "Exception_010", "Returning to sender"),
            ("09", "Return to Sender Processed"),
            "failure",
        ),
        Kind(
            "returned",
            _S.RETURNED,
            "origin",
            "Returned to sender",
            ("Exception", "Exception_Returned", "Returned"),
            "RETURNED",
            "RETURNED",
            ("Exception", "Exception_011", "Returned to sender"),
            None,
            None,
        ),
        Kind(
            "lost",
            _S.FAILED,
            "destination",
            "Parcel lost",
            ("Exception", "Exception_Lost", None),
            "EXCEPTION",
            "EXCEPTION",
            ("Exception", "Exception_013", "Lost"),
            None,
            "failure",
        ),
    )
}

# ISO 3166 alpha-2 -> (alpha-3, English name, a representative IANA zone). The zone gives
# events a real local wall clock and offset (with DST), so a source that prints only local
# time can be read back through the same zone.
COUNTRIES: dict[str, tuple[str, str, str]] = {
    "CN": ("CHN", "China", "Asia/Shanghai"),
    "HK": ("HKG", "Hong Kong", "Asia/Hong_Kong"),
    "US": ("USA", "United States", "America/New_York"),
    "CA": ("CAN", "Canada", "America/Toronto"),
    "MX": ("MEX", "Mexico", "America/Mexico_City"),
    "BR": ("BRA", "Brazil", "America/Sao_Paulo"),
    "CL": ("CHL", "Chile", "America/Santiago"),
    "GB": ("GBR", "United Kingdom", "Europe/London"),
    "IE": ("IRL", "Ireland", "Europe/Dublin"),
    "DE": ("DEU", "Germany", "Europe/Berlin"),
    "FR": ("FRA", "France", "Europe/Paris"),
    "ES": ("ESP", "Spain", "Europe/Madrid"),
    "PT": ("PRT", "Portugal", "Europe/Lisbon"),
    "IT": ("ITA", "Italy", "Europe/Rome"),
    "NL": ("NLD", "Netherlands", "Europe/Amsterdam"),
    "BE": ("BEL", "Belgium", "Europe/Brussels"),
    "AT": ("AUT", "Austria", "Europe/Vienna"),
    "CH": ("CHE", "Switzerland", "Europe/Zurich"),
    "PL": ("POL", "Poland", "Europe/Warsaw"),
    "CZ": ("CZE", "Czechia", "Europe/Prague"),
    "SE": ("SWE", "Sweden", "Europe/Stockholm"),
    "UA": ("UKR", "Ukraine", "Europe/Kyiv"),
    "RU": ("RUS", "Russia", "Europe/Moscow"),
    "TR": ("TUR", "Turkey", "Europe/Istanbul"),
    "IL": ("ISR", "Israel", "Asia/Jerusalem"),
    "AE": ("ARE", "United Arab Emirates", "Asia/Dubai"),
    "SA": ("SAU", "Saudi Arabia", "Asia/Riyadh"),
    "IN": ("IND", "India", "Asia/Kolkata"),
    "SG": ("SGP", "Singapore", "Asia/Singapore"),
    "JP": ("JPN", "Japan", "Asia/Tokyo"),
    "KR": ("KOR", "South Korea", "Asia/Seoul"),
    "AU": ("AUS", "Australia", "Australia/Sydney"),
    "NZ": ("NZL", "New Zealand", "Pacific/Auckland"),
}

# The sources the simulator speaks, and whether each is an aggregator (sees the whole
# journey under the marketplace number) or a carrier (sees its own country's leg only).
SIM_SOURCES: dict[str, str] = {
    "17track": "aggregator",
    "aftership": "aggregator",
    "cainiao": "aggregator",
    "usps": "carrier",
    "dhl": "carrier",
}

# 17TRACK carrier keys and AfterShip slugs for the carriers a simulated parcel may name.
CARRIERS: dict[str, tuple[int, str, str]] = {
    # name: (17TRACK key, AfterShip slug, display name)
    "cainiao": (190271, "cainiao", "Cainiao"),
    "china-post": (3011, "china-post", "China Post"),
    "yanwen": (190012, "yanwen", "Yanwen"),
    "usps": (21051, "usps", "USPS"),
    "dhl": (100001, "dhl", "DHL"),
    "postnl": (14041, "postnl-3s", "PostNL International"),
    "deutsche-post": (7041, "deutsch-post", "Deutsche Post"),
    "la-poste": (6051, "la-poste-colissimo", "La Poste"),
    "royal-mail": (11031, "royal-mail", "Royal Mail"),
    "correos": (19081, "spain-correos-es", "Correos"),
}


def reports(source: str, kind: Kind) -> bool:
    """Whether `source` has a code for this kind of event at all."""
    if source == "usps":
        return kind.usps is not None
    if source == "dhl":
        return kind.dhl is not None
    return True
