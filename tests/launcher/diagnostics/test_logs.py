"""The launcher's log in the data area: rotated, capped, and never a secret — each kind of
secret logged as an attack, then the files searched for it."""

from __future__ import annotations

import logging

import pytest

from esecure.launcher.logs import LOG_DIR, LOG_FILE, LogLimits, log_files, redact, setup_logging

PEM_KEY = (
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIPrivateKeyMaterialThatMustNeverLeaveTheKeyAAAAoAoGCCqGSM49\n"
    "AwEHoUQDQgAEsecretsecretsecret\n"
    "-----END EC PRIVATE KEY-----"
)
# (name, what is logged, the secret part that must not reach the file)
SECRETS = [
    ("activation-code", "enrolling with activation code %s", "KX7P-Q2RM-9ZTB-WN4H"),
    ("activation-code-lower", "user typed %s", "kx7p-q2rm-9ztb-wn4h"),
    ("activation-code-field", "form: activation_code=%s", "ZZZZ99997777"),
    ("secret-code", "portal secret code: %s", "493817"),
    ("authorization-header", "request headers: Authorization: Basic %s", "YWxpY2U6czNjcmV0"),
    ("bearer-token", "sent Bearer %s", "eyJhbGciOiJIUzI1NiJ9.e30.x9"),
    ("proxy-authorization", "Proxy-Authorization: %s", "Basic Ym9iOmh1bnRlcjI="),
    ("cookie-header", "answer had Set-Cookie: %s", "session=abcdef0123456789; Secure"),
    ("cookie-dict", "headers %s", "{'Cookie': 'sid=Zm9vYmFyYmF6'}"),
    ("pem-private-key", "loaded %s", PEM_KEY),
    ("pkcs12-password", "pk12util -i client.p12 -W %s", "Pkcs12-Pass-w0rd"),
    ("pkcs12-password-field", "import with p12_password=%s", "another-P12-secret"),
    ("passphrase", "using passphrase: %s", "correct horse battery"),
    ("quoted-password", "settings {'password': '%s', 'user': 'bob'}", "two words"),
    ("query-code", "GET /callback?state=1&code=%s&x=2", "oauthCodeValue42"),
    ("json-password", '{"user": "alice", "password": "%s"}', "j50n-pa55"),
    ("url-credentials", "proxy http://alice:%s@proxy.corp:3128", "pr0xy-pass"),
]


@pytest.fixture
def key_log(tmp_path):
    """Logging set up into a data area, removed afterwards."""
    setup = setup_logging(tmp_path, limits=LogLimits(level=logging.DEBUG))
    yield setup
    setup.close()


def _logged(data_dir) -> str:
    return "".join(p.read_text("utf-8") for p in log_files(data_dir))


@pytest.mark.parametrize(("name", "template", "secret"), SECRETS, ids=[s[0] for s in SECRETS])
def test_attack_secret_in_a_log_message_never_reaches_the_file(
    tmp_path, key_log, name, template, secret
):
    """A secret logged as an argument: the record is written, the secret is not."""
    logging.getLogger("esecure.launcher.flow").warning(template, secret)
    key_log.handler.flush()
    text = _logged(tmp_path)
    assert template.split("%s")[0].strip()[:6] in text  # the record itself is there
    for part in _parts(secret):
        assert part not in text, f"{name}: {part!r} leaked"
    assert "[redacted" in text


def _parts(secret: str) -> list[str]:
    """The secret and its lines (a key leaks if any line of it does)."""
    lines = [line for line in secret.splitlines() if "-----" not in line and len(line) > 8]
    if secret.startswith("{'Cookie'"):
        return ["Zm9vYmFyYmF6"]
    if secret.startswith("Basic "):
        return [secret.split()[1]]
    if secret.startswith("session="):
        return ["abcdef0123456789"]
    if "\n" in secret:
        return lines
    return [secret, *(word for word in secret.split() if len(word) > 3)]


def test_attack_secret_in_a_traceback_never_reaches_the_file(tmp_path, key_log):
    """An exception whose message holds a code, logged with its traceback."""

    def refuse() -> None:
        raise ValueError("enrolment refused for code=KX7P-Q2RM-9ZTB-WN4H")

    try:
        refuse()
    except ValueError:
        logging.getLogger("esecure").exception("enrolment failed")
    key_log.handler.flush()
    text = _logged(tmp_path)
    assert "Traceback" in text
    assert "ValueError" in text
    assert "KX7P-Q2RM-9ZTB-WN4H" not in text


def test_attack_registered_secret_is_redacted_anywhere(tmp_path, key_log):
    """A value the flow registers (the key's PKCS#12 password) is hidden even in a
    shape no pattern knows."""
    key_log.redactor.add("9f3ac2b7e1d04a55")
    logging.getLogger("esecure.launcher.nss").info("delivering (9f3ac2b7e1d04a55) to NSS")
    key_log.handler.flush()
    text = _logged(tmp_path)
    assert "delivering" in text
    assert "9f3ac2b7e1d04a55" not in text


def test_attack_bad_format_arguments_do_not_leak(tmp_path, key_log):
    """A record whose arguments do not fit its format is written without them."""
    logging.getLogger("esecure").error("two %s %s", "KX7P-Q2RM-9ZTB-WN4H")  # noqa: PLE1206
    key_log.handler.flush()
    text = _logged(tmp_path)
    assert "unformattable arguments" in text
    assert "KX7P" not in text


def test_catalogue_codes_and_ordinary_words_are_kept():
    """Support needs codes and plain words: ES201, serials, 'Basic settings' stay."""
    text = "error code: ES201 for key KEY-0001; Basic settings; pinned CA ok"
    assert redact(text) == text


def test_logs_rotate_and_stay_capped(tmp_path):
    """5 MB of records: at most three files of at most max_bytes (plus one record) each."""
    limits = LogLimits(max_bytes=100_000, backups=2)
    setup = setup_logging(tmp_path, limits=limits)
    try:
        line = "x" * 500
        log = logging.getLogger("esecure.test")
        for i in range(10_000):  # ~5 MB
            log.info("%05d %s", i, line)
    finally:
        setup.close()
    files = log_files(tmp_path)
    assert [p.name for p in files] == [LOG_FILE, f"{LOG_FILE}.1", f"{LOG_FILE}.2"]
    assert all(p.stat().st_size <= limits.max_bytes + 1000 for p in files)
    assert "09999" in files[0].read_text("utf-8")  # the newest records are kept


def test_a_read_only_data_area_costs_log_lines_not_the_key(tmp_path, capsys):
    """logs/ cannot be written: nothing raised, nothing printed, the loss is counted."""
    (tmp_path / LOG_DIR).mkdir()
    (tmp_path / LOG_DIR / LOG_FILE).mkdir()  # a directory where the file should be
    setup = setup_logging(tmp_path)
    try:
        logging.getLogger("esecure").warning("first")
        logging.getLogger("esecure").warning("second")
        assert setup.handler.dropped == 2
    finally:
        setup.close()
    assert capsys.readouterr() == ("", "")


def test_without_a_data_area_nothing_is_written(tmp_path):
    """No data area: no handler, no file anywhere."""
    setup = setup_logging(None)
    assert setup.path is None
    assert setup.handler is None
    logging.getLogger("esecure").warning("nowhere")
    setup.close()


def test_a_second_setup_replaces_the_first(tmp_path):
    """Set up twice (a restart in the same process): one handler, in the new place; the
    root logger's level is given back at the end."""
    before = logging.getLogger().level
    first = setup_logging(tmp_path / "a")
    second = setup_logging(tmp_path / "b")
    try:
        logging.getLogger("esecure").warning("where")
        assert first.handler not in logging.getLogger().handlers
        assert log_files(tmp_path / "b")
        assert not log_files(tmp_path / "a")
    finally:
        first.close()
        second.close()
    assert logging.getLogger().level == before
