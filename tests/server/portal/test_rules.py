"""The portal's pure rules: keypad mapping, trivial codes, code keeping, sessions (fake
clock), CSRF comparison, the lockout count, contact details, languages, contrast."""

from __future__ import annotations

import random
import re

import pytest

from esecure.server.portal import auth, codes, contact, i18n, keypad, sessions, theme
from esecure.server.portal.codes import CodeHasher, ScryptCost
from esecure.server.portal.keypad import ForgedPositions, Layout

CHEAP = ScryptCost(log_n=4, r=1, p=1)  # unit tests only: the rule, not the cost
PEPPER = bytes(range(32))


# --- keypad --------------------------------------------------------------------------------


def test_a_layout_holds_each_digit_once_and_six_blanks():
    """Ten digits once each, six blanks, sixteen positions."""
    layout = keypad.new_layout()
    digits = [d for d in layout.cells if d is not None]
    assert sorted(digits) == list(range(10))
    assert layout.cells.count(None) == 6


def test_layouts_are_shuffled():
    """200 layouts: the digit 0 visits every position (a fixed layout would fail this)."""
    seen = {keypad.new_layout().cells.index(0) for _ in range(200)}
    assert seen == set(range(keypad.CELLS))


def test_positions_map_back_to_digits():
    """Positions spell the code through the layout, and only through it."""
    layout = Layout("id", (5, None, 3, 0, 1, None, 2, 4, None, 6, 7, None, 8, 9, None, None))
    assert layout.digits((3, 4, 6, 2, 7, 0)) == "012345"
    assert Layout.decode(layout.encode()) == layout


@pytest.mark.parametrize("position", [1, 5, 16, 99, -1])
def test_blank_or_outside_positions_are_forged(position):
    """A blank cell or a position outside the grid is no key of ours."""
    layout = Layout("id", (5, None, 3, 0, 1, None, 2, 4, None, 6, 7, None, 8, 9, None, None))
    with pytest.raises(ForgedPositions):
        layout.digits((position,))


@pytest.mark.parametrize(
    "text", ["a", "1.5", "-1", "16", "100", "٣", "0x1", "1,,2", " 1 , 2", "1,2,3,4,5,6,7", "+1"]
)
def test_malformed_position_lists_are_forged(text):
    """Anything but up to six small decimal numbers separated by commas."""
    with pytest.raises(ForgedPositions):
        keypad.parse_positions(text)


def test_well_formed_position_lists_parse():
    """Empty is nothing; numbers in order."""
    assert keypad.parse_positions("") == ()
    assert keypad.parse_positions("15,0,07") == (15, 0, 7)


# --- codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("12345", "code.rule.six-digits"),
        ("12345a", "code.rule.six-digits"),
        ("\uff11\uff12\uff13\uff14\uff15\uff16", "code.rule.six-digits"),  # full-width
        ("000000", "code.rule.repeated"),
        ("999999", "code.rule.repeated"),
        ("123456", "code.rule.run"),
        ("456789", "code.rule.run"),
        ("012345", "code.rule.run"),
        ("654321", "code.rule.run"),
        ("987654", "code.rule.run"),
        ("121212", "code.rule.pattern"),
        ("123123", "code.rule.pattern"),
        ("250190", "code.rule.date"),
        ("900125", "code.rule.date"),
        ("311299", "code.rule.date"),
    ],
)
def test_trivial_codes_are_refused_with_their_rule(code, reason):
    """Each rule of the documented list, in order."""
    assert codes.refusal(code) == reason


@pytest.mark.parametrize("code", ["409217", "583920", "350045", "864213", "135790"])
def test_ordinary_codes_are_accepted(code):
    """Codes that break no rule."""
    assert codes.refusal(code) is None


def test_the_mail_code_is_refused():
    """The predicate says which code came by mail."""
    assert codes.refusal("409217", is_mail_code=lambda c: c == "409217") == "code.rule.mail-code"


def test_mail_codes_are_six_digits_and_never_trivial():
    """500 mail codes: six digits, none refused by the rule."""
    for _ in range(500):
        code = codes.make_mail_code()
        assert len(code) == 6 and code.isdigit()
        assert codes.refusal(code) is None


def test_a_kept_code_verifies_and_holds_no_clear_code():
    """scrypt of HMAC(pepper): the right code verifies, a wrong one or another user's
    does not, and the stored text holds neither the code nor the pepper."""
    hasher = CodeHasher(PEPPER, CHEAP)
    stored = hasher.hash("alice", "409217")
    assert stored.startswith("scrypt$4$1$1$")
    assert "409217" not in stored and PEPPER.hex() not in stored
    assert hasher.verify("alice", "409217", stored)
    assert not hasher.verify("alice", "409218", stored)
    assert not hasher.verify("bob", "409217", stored)
    assert hasher.hash("alice", "409217") != stored  # salted


def test_without_the_pepper_a_stolen_hash_is_useless():
    """The same code under another pepper never verifies: brute force needs the pepper."""
    stored = CodeHasher(PEPPER, CHEAP).hash("alice", "409217")
    assert not CodeHasher(bytes(32), CHEAP).verify("alice", "409217", stored)


@pytest.mark.parametrize("stored", [None, "", "scrypt$x", "bcrypt$1$2$3$4$5", "scrypt$4$1$1$!!$!!"])
def test_nothing_or_garbage_stored_never_verifies(stored):
    """Unknown user or no code yet: the same work, then False."""
    assert not CodeHasher(PEPPER, CHEAP).verify("alice", "409217", stored)


def test_a_short_pepper_is_refused():
    """Fewer than 256 bits of pepper: refused."""
    with pytest.raises(ValueError, match="32 bytes"):
        CodeHasher(b"short")


def test_the_default_cost_is_scrypt_n_16384():
    """The production cost: n = 2**14, r = 8, p = 1 (16 MiB per check)."""
    assert ScryptCost(14, 8, 1) == codes.DEFAULT_COST


# --- sessions ------------------------------------------------------------------------------

POLICY = sessions.SessionPolicy(idle_seconds=600, max_seconds=8 * 3600)


def _session(stage: str = "in", seen: float = 1000.0, created: float = 1000.0, id_hash: str = "a"):
    return sessions.Session(id_hash, "alice", stage, "tok", "cafe", created, seen)


def test_a_session_expires_after_ten_minutes_idle():
    """Fake clock: alive at 599 s, ended at 600 s."""
    assert not sessions.is_expired(_session(), 1599.0, POLICY)
    assert sessions.is_expired(_session(), 1600.0, POLICY)


def test_a_session_expires_after_its_absolute_lifetime():
    """Active all along, it still ends eight hours after creation."""
    busy = _session(seen=1000.0 + 8 * 3600 - 1)
    assert sessions.is_expired(busy, 1000.0 + 8 * 3600, POLICY)


def test_only_other_live_sessions_conflict():
    """The current one, expired ones, and ones still at the keypad or the choice do not."""
    mine = _session(id_hash="me")
    others = [
        _session(id_hash="live"),
        _session(id_hash="first", stage="first"),
        _session(id_hash="old", seen=0.0),
        _session(id_hash="typing", stage="code"),
        _session(id_hash="choosing", stage="choice"),
    ]
    found = sessions.live_others([mine, *others], current="me", now=1100.0, policy=POLICY)
    assert [s.id_hash for s in found] == ["live", "first"]


def test_session_ids_are_random_and_kept_hashed():
    """Two ids differ; the registry keeps the SHA-256, not the id."""
    (a, ha), (b, _) = sessions.new_id(), sessions.new_id()
    assert a != b and ha == sessions.hash_id(a) and a not in ha and len(ha) == 64


@pytest.mark.parametrize(
    ("expected", "presented", "ok"),
    [
        ("tok", "tok", True),
        ("tok", "tok2", False),
        ("tok", None, False),
        ("tok", "", False),
        (None, "tok", False),
        ("", "", False),
    ],
)
def test_csrf_tokens_compare_exactly(expected, presented, ok):
    """A missing token never matches, even an empty expected one."""
    assert sessions.csrf_matches(expected, presented) is ok


# --- lockout -------------------------------------------------------------------------------


def test_the_third_wrong_code_locks():
    """Counts 1 and 2 do not lock; 3 does."""
    assert auth.after_wrong_code(0) == (1, False)
    assert auth.after_wrong_code(1) == (2, False)
    assert auth.after_wrong_code(2) == (3, True)


# --- contact -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email", ["ana@corp.example", "a.b+tag@sub.corp.fr", "x_y-z@a-b.co", "o'neil@bank.example"]
)
def test_valid_emails(email):
    """Ordinary addresses pass."""
    assert contact.validate(email, "+33 1 23 45 67 89")[1] == {}


@pytest.mark.parametrize(
    "email",
    [
        "",
        "ana",
        "ana@",
        "@corp.example",
        "ana@corp",
        "ana@corp.e",
        "a..b@corp.example",
        ".a@corp.example",
        "ana@-corp.example",
        "ana@corp..example",
        "ana @corp.example",
        "anä@corp.example",
        "a" * 65 + "@corp.example",
        "ana@corp.example<script>",
    ],
)
def test_invalid_emails(email):
    """Each malformed address is named."""
    assert "email" in contact.validate(email, "0102030405")[1]


@pytest.mark.parametrize("phone", ["0102030405", "+33 1 23 45 67 89", "(01) 02.03-04-05"])
def test_valid_phones(phone):
    """Digits with the usual separators."""
    found, problems = contact.validate("a@b.example", phone)
    assert problems == {} and found is not None


@pytest.mark.parametrize(
    "phone", ["", "1234567", "1" * 16, "01+02030405", "0102030405x", "٠١٠٢٠٣٠٤٠٥"]
)
def test_invalid_phones(phone):
    """Too short, too long, letters, a + inside, other scripts' digits."""
    assert "phone" in contact.validate("a@b.example", phone)[1]


# --- languages and contrast ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("en-GB,en;q=0.9", "en"),
        ("de,en;q=0.5", "en"),
        ("de", "fr"),
        ("", "fr"),
        ("en;q=0,fr;q=0.1", "fr"),
        ("fr;q=0.4,en;q=0.6", "en"),
        ("fr;q=abc,en", "en"),
        ("*", "fr"),
    ],
)
def test_accept_language_picks_an_offered_language(header, expected):
    """By quality, first listed on ties; the project's default otherwise."""
    assert i18n.negotiate(header, ("fr", "en"), "fr") == expected


def test_every_text_exists_in_both_languages():
    """No empty text; placeholders are the same in both."""
    for key, (en, fr) in i18n.TEXTS.items():
        assert en.strip() and fr.strip(), key
        assert sorted(re.findall(r"\{\w+\}", en)) == sorted(re.findall(r"\{\w+\}", fr)), key


def test_brand_colours_keep_aa_contrast():
    """Whatever the brand colours, text on them and links on white reach 4.5:1."""
    rng = random.Random(7)  # noqa: S311 - colours, not secrets
    for _ in range(300):
        colour = f"#{rng.randrange(2**24):06x}"
        assert theme.contrast(colour, theme.text_colour_on(colour)) >= 4.5
        for background in theme.LIGHT_BACKGROUNDS:
            assert theme.contrast(theme.readable_on_light(colour), background) >= 4.5
    assert round(theme.contrast("#000000", "#ffffff"), 1) == 21.0
