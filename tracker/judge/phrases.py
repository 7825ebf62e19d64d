"""Phrases that contradict a "delivered" code, kept as data.

Aggregators stamp some hand-overs with a delivered code while the text tells the truth
(17TRACK `Delivered_Other` with "Delivered to local carrier" / "Not delivered", carriers.md G4).
A phrase is matched case-insensitively on whitespace-collapsed text. Phrases are specific on
purpose: "handed over to the recipient" is a real delivery, so hand-overs are matched through
`HANDOVER` with the recipient-side words excluded.
"""

from __future__ import annotations

import re

PHRASES: dict[str, tuple[str, ...]] = {
    "en": (
        "not delivered",
        "not been delivered",
        "undelivered",
        "undeliverable",
        "could not be delivered",
        "unable to deliver",
        "returned to sender",
        "return to sender",
        "returning to sender",
        "delivery attempted",
        "attempted delivery",
        "to local carrier",
        "to the local carrier",
        "to last mile carrier",
        "to last-mile carrier",
        "to delivery partner",
        "unsuccessful",
        "delivery failed",
        "failed delivery",
        "failed to deliver",
        "refused by recipient",
    ),
    "nl": (
        "niet bezorgd",
        "niet afgeleverd",
        "kon niet worden bezorgd",
        "retour afzender",
        "terug naar afzender",
        "retour naar afzender",
        "bezorgpoging",
        "overgedragen aan",
    ),
    "de": (
        "nicht zugestellt",
        "konnte nicht zugestellt",
        "zustellversuch",
        "zustellung nicht möglich",
        "nicht erfolgreich",
        "rücksendung",
        "zurück an absender",
        "zurück an den absender",
        "an den absender zurück",
        "an den zustellpartner",
        "an lokalen zusteller",
        "an den lokalen zusteller",
        "an das lokale",
    ),
    "es": (
        "no entregado",
        "no se pudo entregar",
        "no ha sido entregado",
        "devuelto al remitente",
        "devolución al remitente",
        "intento de entrega",
        "entrega fallida",
        "entregado al transportista",
        "entregado a transportista local",
        "transportista local",
    ),
    "fr": (
        "non livré",
        "n'a pas pu être livré",
        "retour à l'expéditeur",
        "retourné à l'expéditeur",
        "tentative de livraison",
        "transporteur local",
    ),
    "zh": (
        "未妥投",
        "未签收",
        "未投递",
        "投递失败",
        "派送失败",
        "妥投失败",
        "尝试投递",
        "退回",
        "退件",
        "交给当地",
        "交付当地",
        "移交当地",
        "交航",
    ),
}

HANDOVER = re.compile(
    r"handed (?:over )?to (?!(?:the )?(?:recipient|addressee|consignee|receiver|customer|buyer"
    r"|neighbou?r|resident|owner))"
)
"""A hand-over to anyone but the recipient: "handed over to the airline / local carrier"."""

_SPACES = re.compile(r"\s+")


def normalised(text: str) -> str:
    return _SPACES.sub(" ", text.casefold()).strip()


def contradiction(text: str) -> str | None:
    """The first phrase in `text` that says the parcel was not delivered, or None."""
    clean = normalised(text)
    if not clean:
        return None
    for phrases in PHRASES.values():
        for phrase in phrases:
            if phrase in clean:
                return phrase
    found = HANDOVER.search(clean)
    return found.group(0).strip() if found else None
