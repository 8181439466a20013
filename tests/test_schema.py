"""The export's names and codes: columns, rates, problem codes and the error catalogue."""

from __future__ import annotations

from connectly_nb.schema import (
    COUNT_COLUMNS,
    ERROR_CATALOGUE,
    EXPORT_COLUMNS,
    NO_CODE,
    PROBLEM_CODES,
    RATES,
    REQUIRED_COLUMNS,
    SEVERITIES,
    STAGE_FLAGS,
    UNKNOWN,
    ErrorInfo,
    describe_error,
)


def test_the_export_has_fifteen_columns_and_the_required_ones_among_them():
    assert len(EXPORT_COLUMNS) == len(set(EXPORT_COLUMNS)) == 15
    assert set(REQUIRED_COLUMNS) <= set(EXPORT_COLUMNS)
    assert ("rows", *STAGE_FLAGS) == COUNT_COLUMNS


def test_every_rate_names_counts_of_the_funnel():
    for num, den in RATES.values():
        assert num in COUNT_COLUMNS
        assert den in COUNT_COLUMNS


def test_every_problem_code_has_a_known_severity_and_a_meaning():
    for code, info in PROBLEM_CODES.items():
        assert info.code == code
        assert info.severity in SEVERITIES
        assert info.description


def test_describe_error_for_a_known_code():
    info = describe_error("131026")
    assert info == ErrorInfo(
        "131026",
        "Message undeliverable",
        "recipient",
        "not at once; suppress after repeats",
        "after repeats",
        "WhatsApp could not reach these numbers; stop messaging a number after repeated "
        "failures (the suppression list does it).",
        False,
    )
    assert not info.fixable
    assert describe_error(" 131026 ") == info  # written with spaces
    assert describe_error("131049").category == "recipient/policy"
    assert describe_error("ERROR_CODE_MESSAGE_CUSTOMER_OPTED_OUT").title == "Customer opted out"


def test_describe_error_never_guesses_an_unknown_code():
    info = describe_error("131099")  # looks like Meta's, is not in the catalogue
    assert (info.code, info.title, info.category, info.retry, info.suppress) == (
        "131099",
        UNKNOWN,
        UNKNOWN,
        UNKNOWN,
        "",
    )
    assert describe_error(None).title == UNKNOWN
    assert describe_error(None).code == ""


def test_describe_error_of_a_failure_without_a_code():
    info = describe_error(NO_CODE)
    assert NO_CODE == "(no code)"
    assert info.code == "(no code)"
    assert info.title == "no code given (see the error message)"
    assert (info.category, info.retry) == (UNKNOWN, UNKNOWN)


def test_suppress_flags_of_opt_out_and_undeliverable_codes():
    assert ERROR_CATALOGUE["131050"].suppress == "always"
    assert ERROR_CATALOGUE["ERROR_CODE_MESSAGE_CUSTOMER_OPTED_OUT"].suppress == "always"
    assert ERROR_CATALOGUE["131026"].suppress == "after repeats"
    assert ERROR_CATALOGUE["131049"].suppress == ""  # Meta's choice: try again later
    flagged = {c for c, info in ERROR_CATALOGUE.items() if info.suppress}
    assert flagged == {
        "131050",
        "ERROR_CODE_MESSAGE_CUSTOMER_OPTED_OUT",
        "131026",
        "1013",
        "ERROR_CODE_PHONE_NUMBER_BAD_FORMAT",
    }


def test_catalogue_categories_are_the_five_known_ones():
    known = {"recipient", "business-template", "rate-limit", "system", "policy"}
    for code, info in ERROR_CATALOGUE.items():
        assert info.code == code
        assert set(info.category.split("/")) <= known, code


def test_table_schemas_are_what_a_load_gives(sample):
    # the cache checks what it reads back against TABLE_SCHEMAS (issue 14, item 20)
    from connectly_nb.cache import _family
    from connectly_nb.schema import TABLE_SCHEMAS

    for name, columns in TABLE_SCHEMAS.items():
        frame = getattr(sample, name)
        assert list(frame.columns[: len(columns)]) == list(columns), name
        assert {c: _family(frame[c].dtype) for c in columns} == columns, name


def test_every_catalogued_code_says_what_to_do_and_template_codes_are_fixable():
    # review: the report pasted the retry column ("what to do: no.") as advice
    for code, info in ERROR_CATALOGUE.items():
        assert info.advice.endswith("."), code
        assert len(info.advice) > 25, code
        if info.template:
            assert info.fixable, code
            assert info.category.startswith(("business-template", "policy")), code
    assert describe_error("999999").advice  # an unknown code says where to look
    assert {c for c, i in ERROR_CATALOGUE.items() if i.template} >= {"132000", "132001", "132016"}
    assert not ERROR_CATALOGUE["131047"].template  # the 24 h window: a rule, not the template
