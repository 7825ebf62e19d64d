from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.errors import InvalidTrackingNumber
from tracker.model import SOURCE_NAMES
from tracker.numbers import CHECKS, FORMATS, Hint, normalise, recognise, validate

# Test numbers (data, not code) from jkeen/tracking_number_data couriers/*.json test_numbers,
# read 2026-11 (s10.json, ups.json, fedex.json, usps.json, dhl.json, canadapost.json,
# yunexpress.json). Spaced variants are kept as published: normalise must read them.
VALID = [
    ("RB123456785GB", "s10", "royalmail"),
    ("RB123456785US", "s10", "usps"),
    ("RB123456785CV", "s10", "17track"),
    (" R B 1 2 3 4 5 6 7 8 5 C F ", "s10", "17track"),
    ("1Z5R89390357567127", "ups_1z", "ups"),
    ("1Z879E930346834440", "ups_1z", "ups"),
    ("1Z410E7W0392751591", "ups_1z", "ups"),
    ("1Z8V92A70367203024", "ups_1z", "ups"),
    ("986578788855", "fedex_12", "fedex"),
    ("477179081230", "fedex_12", "fedex"),
    ("799531274483", "fedex_12", "fedex"),
    (" 7 9 0 5 3 5 3 1 2 3 1 7 ", "fedex_12", "fedex"),
    ("974367662710", "fedex_12", "fedex"),
    ("0414 4176 0228 964", "fedex_15", "fedex"),
    ("5682 8361 0012 000", "fedex_15", "fedex"),
    ("5682 8361 0012 734", "fedex_15", "fedex"),
    ("9611020987654312345672", "fedex_96", "fedex"),
    ("1001921334250001000300779017972697", "fedex_34", "fedex"),
    ("1002297871540001000300790695517286", "fedex_34", "fedex"),
    ("9622001900000000000000776632517510", "fedex_34", "fedex"),
    ("9632001560123456789900794808390594", "fedex_34", "fedex"),
    ("61299998820821171811", "fedex_smartpost", "fedex"),
    ("9261292700768711948021", "usps_impb", "usps"),  # also SmartPost: an IMpb label
    ("420 22153 9101026837331000039521", "usps_impb", "usps"),
    ("4201002334249200190132607600833457", "usps_impb", "usps"),
    ("4201028200009261290113185417468510", "usps_impb", "usps"),
    ("9505 5110 6960 5048 6006 24", "usps_impb", "usps"),
    ("9101 1234 5678 9000 0000 13", "usps_impb", "usps"),
    ("92748931507708513018050063", "usps_impb", "usps"),
    ("9400 1112 0108 0805 4830 16", "usps_impb", "usps"),
    ("9361 2898 7870 0317 6337 95", "usps_impb", "usps"),
    ("9405803699300124287899", "usps_impb", "usps"),
    ("9400111206206406260787", "usps_impb", "usps"),  # carriers.md §6.1
    ("0307 1790 0005 2348 3741", "usps_20", "usps"),
    ("7112 3456 7891 2345 6787", "usps_20", "usps"),
    ("7196 9010 7560 0307 7385", "usps_20", "usps"),  # check over an implied "91"
    ("0073938000549297", "canadapost_16", "canadapost"),
    ("3318810025", "dhl_express", "dhl"),
    ("73891051146", "dhl_express", "dhl"),
    ("8487135506", "dhl_express", "dhl"),
    ("1099255990", "dhl_express", "dhl"),
    ("3821724944", "dhl_express", "dhl"),
    ("JJD0099999999", "dhl_piece", "dhl"),
    ("JVGL0999999990", "dhl_piece", "dhl"),
    ("GM2951173225174494", "dhl_ecommerce", "dhl"),
    ("GM 2 9 5 117 32 25 1 7 44 9 4", "dhl_ecommerce", "dhl"),
    ("GM295117494011169042", "dhl_ecommerce", "dhl"),
    ("YT2229521272164446", "yunexpress", "17track"),
    (" Y T 2 2 2 9 5 2 1 2 7 2 1 6 4 4 4 7 ", "yunexpress", "17track"),
]

# (number, format whose check digit fails). Same provenance.
BAD_CHECK = [
    ("RB123456786US", "s10"),
    ("1Z1111111111111111", "ups_1z"),
    ("9261292700768711948020", "usps_impb"),
    ("420000009200000000000000000000", "usps_impb"),
    ("9200000000000000000000", "usps_impb"),
]

# Generic digit shapes whose check fails: the format gives no hint at all (one in 7 to 11
# random numbers passes these checks, so a failure means "not this format").
NOT_THIS_FORMAT = [
    ("996578788855", "fedex_12"),
    ("5682 8361 0012 732", "fedex_15"),
    ("0307 1790 0005 2348 3742", "usps_20"),
    ("0073938000549292", "canadapost_16"),
    ("3318810010", "dhl_express"),
    ("3318810034", "dhl_express"),
    ("3318810011", "dhl_express"),
]

# Shapes no format of ours describes.
UNRECOGNISED = [
    "RB123456785XX",  # S10 shape, but XX is no country
    "2Z5R89390357567127",
    "XJD0099999998",
    "GS295117494011169041",
    "420000000000000000000000000000",  # a routing prefix without an IMpb body
]


def _by_source(number: str, destination: str | None = None) -> dict[str, Hint]:
    return {h.source: h for h in recognise(number, destination)}


@pytest.mark.parametrize(("number", "fmt", "source"), VALID)
def test_published_valid_numbers(number: str, fmt: str, source: str) -> None:
    normal = validate(number)
    hints = recognise(number)
    assert any(h.format == fmt and h.check_digit_ok is not False for h in hints), hints
    assert hints[0].check_digit_ok is not False
    assert _by_source(normal)[source].confidence >= 0.4
    if fmt in CHECKS:
        assert CHECKS[fmt](normal)


@pytest.mark.parametrize(("number", "fmt"), BAD_CHECK)
def test_bad_check_digit_is_a_weak_hint_not_a_refusal(number: str, fmt: str) -> None:
    assert validate(number) == normalise(number)  # formats are hints, never a veto
    hints = [h for h in recognise(number) if h.format == fmt]
    assert hints
    assert all(h.check_digit_ok is False and h.confidence < 0.3 for h in hints)


@pytest.mark.parametrize(("number", "fmt"), NOT_THIS_FORMAT)
def test_generic_shape_with_bad_check_gives_no_hint(number: str, fmt: str) -> None:
    validate(number)
    assert all(h.format != fmt for h in recognise(number))


@pytest.mark.parametrize("number", UNRECOGNISED)
def test_unrecognised_numbers_go_to_the_aggregators_only(number: str) -> None:
    hints = recognise(number)
    assert [h.source for h in hints] == ["17track", "aftership", "ship24"]
    assert all(h.format == "unrecognised" and h.confidence <= 0.2 for h in hints)


# -- UPU S10 -----------------------------------------------------------------------------------

S10_POSTS = [
    ("RB123456785US", "usps"),
    ("VV246813576CA", "canadapost"),
    ("LX555666772AU", "australiapost"),
    ("RB123456785GB", "royalmail"),
    ("CP111222332NL", "postnl"),
    ("EE123456785DE", "dhl"),
    ("LZ123456785CN", "cainiao"),
    ("UB987654326CN", "cainiao"),
]


@pytest.mark.parametrize(("number", "post"), S10_POSTS)
def test_s10_with_good_check_names_the_issuing_post_first(number: str, post: str) -> None:
    best = recognise(number)[0]
    assert (best.source, best.format, best.check_digit_ok) == (post, "s10", True)
    assert best.confidence >= 0.85


def test_s10_destination_post_is_added() -> None:
    hints = _by_source("LZ123456785CN", destination="Germany")
    assert hints["dhl"] == Hint("dhl", "s10", 0.85, True)
    assert hints["cainiao"].confidence == 0.85
    assert "usps" not in hints


def test_s10_unknown_destination_is_ignored() -> None:
    assert _by_source("LZ123456785CN", "Narnia").keys() == _by_source("LZ123456785CN").keys()


def test_s10_from_a_post_we_have_no_adapter_for() -> None:
    hints = recognise("RR000000014FR")
    assert hints[0] == Hint("17track", "s10", 0.85, True)
    assert _by_source("RR000000014FR", "NL")["postnl"].confidence == 0.85


def test_s10_is_stronger_than_a_loose_pattern() -> None:
    assert recognise("RB123456785GB")[0].confidence > recognise("LP00512345678901")[0].confidence
    assert recognise("LP00512345678901")[0].confidence > recognise("3318810025")[0].confidence


# -- other formats -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "source", "fmt"),
    [
        ("LP00512345678901", "cainiao", "cainiao_lp"),  # DESIGN.md's case example
        ("CAINIAO8812345678", "cainiao", "cainiao_named"),
        ("CN1234567890123", "cainiao", "cainiao_cn"),
        ("3SKAAG5995399", "postnl", "postnl_3s"),  # samples/aftership PostNL 3S
        ("3SDFC1234567890", "postnl", "postnl_3s"),
    ],
)
def test_patterns_without_check_digit(number: str, source: str, fmt: str) -> None:
    best = recognise(number)[0]
    assert (best.source, best.format, best.check_digit_ok) == (source, fmt, None)


def test_dhl_paket_sscc_checks_the_gs1_digit() -> None:
    assert recognise("00340434292135100186")[0] == Hint("dhl", "dhl_paket_sscc", 0.9, True)
    # DESIGN.md's illustrative 00340434161234567890 fails the GS1 check: a weak DHL hint.
    weak = _by_source("00340434161234567890")["dhl"]
    assert (weak.format, weak.check_digit_ok) == ("dhl_paket_sscc", False)


def test_yunexpress_goes_to_17track_then_cainiao() -> None:
    sources = [h.source for h in recognise("YT2229521272164446")]
    assert sources[0] == "17track"
    assert "cainiao" in sources


def test_cn_digits_are_cainiao_before_dhl_ecommerce() -> None:
    sources = [h.source for h in recognise("CN1234567890123")]
    assert sources.index("cainiao") < sources.index("dhl")


def test_impb_is_usps_before_fedex_smartpost() -> None:
    hints = _by_source("9261292700768711948021")
    assert hints["usps"].confidence > hints["fedex"].confidence > 0


# -- the shape of recognise's answer ----------------------------------------------------------


@pytest.mark.parametrize("number", [n for n, _, _ in VALID] + [n for n, _ in BAD_CHECK])
def test_hints_are_sorted_unique_and_named(number: str) -> None:
    hints = recognise(number)
    assert [h.confidence for h in hints] == sorted((h.confidence for h in hints), reverse=True)
    assert len({h.source for h in hints}) == len(hints)
    assert all(h.source in SOURCE_NAMES and 0 < h.confidence <= 1 for h in hints)
    assert {"17track", "aftership", "ship24"} <= {h.source for h in hints}


def test_every_check_names_a_format() -> None:
    assert set(CHECKS) <= {f.name for f in FORMATS} | {"s10"}


@pytest.mark.parametrize("junk", ["", "abc", "A" * 41, "RB12\x00345678", "１２３４５６７"])
def test_recognise_gives_nothing_for_invalid_input(junk: str) -> None:
    assert recognise(junk) == []


# -- normalise and validate --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("rb 123 456 785 gb", "RB123456785GB"),
        ("RB-123-456-785-GB", "RB123456785GB"),
        ("\tRB123456785GB\n", "RB123456785GB"),
        ("RB\u00a0123456785\u2010GB", "RB123456785GB"),  # no-break space, Unicode hyphen
        ("ＲＢ１２３４５６７８５ＧＢ", "RB123456785GB"),  # full width folds (validate refuses it)
        ("ｒｂ１２３　４５６－７８５ｇｂ", "RB123456785GB"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("rb 123 456 785 gb", "RB123456785GB"),
        ("1z5r-8939-0357-5671-27", "1Z5R89390357567127"),
        ("RB\u00a0123456785\u2013GB", "RB123456785GB"),
        ("A" * 40, "A" * 40),
        ("ABC123", "ABC123"),
    ],
)
def test_validate_returns_the_normalised_number(raw: str, expected: str) -> None:
    assert validate(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "is empty"),
        ("  - -  ", "is empty"),
        ("A" * 41, "too long (41 characters; at most 40)"),
        ("1" * 20 + " " * 200, "too long (220 characters"),
        ("ABC12", "too short (5 characters; at least 6)"),
        ("RB123\x00456785GB", "NUL"),
        ("RB123456785GB\x00", "NUL"),
        ("RB１２３４５６７８５GB", "non-ASCII character (U+FF11 FULLWIDTH DIGIT ONE)"),
        ("ＲＢ123456785GB", "non-ASCII character (U+FF32 FULLWIDTH LATIN CAPITAL LETTER R)"),
        ("RB123456785GБ", "non-ASCII character (U+0411 CYRILLIC CAPITAL LETTER BE)"),
        ("ᴿB123456785GB", "non-ASCII"),
        ("RB123456785GB\u202e", "control character (U+202E RIGHT-TO-LEFT OVERRIDE)"),
        ("\u200bRB123456785GB", "control character (U+200B ZERO WIDTH SPACE)"),
        ("RB123\x07456785GB", "control character (U+0007"),
        ("RB123\x1e456785GB", "control character (U+001E"),  # whitespace to str.isspace
        ("RB123\x85456785GB", "control character (U+0085"),
        ("RB123\u00ad456785GB", "control character (U+00AD SOFT HYPHEN)"),
        ("1Z' OR '1'='1", "other than A-Z and 0-9: \"'\" '='"),
        ("1Z5R8939; DROP TABLE parcels;--", "other than A-Z and 0-9: ';'"),
        ("RB123456785GB%", "'%'"),
        ("<script>1", "'<' '>'"),
    ],
)
def test_validate_refuses_with_a_message_naming_the_problem(raw: str, message: str) -> None:
    with pytest.raises(InvalidTrackingNumber) as caught:
        validate(raw)
    assert message in str(caught.value)
    assert caught.value.field == "tracking_number"


def test_refused_long_input_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidTrackingNumber) as caught:
        validate("X" * 10_000)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("value", [None, 123, b"RB123456785GB", ["RB123456785GB"]])
def test_validate_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidTrackingNumber, match="is a"):
        validate(value)  # type: ignore[arg-type]


# -- properties --------------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=80)
NUMBERISH = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcz0123456789 -\t\u00a0\u2010"), max_size=60
)


@given(ANY_TEXT)
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


@given(st.one_of(ANY_TEXT, NUMBERISH))
def test_validate_raises_only_invalid_tracking_number(text: str) -> None:
    try:
        result = validate(text)
    except InvalidTrackingNumber:
        return
    assert result == normalise(text)
    assert validate(result) == result
    assert result.isascii() and result.isalnum() and result.upper() == result
    assert 6 <= len(result) <= 40


@given(st.one_of(ANY_TEXT, NUMBERISH, st.from_regex(r"[A-Z]{2}[0-9]{9}[A-Z]{2}", fullmatch=True)))
def test_recognise_never_raises_and_answers_every_valid_number(text: str) -> None:
    hints = recognise(text, destination=text)
    try:
        validate(text)
    except InvalidTrackingNumber:
        return
    assert hints
    assert all(isinstance(h, Hint) and h.source in SOURCE_NAMES for h in hints)


@given(st.from_regex(r"[0-9]{6,40}", fullmatch=True))
def test_recognise_any_digit_string(digits: str) -> None:
    hints = recognise(digits)
    assert hints
    assert all(0 < h.confidence <= 1 for h in hints)
