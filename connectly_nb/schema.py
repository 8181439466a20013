"""Names, types and codes of a Connectly campaign export, written down once.

Everything else in the package refers to the constants here: the 15 export
columns and which of them are required, the derived columns of
``Export.messages``, the problem codes with their severities, and the
WhatsApp / Connectly error-code catalogue of DESIGN.md section 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# --------------------------------------------------------------------------- columns

ID_COLUMNS: Final = (
    "customer_external_id",
    "business_id",
    "campaign_name",
    "sendout_id",
    "cnt_session_id",
)
TIMESTAMP_COLUMNS: Final = ("sent_at", "delivered_at", "read_at", "opt_out_at")
ERROR_COLUMNS: Final = ("error_code", "error_msg")
#: A customer id Excel rewrote as a number (``5.51199E+12``, ``5511987654321.0``): the
#: phone number cannot be recovered, and different customers may share the text.
MANGLED_ID: Final = r"^\s*[+-]?(\d+[.,]?\d*[eE][+-]?\d+|\d+\.0+)\s*$"
CLICK_COLUMNS: Final = ("button_clicks", "link_clicks")
VARIABLE_COLUMNS: Final = ("input_variables", "output_variables")

#: The 15 columns of the export, in the order the vendor documents.
EXPORT_COLUMNS: Final = (
    *ID_COLUMNS,
    *TIMESTAMP_COLUMNS,
    *ERROR_COLUMNS,
    *CLICK_COLUMNS,
    *VARIABLE_COLUMNS,
)


def column_key(name: str) -> str:
    """How a header field is matched to a column: no BOM, quotes or outer spaces, lower case.

    Parameters
    ----------
    name : str
        A field of a file's first line, as written.

    Returns
    -------
    str
        The text compared with :data:`EXPORT_COLUMNS` (inner spaces become ``_``).

    Examples
    --------
    >>> column_key(' "Campaign Name" ')
    'campaign_name'
    """
    return name.replace("\ufeff", "").strip().strip('"').strip().lower().replace(" ", "_")


#: Columns without which a file is not a campaign export.
REQUIRED_COLUMNS: Final = ("customer_external_id", "campaign_name", "sendout_id", "sent_at")

#: Columns stored as pandas categoricals (few distinct values, many rows).
CATEGORICAL_COLUMNS: Final = ("business_id", "campaign_name", "sendout_id", "error_code")

#: Click kinds and the export column each comes from.
CLICK_KINDS: Final = {"button": "button_clicks", "link": "link_clicks"}

#: Funnel stages, in order; ``stage`` on messages is the furthest one reached.
STAGES: Final = ("not_sent", "sent", "delivered", "read", "clicked")

#: What a funnel counts, in funnel order, and the boolean column of
#: ``Export.messages`` behind each count (DESIGN.md section 2).
STAGE_FLAGS: Final = {
    "sent": "is_sent",
    "delivered": "is_delivered",
    "read": "is_read",
    "clicked": "is_clicked",
    "failed": "is_failed",
    "opted_out": "is_opted_out",
}

#: Derived boolean columns of ``Export.messages``.
FLAG_COLUMNS: Final = tuple(STAGE_FLAGS.values())

#: Count columns of a funnel: all rows, then each stage.
COUNT_COLUMNS: Final = ("rows", *STAGE_FLAGS)

#: Each rate and its (numerator, denominator); the rate always names both.
RATES: Final = {
    "delivery_rate": ("delivered", "sent"),
    "read_rate": ("read", "delivered"),
    "click_rate": ("clicked", "delivered"),
    "click_to_read": ("clicked", "read"),
    "opt_out_rate": ("opted_out", "delivered"),
    "failure_rate": ("failed", "rows"),
}

#: Rates of the counts a funnel adds when asked (``conversions=``, ``negatives=``).
CLICK_SET_RATES: Final = {
    "conversion_rate": ("converted", "delivered"),
    "negative_rate": ("negative", "delivered"),
}

#: Every rate a result frame can hold, with its (numerator, denominator).
ALL_RATES: Final = {**RATES, **CLICK_SET_RATES}

#: When a message reached a stage: the ``Export.messages`` column holding the instant.
EVENT_TIMES: Final = {
    "sent": "sent_at",
    "delivered": "delivered_at",
    "read": "read_at",
    "clicked": "first_click_at",
    "opted_out": "opt_out_at",
}

#: Time from ``sent_at`` to a stage: the ``Export.messages`` column holding it.
LATENCY_COLUMNS: Final = {
    "delivered": "time_to_deliver",
    "read": "time_to_read",
    "clicked": "time_to_first_click",
}

#: Other derived columns of ``Export.messages``.
DERIVED_COLUMNS: Final = (
    *FLAG_COLUMNS,
    "stage",
    "n_button_clicks",
    "n_link_clicks",
    "n_clicks",
    "first_click_at",
    "time_to_deliver",
    "time_to_read",
    "time_to_first_click",
    "source",
    "line",
)

CLICK_TABLE_COLUMNS: Final = ("message_id", "kind", "id", "name", "ts", "source", "line")
VARIABLE_TABLE_COLUMNS: Final = ("message_id", "direction", "key", "value", "source", "line")
PROBLEM_TABLE_COLUMNS: Final = (
    "source",
    "line",
    "column",
    "value",
    "problem",
    "severity",
    "message",
    "message_id",
)
ACCOUNTING_COLUMNS: Final = (
    "source",
    "records_read",
    "rows_kept",
    "duplicates_merged",
    "records_swallowed",
    "repeated_headers",
    "blank_lines",
    "encoding",
    "delimiter",
    "parser",
    "as_of",
)

SEVERITIES: Final = ("error", "warning", "info")

#: The dtype family of every column of each table of an Export ("text", "category",
#: "datetime" (tz-aware), "timedelta", "bool", "int"). The Parquet cache checks what it
#: reads back against it; messages may have extra text columns after these.
TABLE_SCHEMAS: Final = {
    "messages": {
        **dict.fromkeys(EXPORT_COLUMNS, "text"),
        **dict.fromkeys(CATEGORICAL_COLUMNS, "category"),
        **dict.fromkeys(TIMESTAMP_COLUMNS, "datetime"),
        **dict.fromkeys(FLAG_COLUMNS, "bool"),
        "stage": "category",
        **dict.fromkeys(("n_button_clicks", "n_link_clicks", "n_clicks"), "int"),
        "first_click_at": "datetime",
        **dict.fromkeys(("time_to_deliver", "time_to_read", "time_to_first_click"), "timedelta"),
        "source": "category",
        "line": "int",
    },
    "clicks": dict(
        zip(
            CLICK_TABLE_COLUMNS,
            ("int", "category", "text", "text", "datetime", "category", "int"),
            strict=True,
        )
    ),
    "variables": dict(
        zip(
            VARIABLE_TABLE_COLUMNS,
            ("int", "category", "category", "text", "category", "int"),
            strict=True,
        )
    ),
    "problems": dict(
        zip(
            PROBLEM_TABLE_COLUMNS,
            ("category", "int", "text", "text", "category", "category", "text", "int"),
            strict=True,
        )
    ),
    "accounting": {
        **dict.fromkeys(ACCOUNTING_COLUMNS, "int"),
        **dict.fromkeys(("source", "encoding", "delimiter", "parser"), "text"),
        "as_of": "datetime",
    },
}

# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class ProblemCode:
    """A kind of data problem: its code, severity and what it means.

    Parameters
    ----------
    code : str
        The code shown in ``Export.problems["problem"]`` (``"bad_json"``).
    severity : {"error", "warning", "info"}
        One of :data:`SEVERITIES`.
    description : str
        What the problem means and what was done about it, in plain words.
    """

    code: str
    severity: str
    description: str


PROBLEM_CODES: Final = {
    p.code: p
    for p in (
        ProblemCode(
            "not_utf8",
            "warning",
            "line not UTF-8, decoded as Windows-1252 (or a UTF-16 file, decoded)",
        ),
        ProblemCode("extra_column", "info", "column not in the export format; kept as text"),
        ProblemCode("renamed_column", "info", "header matched after trimming spaces or case"),
        ProblemCode(
            "duplicate_column", "warning", "column name repeated; later copy kept as extra"
        ),
        ProblemCode("missing_column", "warning", "optional column absent; added as empty"),
        ProblemCode("repeated_header", "info", "header line repeated inside the file; skipped"),
        ProblemCode("blank_lines", "info", "lines without any value; skipped"),
        ProblemCode(
            "wrong_field_count", "error", "record has more or fewer fields than the header"
        ),
        ProblemCode(
            "runaway_quote",
            "error",
            "a quoted field runs over line breaks and holds whole records (a stray quote); "
            "those records are counted as swallowed, not read",
        ),
        ProblemCode("missing_value", "warning", "required value is blank"),
        ProblemCode("mangled_id", "warning", "id looks rewritten by Excel; cannot be recovered"),
        ProblemCode(
            "bad_timestamp",
            "warning",
            "timestamp cannot be parsed, or is before 2000 or after 2099; treated as absent",
        ),
        ProblemCode("bad_json", "warning", "cell is not valid JSON; treated as empty"),
        ProblemCode("bad_click", "warning", "click entry is not a JSON object; ignored"),
        ProblemCode(
            "event_without_sent",
            "warning",
            "delivered, read, clicked or opted out without a readable sent_at; counted as sent",
        ),
        ProblemCode("too_large", "warning", "cell exceeds the size or nesting limit; ignored"),
        ProblemCode("merged_duplicate", "info", "record repeats a message; merged into it"),
        ProblemCode(
            "not_merged",
            "warning",
            "record may repeat a message, but its id was mangled by Excel; kept apart",
        ),
        ProblemCode(
            "renamed_value",
            "info",
            "name written in Unicode's decomposed form; read as the composed one",
        ),
        ProblemCode("similar_names", "info", "names that differ only in letter case; kept apart"),
    )
}

# ------------------------------------------------------------------- error catalogue

ERROR_CATEGORIES: Final = {
    "R": "recipient",
    "B": "business-template",
    "L": "rate-limit",
    "M": "system",
    "P": "policy",
}


@dataclass(frozen=True)
class ErrorInfo:
    """What an error code means, per Meta's reference (DESIGN.md section 3).

    Parameters
    ----------
    code : str
        The error code as written in the export.
    title : str
        What the code means, in a few words.
    category : str
        One or two of ``"recipient"``, ``"business-template"``,
        ``"rate-limit"``, ``"system"`` and ``"policy"``, joined by ``/``
        (``"recipient/policy"``); ``"unknown"`` for a code not catalogued.
    retry : str
        Whether and when to send again.
    suppress : {"", "always", "after repeats"}, default ""
        Whether to stop messaging the customer: always (never message
        again), after repeated failures, or no reason to suppress.
    advice : str, default ""
        What to do about it, in a sentence a marketing manager can act on.
    template : bool, default False
        The failure is the template's (its text, parameters, media or
        status): fixed by editing the template.
    """

    code: str
    title: str
    category: str
    retry: str
    #: "always" (never message again), "after repeats", or "" (no reason to suppress)
    suppress: str = ""
    advice: str = ""
    template: bool = False

    @property
    def fixable(self) -> bool:
        """Whether the business can fix the cause (its template, account, setup or pace).

        Decided by the code's first category. Recipients' failures (a phone
        off WhatsApp, an opt-out) are handled by the suppression list, system
        failures by sending again.
        """
        return self.category.split("/")[0] in ("business-template", "policy", "rate-limit")


#: (code, title, category letters, retry advice), from DESIGN.md section 3.
_CATALOGUE_ROWS: list[tuple[str, str, str, str]] = [
    ("131026", "Message undeliverable", "R", "not at once; suppress after repeats"),
    ("131047", "Re-engagement message (24 h window closed)", "B", "no; send a template"),
    ("131049", "Meta chose not to deliver (marketing limit)", "R/P", "after 24 h or more"),
    ("131050", "User stopped marketing messages", "R", "never: treat as an opt-out"),
    ("130472", "Number is part of an experiment", "R/P", "no"),
    ("131000", "Something went wrong", "M", "yes; ticket if it persists"),
    ("131048", "Spam rate limit hit", "P/L", "not soon"),
    ("130429", "Rate limit hit", "L", "yes, back off"),
    ("131016", "Service unavailable", "M", "yes"),
    ("131021", "Recipient cannot be sender", "B", "no"),
    ("131031", "Account has been locked", "P", "no"),
    ("131042", "Business eligibility payment issue", "B", "after fixing billing"),
    ("131051", "Unsupported message type", "B", "no"),
    ("131053", "Media upload error", "B", "after fixing the media"),
    ("132000", "Template parameter count mismatch", "B", "no"),
    ("132001", "Template does not exist", "B", "no"),
    ("132005", "Template hydrated text too long", "B", "no"),
    ("132007", "Template format character policy violated", "B/P", "no"),
    ("132012", "Template parameter format mismatch", "B", "no"),
    ("132015", "Template is paused", "P", "later"),
    ("132016", "Template is disabled", "P", "no; new template"),
    ("132068", "Flow is blocked", "B", "no"),
    ("132069", "Flow is throttled", "L", "later"),
    ("133010", "Phone number not registered", "B", "no"),
    ("130497", "Business restricted from messaging this country", "P", "no"),
    ("368", "Temporarily blocked for policy violations", "P", "no"),
    ("470", "Re-engagement message (On-Premises)", "B", "no"),
    ("1013", "User is not valid (On-Premises)", "R", "no"),
]
_CATALOGUE_ROWS += [
    (c, "Authentication or permission problem", "B", "no; fix access")
    for c in ("0", "3", "10", "131005")
]
_CATALOGUE_ROWS += [(c, "Unknown or service error", "M", "maybe") for c in ("1", "2", "135000")]
_CATALOGUE_ROWS += [(c, "API call or account rate limit", "L", "later") for c in ("4", "80007")]
_CATALOGUE_ROWS += [
    (c, "Invalid or missing parameter", "B", "no") for c in ("100", "131008", "131009")
]
_CATALOGUE_ROWS += [
    ("ERROR_CODE_MESSAGE_CUSTOMER_OPTED_OUT", "Customer opted out", "R", "never"),
    (
        "ERROR_CODE_BUSINESS_REACHED_LIMITS",
        "Business reached its messaging limits",
        "L",
        "later",
    ),
    (
        "ERROR_CODE_MESSAGE_OUTSIDE_OF_ELIGIBILITY_WINDOW",
        "Outside the 24 h eligibility window",
        "B",
        "no; send a template",
    ),
    ("ERROR_CODE_MESSAGE_TEMPLATE_NOT_FOUND", "Template not found", "B", "no"),
    (
        "ERROR_CODE_PHONE_NUMBER_BAD_FORMAT",
        "Phone number badly formatted",
        "R",
        "no; fix the number",
    ),
]


def _catalogue() -> dict[str, ErrorInfo]:
    out = {}
    for code, title, cat, retry in _CATALOGUE_ROWS:
        category = "/".join(ERROR_CATEGORIES[c] for c in cat.split("/"))
        advice = _ADVICE.get(code) or _ADVICE_BY_CATEGORY[cat.split("/")[0]]
        out[code] = ErrorInfo(
            code, title, category, retry, _SUPPRESS.get(code, ""), advice, code in _TEMPLATE
        )
    return out


#: Codes after which a customer should not be messaged again (DESIGN.md section 3).
_SUPPRESS = {
    "131050": "always",  # user stopped marketing messages: treat as an opt-out
    "ERROR_CODE_MESSAGE_CUSTOMER_OPTED_OUT": "always",
    "131026": "after repeats",  # undeliverable: suppress after repeated failures
    "1013": "after repeats",  # user is not valid (On-Premises)
    "ERROR_CODE_PHONE_NUMBER_BAD_FORMAT": "after repeats",
}


#: Codes whose cause is the template (its text, parameters, media or status).
_TEMPLATE = {
    "131051",
    "131053",
    "132000",
    "132001",
    "132005",
    "132007",
    "132012",
    "132015",
    "132016",
    "ERROR_CODE_MESSAGE_TEMPLATE_NOT_FOUND",
}

_WINDOW = (
    "Outside the 24-hour customer service window only an approved template can be "
    "sent: send this message as a template."
)
_UNREACHABLE = (
    "WhatsApp could not reach these numbers; stop messaging a number after repeated "
    "failures (the suppression list does it)."
)
#: What to do, per code, in a sentence for a marketing manager.
_ADVICE = {
    "131026": _UNREACHABLE,
    "1013": _UNREACHABLE,
    "131047": _WINDOW,
    "470": _WINDOW,
    "ERROR_CODE_MESSAGE_OUTSIDE_OF_ELIGIBILITY_WINDOW": _WINDOW,
    "131049": (
        "Meta held these marketing messages back to keep people from receiving too many: "
        "do not resend within 24 hours, and send fewer marketing messages per person."
    ),
    "131050": "These customers stopped marketing messages: treat them as opted out.",
    "ERROR_CODE_MESSAGE_CUSTOMER_OPTED_OUT": (
        "These customers opted out: never message them again (the suppression list does it)."
    ),
    "130472": "The number is part of a Meta experiment: nothing to fix; do not resend.",
    "131048": (
        "Too many recipients marked messages as spam: send less, review the content and "
        "the audience, then send again later."
    ),
    "130429": "Messages were sent too fast: send in smaller batches or more slowly.",
    "131021": "The business's own number was in the audience: remove it.",
    "131031": "The WhatsApp account is locked: contact Meta support.",
    "131042": "Fix the payment method of the WhatsApp Business account, then send again.",
    "131051": "The message type is not supported: change the template's content.",
    "131053": "The media could not be uploaded: fix the template's image or document.",
    "132000": "The campaign filled the wrong number of template parameters: fix them.",
    "132001": "The template does not exist (or not in this language): fix its name.",
    "132005": "The filled template is too long: shorten the text or the parameters.",
    "132007": "The template breaks a formatting rule: edit the template.",
    "132012": "A template parameter has the wrong format: fix the parameter.",
    "132015": "The template is paused for low quality: improve it or wait for Meta.",
    "132016": "The template is disabled: create a new template.",
    "132068": "The flow is blocked: fix it in WhatsApp Manager.",
    "132069": "The flow is throttled: send it later.",
    "133010": "The sending number is not registered with WhatsApp: register it.",
    "130497": "The business may not message this country: remove these numbers.",
    "368": "The account is blocked for a policy violation: read Meta's notice.",
    "ERROR_CODE_PHONE_NUMBER_BAD_FORMAT": (
        "The phone numbers are badly formatted: write them as + and the country code."
    ),
    "ERROR_CODE_BUSINESS_REACHED_LIMITS": (
        "The messaging limit was reached: send the rest later, or raise the limit."
    ),
    "ERROR_CODE_MESSAGE_TEMPLATE_NOT_FOUND": "The template was not found: fix its name.",
    **dict.fromkeys(
        ("0", "3", "10", "131005"), "Fix the access token or permissions in Connectly."
    ),
    **dict.fromkeys(
        ("100", "131008", "131009"), "A parameter is missing or invalid: fix the campaign."
    ),
}
#: What to do about a code without its own advice, by its first category letter.
_ADVICE_BY_CATEGORY = {
    "R": "A problem on the recipient's side: nothing to fix; do not resend at once.",
    "B": "Fix the campaign's setup, then send again.",
    "L": "A sending limit: send later or more slowly.",
    "M": "Send again; open a ticket with Connectly if it persists.",
    "P": "A WhatsApp policy limit: check the account's quality and status in Meta.",
}

#: Error code (as a string) -> what it means. Unknown codes are not in here.
ERROR_CATALOGUE: Final = _catalogue()

UNKNOWN: Final = "unknown"

#: How a failed message without an error code (only ``error_msg``) is labelled.
NO_CODE: Final = "(no code)"


def describe_error(code: str | None) -> ErrorInfo:
    """Return the catalogue entry of an error code, or an "unknown" entry.

    Parameters
    ----------
    code : str or None
        The error code as written in the export (``"131026"``,
        ``"ERROR_CODE_MESSAGE_CUSTOMER_OPTED_OUT"``).

    Returns
    -------
    ErrorInfo
        Title, category and retry advice; all three are ``"unknown"`` for a
        code the catalogue does not know. A code is never guessed.
    """
    key = "" if code is None else str(code).strip()
    if key == NO_CODE:
        return ErrorInfo(
            key, "no code given (see the error message)", UNKNOWN, UNKNOWN, advice=_NO_ADVICE
        )
    return ERROR_CATALOGUE.get(key, ErrorInfo(key, UNKNOWN, UNKNOWN, UNKNOWN, advice=_NO_ADVICE))


_NO_ADVICE = "A code this toolkit does not know: look it up in Meta's error reference."
