"""Fake but realistic GM leads for Brazilian dealerships, from a seed.

Faker (``pt_BR``) is used only to build small pools of names once per seed; the leads themselves are drawn
from those pools with one ``random.Random``. That keeps generation deterministic and fast: benchmarks ask
for 100,000 leads (1,000 dealers × 100) and get them in a couple of seconds.

The data is deliberately untidy in the ways real leads are: CPF/CNPJ with and without punctuation and some
invalid, phones in three formats, e-mails in mixed case or with spaces around, company leads with only a
last name, comments in Portuguese with accents and line breaks.
"""

from __future__ import annotations

import functools
import random
import unicodedata
from bisect import bisect
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any, Final

from faker import Faker

from . import ids
from .access import GM_USER_ID
from .schema import LEAD_TYPES, LOST_REASONS
from .timefmt import whole_seconds

# ------------------------------------------------------------------------------------------ reference data

# Chevrolet Brazil line-up: model -> versions (the TRIN), newest first.
NEW_MODELS: Final[dict[str, tuple[str, ...]]] = {
    "Onix": ("1.0 MT", "1.0 LT", "1.0 Turbo LT", "1.0 Turbo LTZ", "1.0 Turbo Premier", "1.0 Turbo RS"),
    "Onix Plus": ("1.0 LT", "1.0 Turbo LT", "1.0 Turbo LTZ", "1.0 Turbo Premier", "1.0 Turbo Midnight"),
    "Tracker": ("1.0 Turbo AT", "1.0 Turbo LT", "1.2 Turbo LTZ", "1.2 Turbo Premier", "1.2 Turbo RS"),
    "Montana": ("1.2 Turbo MT", "1.2 Turbo LT", "1.2 Turbo LTZ", "1.2 Turbo Premier"),
    "S10": (
        "2.8 Turbo Diesel LS 4x4",
        "2.8 Turbo Diesel LT 4x4",
        "2.8 Turbo Diesel LTZ 4x4",
        "2.8 Turbo Diesel High Country 4x4",
        "2.8 Turbo Diesel Z71 4x4",
    ),
    "Spin": ("1.8 LT", "1.8 LTZ 7 lugares", "1.8 Premier 7 lugares", "1.8 Activ 7 lugares"),
    "Equinox": ("1.5 Turbo Premier AWD", "1.5 Turbo RS", "1.5 Turbo Activ"),
    "Trailblazer": ("2.8 Turbo Diesel Premier 4x4", "2.8 Turbo Diesel High Country 4x4"),
    "Blazer EV": ("RS AWD",),
    "Equinox EV": ("RS AWD",),
    "Spark EUV": ("Premier",),
    "Silverado": ("6.2 V8 High Country",),
}
NEW_MODEL_WEIGHTS: Final[dict[str, int]] = {
    "Onix": 26,
    "Onix Plus": 16,
    "Tracker": 20,
    "Montana": 10,
    "S10": 10,
    "Spin": 6,
    "Equinox": 3,
    "Trailblazer": 3,
    "Blazer EV": 2,
    "Equinox EV": 1,
    "Spark EUV": 2,
    "Silverado": 1,
}
# Older models that still show up as used cars and in the workshop.
OLD_MODELS: Final[dict[str, tuple[str, ...]]] = {
    "Cruze": ("1.4 Turbo LT", "1.4 Turbo LTZ", "1.4 Turbo Premier"),
    "Prisma": ("1.4 LT", "1.4 LTZ"),
    "Cobalt": ("1.8 LT", "1.8 Elite"),
    "Celta": ("1.0 LT",),
    "Agile": ("1.4 LTZ",),
    "Captiva": ("2.4 Sport",),
    "Joy": ("1.0 Black",),
}

# Model years outside a model's life would look wrong: first year of recent models, last year of old ones.
FIRST_YEAR: Final[dict[str, int]] = {
    "Montana": 2023,
    "Equinox": 2018,
    "Trailblazer": 2013,
    "Blazer EV": 2024,
    "Equinox EV": 2025,
    "Spark EUV": 2025,
    "Onix Plus": 2020,
}
LAST_YEAR: Final[dict[str, int]] = {
    "Cruze": 2023,
    "Prisma": 2019,
    "Cobalt": 2019,
    "Celta": 2015,
    "Agile": 2014,
    "Captiva": 2017,
    "Joy": 2022,
}

LEAD_TYPE_WEIGHTS: Final[dict[str, int]] = {
    "New Vehicle": 40,
    "Used Vehicle": 18,
    "Service": 22,
    "Parts": 10,
    "After Sales": 10,
}
LEAD_SOURCES: Final[dict[str, int]] = {
    "Website": 34,
    "Chat": 10,
    "Call Center": 14,
    "WhatsApp": 14,
    "Facebook": 7,
    "Instagram": 7,
    "Google Ads": 6,
    "Showroom": 4,
    "Evento": 2,
    "Marketplace": 2,
}
# Stage weights: most leads are open; a few are closed.
STAGE_WEIGHTS: Final[dict[str, int]] = {
    "New": 40,
    "Assigned": 25,
    "Experiencing": 13,
    "Deciding": 9,
    "Converted": 4,
    "Delivered": 4,
    "NotConverted": 5,
}
# Substages that go with a stage, per lead-type group (triggers.md): None means no substage.
_VEHICLES: Final = "vehicles"
SUBSTAGES_BY_STAGE: Final[dict[tuple[str, str], tuple[str | None, ...]]] = {
    ("New", "*"): (None,),
    ("Assigned", "*"): (None,),
    ("Experiencing", "*"): ("InProgressEmail", "InProgressPhone", "InProgressInPerson", "InProgressUnresponsive"),
    ("Deciding", _VEHICLES): ("TestDriveScheduled", "TestDriveShowed", "ShowroomVisit", "OfferPresented"),
    ("Deciding", "Service"): ("Contacted",),
    ("Deciding", "After Sales"): ("ShowroomVisit",),
    ("Deciding", "Parts"): ("Contacted",),
    ("Converted", _VEHICLES): ("New",),
    ("Converted", "Service"): ("ServiceScheduled",),
    ("Converted", "Parts"): ("PartsAndAccessoriesOrdered",),
    ("Converted", "After Sales"): ("AfterSales",),
    ("Delivered", _VEHICLES): ("New",),
    ("Delivered", "Service"): ("ServiceComplete",),
    ("Delivered", "Parts"): ("PartsAndAccessories",),
    ("Delivered", "After Sales"): ("AfterSales",),
    ("NotConverted", "*"): LOST_REASONS,
}

DDDS: Final[tuple[str, ...]] = (
    "11", "11", "11", "12", "13", "15", "16", "17", "19", "21", "21", "24", "27", "31", "31", "34", "41",
    "43", "44", "47", "48", "51", "51", "54", "61", "62", "65", "67", "71", "71", "79", "81", "81", "83",
    "84", "85", "85", "86", "91", "92", "95", "98",
)  # fmt: skip
EMAIL_DOMAINS: Final[dict[str, int]] = {
    "gmail.com": 45,
    "hotmail.com": 14,
    "outlook.com": 10,
    "yahoo.com.br": 8,
    "uol.com.br": 6,
    "bol.com.br": 5,
    "terra.com.br": 3,
    "icloud.com": 5,
    "live.com": 4,
}
COMPANY_ACTIVITIES: Final[tuple[str, ...]] = (
    "Transportes",
    "Comércio de Alimentos",
    "Construções",
    "Logística",
    "Agropecuária",
    "Serviços Médicos",
    "Locadora de Veículos",
    "Engenharia",
    "Distribuidora",
    "Materiais de Construção",
    "Auto Peças",
)
COMPANY_SUFFIXES: Final[tuple[str, ...]] = ("Ltda.", "S/A", "ME", "EIRELI", "e Filhos Ltda.")

COMMENTS: Final[dict[str, tuple[str, ...]]] = {
    "New Vehicle": (
        "Olá, tenho interesse no {model} {trim}. Qual o valor à vista e as condições de financiamento?",
        "Gostaria de agendar um test drive do {model} no sábado pela manhã.",
        "Vi a promoção do {model} {year} no site. Ainda está válida? Aceitam meu usado na troca?",
        "Cliente pediu retorno por WhatsApp após às 18h.",
        "Quero saber o prazo de entrega do {model} {trim} na cor branca.",
        "Sou produtor rural e preciso de uma picape para o trabalho; a {model} atende?\nPrefiro contato por e-mail.",
        "Tem {model} a pronta entrega? Pagamento parcelado em até 48x.",
        "Interesse em venda direta (CNPJ) de duas unidades do {model}.",
    ),
    "Used Vehicle": (
        "Tenho interesse no {model} {year} seminovo anunciado. Qual a quilometragem?",
        "O carro ainda está disponível? Posso ir vê-lo amanhã à tarde.",
        "Aceitam troca com volta? Meu carro é um {old_model} {old_year}.",
        "Qual o menor preço à vista no {model} {trim}?",
    ),
    "Service": (
        "Preciso agendar a revisão dos {km} km do meu {model}.",
        "Barulho na suspensão dianteira, gostaria de um orçamento.",
        "Ar-condicionado não está gelando. Há horário disponível esta semana?",
        "Troca de óleo e filtros; o carro é um {model} {year}.",
        "Luz da injeção acesa no painel desde ontem.\nPosso deixar o carro às 7h30?",
    ),
    "Parts": (
        "Orçamento de pastilhas de freio dianteiras para {model} {year}.",
        "Preciso de um retrovisor elétrico do lado do passageiro.",
        "Vocês têm o jogo de tapetes originais do {model}?",
        "Cotação de 4 pneus e alinhamento; é para um {model} {trim}.",
    ),
    "After Sales": (
        "Gostaria de informações sobre o plano de manutenção e a garantia estendida.",
        "Recebi um aviso de recall; como faço para agendar?",
        "Quero orçar a instalação de engate e película no meu {model}.",
        "Insatisfeito com o último atendimento, peço contato do gerente de pós-venda.",
    ),
}

# --------------------------------------------------------------------------------------------- documents


def cpf_check_digits(base9: Sequence[int]) -> tuple[int, int]:
    """The two CPF check digits of 9 base digits (unrolled: this runs once per generated lead)."""
    d0, d1, d2, d3, d4, d5, d6, d7, d8 = base9
    s1 = 10 * d0 + 9 * d1 + 8 * d2 + 7 * d3 + 6 * d4 + 5 * d5 + 4 * d6 + 3 * d7 + 2 * d8
    first = s1 * 10 % 11 % 10
    # The second weights are the first ones plus one, then 2 for the first check digit.
    second = (s1 + d0 + d1 + d2 + d3 + d4 + d5 + d6 + d7 + d8 + 2 * first) * 10 % 11 % 10
    return first, second


_CNPJ_W1: Final = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_W2: Final = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def cnpj_check_digits(base12: Sequence[int]) -> tuple[int, int]:
    """The two CNPJ check digits of 12 base digits."""
    r1 = sum(w * d for w, d in zip(_CNPJ_W1, base12, strict=True)) % 11
    first = 0 if r1 < 2 else 11 - r1
    r2 = sum(w * d for w, d in zip(_CNPJ_W2, (*base12, first), strict=True)) % 11
    second = 0 if r2 < 2 else 11 - r2
    return first, second


def _format_cpf(d: str, punctuated: bool) -> str:
    return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}" if punctuated else d


def _format_cnpj(d: str, punctuated: bool) -> str:
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}" if punctuated else d


def _document(rng: random.Random, company: bool) -> str | None:
    """A CPF (person) or CNPJ (company); about 1 in 9 is invalid, a few are missing."""
    roll = rng.random()
    if roll < 0.06:
        return None
    punctuated = rng.random() < 0.5
    if company:
        head = f"{_below(rng, 10**8):08d}0001"
        checks = cnpj_check_digits([int(c) for c in head])
        fmt = _format_cnpj
    else:
        head = f"{_below(rng, 10**9):09d}"
        checks = cpf_check_digits([int(c) for c in head])
        fmt = _format_cpf
    digits = f"{head}{checks[0]}{checks[1]}"
    if roll > 0.89:
        kind = _below(rng, 3)
        if kind == 0:  # wrong check digit
            digits = digits[:-1] + str((checks[1] + 1 + _below(rng, 9)) % 10)
        elif kind == 1:  # repeated digit: passes the arithmetic, refused by every validator
            digits = str(_below(rng, 10)) * len(digits)
        else:  # a digit lost while typing
            return digits[:-1]
    text = fmt(digits, punctuated)
    return f" {text} " if rng.random() < 0.02 else text


# ------------------------------------------------------------------------------------------------ phones

PHONE_FORMATS: Final[tuple[str, ...]] = ("international", "landline", "plain")


def _mobile_digits(rng: random.Random) -> str:
    return f"9{_between(rng, 6, 10)}{_below(rng, 10**7):07d}"


def _phone(rng: random.Random, ddd: str, fmt: str) -> str:
    if fmt == "landline":
        number = f"{_between(rng, 2, 6)}{_below(rng, 10**7):07d}"
        return f"({ddd}) {number[:4]}-{number[4:]}"
    mobile = _mobile_digits(rng)
    if fmt == "international":
        return f"+55 {ddd} {mobile[:5]}-{mobile[5:]}"
    return f"{ddd}{mobile}"


# ----------------------------------------------------------------------------------------------- helpers


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits only: e-mail local parts carry no accents."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def _below(rng: random.Random, n: int) -> int:
    """An int in [0, n): ``random()`` scaled; several times faster than ``randrange`` on this hot path."""
    return int(rng.random() * n)


def _between(rng: random.Random, low: int, high: int) -> int:
    """An int in [low, high)."""
    return low + int(rng.random() * (high - low))


class _Weighted:
    """Fast weighted choice: one ``random()`` and a bisect."""

    def __init__(self, weights: dict[str, int]) -> None:
        self.values = list(weights)
        self.cum = list(accumulate(weights.values()))
        self.total = self.cum[-1]

    def pick(self, rng: random.Random) -> str:
        return self.values[bisect(self.cum, rng.random() * self.total)]


_LEAD_TYPE_PICK: Final = _Weighted(LEAD_TYPE_WEIGHTS)
_SOURCE_PICK: Final = _Weighted(LEAD_SOURCES)
_STAGE_PICK: Final = _Weighted(STAGE_WEIGHTS)
_NEW_MODEL_PICK: Final = _Weighted(NEW_MODEL_WEIGHTS)
_DOMAIN_PICK: Final = _Weighted(EMAIL_DOMAINS)
ALL_MODELS: Final[dict[str, tuple[str, ...]]] = {**NEW_MODELS, **OLD_MODELS}
ALL_MODEL_NAMES: Final[tuple[str, ...]] = tuple(ALL_MODELS)


class _Pools:
    """Names drawn once from Faker pt_BR for one seed (see the module docstring for why)."""

    def __init__(self, seed: int) -> None:
        fake = Faker("pt_BR")
        fake.seed_instance(seed)
        self.male = _unique(fake.first_name_male() for _ in range(400))
        self.female = _unique(fake.first_name_female() for _ in range(400))
        self.last = _unique(fake.last_name() for _ in range(400))
        self.companies = _unique(
            f"{fake.last_name()} {COMPANY_ACTIVITIES[i % len(COMPANY_ACTIVITIES)]} "
            f"{COMPANY_SUFFIXES[i % len(COMPANY_SUFFIXES)]}"
            for i in range(150)
        )
        self.slugs = {name: ascii_slug(name) for name in (*self.male, *self.female, *self.last, *self.companies)}


def _unique(names: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


@functools.lru_cache(maxsize=8)
def _pools(seed: int) -> _Pools:
    return _Pools(seed)


def _email(rng: random.Random, pools: _Pools, first: str | None, last: str) -> str | None:
    if rng.random() < 0.07:
        return None
    # A person's first surname, or a company's whole name, makes the address.
    last_key = last if first is None else last.split(" ")[0]
    last_slug = pools.slugs.get(last_key) or ascii_slug(last_key)
    if first is None:
        local = rng.choice(("contato", "compras", "financeiro", "frota"))
        domain = (last_slug[:18] or "empresa") + ".com.br"
    else:
        first_slug = pools.slugs[first]
        style = _below(rng, 4)
        if style == 0:
            local = f"{first_slug}.{last_slug}"
        elif style == 1:
            local = f"{first_slug}{last_slug}{_between(rng, 1, 99)}"
        elif style == 2:
            local = f"{first_slug[0]}{last_slug}"
        else:
            local = f"{first_slug}_{last_slug}{_between(rng, 1960, 2006)}"
        domain = _DOMAIN_PICK.pick(rng)
    email = f"{local}@{domain}"
    roll = rng.random()
    if roll < 0.08:
        email = email.upper()
    elif roll < 0.16:
        email = email[0].upper() + email[1:]
    if rng.random() < 0.05:
        email = f"  {email} "
    return email


def _vehicle(rng: random.Random, lead_type: str, year_now: int) -> tuple[str | None, str | None, str | None]:
    """(model, model year, trim) fitting the lead type."""
    if lead_type == "New Vehicle":
        model = _NEW_MODEL_PICK.pick(rng)
        year = year_now + rng.choice((0, 0, 1, -1))
    elif lead_type == "Used Vehicle":
        model = (
            ALL_MODEL_NAMES[_below(rng, len(ALL_MODEL_NAMES))] if rng.random() < 0.4 else (_NEW_MODEL_PICK.pick(rng))
        )
        year = year_now - _between(rng, 1, 11)
    else:
        if lead_type == "Parts" and rng.random() < 0.3:
            return None, None, None
        model = (
            ALL_MODEL_NAMES[_below(rng, len(ALL_MODEL_NAMES))] if rng.random() < 0.3 else (_NEW_MODEL_PICK.pick(rng))
        )
        year = year_now - _between(rng, 0, 12)
    year = min(max(year, FIRST_YEAR.get(model, 0)), LAST_YEAR.get(model, year_now + 1))
    versions = ALL_MODELS[model]
    trim: str | None = versions[_below(rng, len(versions))]
    if lead_type not in ("New Vehicle", "Used Vehicle") and rng.random() < 0.25:
        trim = None  # the customer rarely knows the version of the car in the workshop
    return model, str(year), trim


def _stage(rng: random.Random, lead_type: str) -> tuple[str, str | None]:
    stage = _STAGE_PICK.pick(rng)
    group = _VEHICLES if lead_type in ("New Vehicle", "Used Vehicle") else lead_type
    options = SUBSTAGES_BY_STAGE.get((stage, group)) or SUBSTAGES_BY_STAGE[(stage, "*")]
    return stage, options[_below(rng, len(options))]


def _comment(rng: random.Random, lead_type: str, model: str | None, trim: str | None, year: str | None) -> str | None:
    if rng.random() < 0.12:
        return None
    templates = COMMENTS[lead_type]
    template = templates[_below(rng, len(templates))]
    old_model = ALL_MODEL_NAMES[_below(rng, len(ALL_MODEL_NAMES))]
    return template.format(
        model=model or "Onix",
        trim=trim or "",
        year=year or "",
        km=rng.choice(("10.000", "20.000", "30.000", "40.000", "50.000", "60.000")),
        old_model=old_model,
        old_year=_between(rng, 2008, 2020),
    ).replace("  ", " ")


# -------------------------------------------------------------------------------------------- generation

_WINDOW_SECONDS: Final = 30 * 86400
_POD_LETTERS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def dealer_codes_for(count: int, start: int = 1) -> list[str]:
    """``BR0001``, ``BR0002``, ...: the default dealer codes of ``--dealers N``."""
    return [f"BR{n:04d}" for n in range(start, start + count)]


def generate_leads(
    seed: int, dealer_codes: Sequence[str], leads_per_dealer: int, now: datetime
) -> list[dict[str, Any]]:
    """Generate ``leads_per_dealer`` leads for each dealer code, deterministically from ``seed``.

    Pure: the same arguments give the same leads (ids included). Values are Python values: datetimes are
    aware UTC ``datetime`` with whole seconds (``CreatedDate <= SystemModstamp <= now``), ``IsDeleted`` is
    ``False``. Each dealer with at least five leads gets all five lead types.
    """
    now = whole_seconds(now)
    pools = _pools(seed)
    rng = random.Random(seed)
    # Ids: a pod of two upper-case letters per seed (the sandbox's own ids use a digit-first pod, so they
    # never collide), then a sequence starting at a seed-chosen offset.
    pod = _POD_LETTERS[_below(rng, 26)] + _POD_LETTERS[_below(rng, 26)]
    sequence = _below(rng, 62**6 // 2)
    # A few "campaign bursts": many leads stamped in the same second, as happens at GM; incremental
    # readers must cope with shared stamps.
    bursts = [now - timedelta(seconds=_between(rng, 60, _WINDOW_SECONDS)) for _ in range(8)]
    year_now = now.year
    male, female, last_names, companies = pools.male, pools.female, pools.last, pools.companies
    n_male, n_female, n_last, n_companies = len(male), len(female), len(last_names), len(companies)
    # Bound once: this loop runs 100,000 times in benchmarks, and attribute lookups add up.
    rand = rng.random
    make_id, document, email, phone, vehicle, stage_of, comment = (
        ids.make_id,
        _document,
        _email,
        _phone,
        _vehicle,
        _stage,
        _comment,
    )
    pick_type, pick_source = _LEAD_TYPE_PICK.pick, _SOURCE_PICK.pick
    n_ddds = len(DDDS)
    leads: list[dict[str, Any]] = []
    for code in dealer_codes:
        types = list(LEAD_TYPES)
        rng.shuffle(types)
        for i in range(leads_per_dealer):
            lead_type = types[i] if i < 5 else pick_type(rng)
            company = rand() < 0.08 and lead_type != "After Sales"
            first: str | None
            if company:
                first = None
                last = companies[int(rand() * n_companies)]
            else:
                first = male[int(rand() * n_male)] if rand() < 0.52 else female[int(rand() * n_female)]
                last = last_names[int(rand() * n_last)]
                if rand() < 0.35:
                    last = f"{last} {last_names[int(rand() * n_last)]}"
                if rand() < 0.02:
                    first = None  # the call centre typed only the surname
            ddd = DDDS[int(rand() * n_ddds)]
            mobile_phone = phone(rng, ddd, "international" if rand() < 0.5 else "plain") if rand() < 0.6 else None
            model, year, trim = vehicle(rng, lead_type, year_now)
            stage, substage = stage_of(rng, lead_type)
            if rand() < 0.1:
                created = modstamp = bursts[int(rand() * 8)]
            else:
                age = 60 + int(rand() * (_WINDOW_SECONDS - 60))
                created = now - timedelta(seconds=age)
                modstamp = created + timedelta(seconds=int(rand() * (min(age, 2 * 86400) + 1)))
            leads.append(
                {
                    "Id": make_id("006", pod, sequence),
                    "Dealer_Code__c": code,
                    "Lead_Type__c": lead_type,
                    "StageName": stage,
                    "Substage__c": substage,
                    "First_Name__c": first,
                    "Last_Name__c": last,
                    "Email__c": email(rng, pools, first, last),
                    "Phone__c": phone(rng, ddd, PHONE_FORMATS[int(rand() * 3)]),
                    "Mobile_Phone__c": mobile_phone,
                    "Document_Number__c": document(rng, company),
                    "Model_Of_Interest__c": model,
                    "Model_Year__c": year,
                    "Trim__c": trim,
                    "Comments__c": comment(rng, lead_type, model, trim, year),
                    "Lead_Source__c": pick_source(rng),
                    "CreatedDate": created,
                    "CreatedById": GM_USER_ID,
                    "LastModifiedDate": modstamp,
                    "LastModifiedById": GM_USER_ID,
                    "SystemModstamp": modstamp,
                    "IsDeleted": False,
                }
            )
            sequence += 1
    return leads
