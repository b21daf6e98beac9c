"""The terminal presenter: answers given beforehand, prompts on a terminal, output."""

from __future__ import annotations

import io

import pytest

from esecure.errors import EnrolmentError
from esecure.launcher.flow.console import Answers, ConsolePresenter, answers_from
from esecure.launcher.flow.presenter import Enrolment, UpdateOffer

OFFER = UpdateOffer("2.0.0", 3_400_000, (1.4, 27.2), required=False)


def presenter(lines="", *, interactive=True, answers=None, lang="en", secret="CODE-9"):  # noqa: S107
    out, err = io.StringIO(), io.StringIO()
    shown = ConsolePresenter(
        lang=lang,
        support_phone="+33 1",
        answers=answers,
        stdin=io.StringIO(lines),
        out=out,
        err=err,
        interactive=interactive,
        secret=lambda prompt: (out.write(prompt), secret)[1],
    )
    return shown, out, err


def test_answers_from_options_then_environment():
    """Options win over the environment; a bad update answer names itself."""
    env = {"ESECURE_UPDATE": "later", "ESECURE_IDENTIFIER": "bob", "ESECURE_ACTIVATION_CODE": "X"}
    assert answers_from(None, None, None, env) == Answers("later", "bob", "X")
    assert answers_from("now", "alice", None, env) == Answers("now", "alice", "X")
    with pytest.raises(ValueError, match="expected now or later, found 'soon'"):
        answers_from("soon", None, None, {})


def test_the_code_is_never_in_a_repr():
    """Answers and the form's result keep the activation code out of logs."""
    assert "SECRET" not in repr(Answers(identifier="a", activation_code="SECRET"))
    assert "SECRET" not in repr(Enrolment("a", "SECRET"))


@pytest.mark.parametrize(("line", "choice"), [("\n", "now"), ("n\n", "later"), ("", "now")])
def test_offer_on_a_terminal(line, choice):
    """Enter takes the update, n postpones it; the size and the estimate are shown."""
    shown, out, _ = presenter(line)
    assert shown.offer_update(OFFER) == choice
    assert "Update available: version 2.0.0, 3.4 MB, about 1 to 27 s." in out.getvalue()


def test_offer_answered_beforehand_or_required():
    """A given answer is used; a required release is taken without asking; without a
    terminal and without an answer, now."""
    assert presenter(answers=Answers(update="later"))[0].offer_update(OFFER) == "later"
    required = UpdateOffer("2.0.0", 1, (1, 2), required=True)
    assert presenter(answers=Answers(update="later"))[0].offer_update(required) == "now"
    assert presenter(interactive=False)[0].offer_update(OFFER) == "now"


def test_enrolment_prompts_with_the_serial_and_hides_the_code():
    """On a terminal: the serial shown, the identifier read, the code read without echo."""
    shown, out, _ = presenter("alice\n", lang="fr")
    assert shown.ask_enrolment("KEY-1", None) == Enrolment("alice", "CODE-9")
    text = out.getvalue()
    assert "Numéro de série de la clé : KEY-1" in text and "Code d'activation : " in text
    assert "CODE-9" not in text


def test_given_answers_are_used_once_then_the_refusal_ends_without_a_terminal():
    """Given answers go first; after a refusal, without a terminal: shown, then None."""
    shown, _, err = presenter(interactive=False, answers=Answers(None, "alice", "C"))
    assert shown.ask_enrolment("KEY-1", None) == Enrolment("alice", "C")
    refusal = EnrolmentError("401", code="ES203")
    assert shown.ask_enrolment("KEY-1", refusal) is None
    assert err.getvalue().startswith("error ES203: Please enter your identifier")


def test_an_empty_identifier_cancels():
    """Enter at the identifier prompt cancels the form."""
    assert presenter("\n")[0].ask_enrolment("KEY-1", None) is None


def test_progress_is_not_repeated():
    """The same step at the same twentieth is printed once (download progress is chatty)."""
    shown, out, _ = presenter()
    for done in range(100):
        shown.progress("updates", 0.2 + done / 1000, f"download: {done}/100")
    shown.progress("certificate", 0.45, "Checking the certificate…")
    lines = out.getvalue().splitlines()
    assert lines[-1] == "[ 45%] Checking the certificate…"
    assert len(lines) <= 4


def test_error_shows_the_report():
    """The error in full, then where the support report is."""
    shown, _, err = presenter()
    shown.show_error(EnrolmentError("x", code="ES202"), report=None)
    assert "support: +33 1" in err.getvalue()
