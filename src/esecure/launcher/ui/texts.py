"""The windows' and the tray's own words, in French and English (the flow's progress texts
are the flow's, errors have theirs in the catalogue)."""

from __future__ import annotations

from esecure.errors import Text

__all__ = ["TEXTS", "format_seconds", "format_size", "page_texts", "say"]


def _t(en: str, fr: str) -> Text:
    return Text(en=en, fr=fr)


TEXTS: dict[str, Text] = {
    # --- the progress page
    "starting": _t("Starting…", "Démarrage…"),
    # --- the update offer
    "offer.title": _t("An update is available", "Une mise à jour est disponible"),
    "offer.version": _t("Version {version}", "Version {version}"),
    "offer.size": _t("Download: {size}", "Téléchargement : {size}"),
    "offer.time": _t("Estimated time: {time}", "Durée estimée : {time}"),
    "offer.required": _t(
        "This update is required: the key needs it to go on.",
        "Cette mise à jour est obligatoire : la clé en a besoin pour continuer.",
    ),
    "offer.optional": _t(
        "You may install it now, or later at the next start.",
        "Vous pouvez l'installer maintenant, ou plus tard au prochain démarrage.",
    ),
    "offer.keep": _t(
        "Keep the key plugged in during the update. It starts again by itself.",
        "Laissez la clé branchée pendant la mise à jour. Elle redémarre toute seule.",
    ),
    "offer.now": _t("Update now", "Mettre à jour maintenant"),
    "offer.later": _t("Later", "Plus tard"),
    # --- the enrolment form
    "enrol.title": _t("Activate your key", "Activation de votre clé"),
    "enrol.intro": _t(
        "Please enter your identifier and activation code, as given by your adviser.",
        "Veuillez saisir votre identifiant et votre code d'activation, transmis par votre "
        "conseiller.",
    ),
    "enrol.serial": _t("Key serial number", "Numéro de série de la clé"),
    "enrol.identifier": _t("Identifier", "Identifiant"),
    "enrol.code": _t("Activation code", "Code d'activation"),
    "enrol.submit": _t("Activate", "Activer"),
    "enrol.cancel": _t("Cancel", "Annuler"),
    "enrol.missing": _t("Please fill in both fields.", "Veuillez remplir les deux champs."),
    "enrol.sending": _t("Sending…", "Envoi…"),
    # --- the error page
    "error.code": _t("Error {code}", "Erreur {code}"),
    "error.detail": _t("What happened", "Ce qui s'est passé"),
    "error.cause": _t("Why", "Pourquoi"),
    "error.action": _t("What to do", "Que faire"),
    "error.support": _t("Support: {phone}", "Assistance : {phone}"),
    "error.save": _t("Save the report", "Enregistrer le rapport"),
    "error.saved": _t("Report saved: {path}", "Rapport enregistré : {path}"),
    "error.not-saved": _t(
        "The report could not be saved: {reason}",
        "Le rapport n'a pas pu être enregistré : {reason}",
    ),
    "error.report": _t("Support report: {path}", "Rapport d'assistance : {path}"),
    "error.close": _t("Close", "Fermer"),
    "notice.title": _t("Note", "Remarque"),
    "notice.ok": _t("OK", "OK"),
    # --- the session page and the tray
    "session.open": _t("Open {portal}", "Ouvrir {portal}"),
    "session.diagnostics": _t("Diagnostics", "Diagnostic"),
    "session.remove": _t("Remove the key", "Retirer la clé"),
    "session.hide": _t("Hide this window", "Masquer cette fenêtre"),
    "session.removing": _t(
        "Closing the browser and removing the key…",
        "Fermeture du navigateur et retrait de la clé…",
    ),
    "close": _t("Close", "Fermer"),
    # --- removing the key (said by the end of the session)
    "removed.safe": _t(
        "You can now unplug the key safely. Keep it in a safe place.",
        "Vous pouvez maintenant débrancher la clé en toute sécurité. Conservez-la en lieu sûr.",
    ),
    "removed.unsafe": _t(
        "The key could not be ejected ({reason}). Close the programs that use it, then use "
        'your computer\'s "safely remove" before unplugging it.',
        "La clé n'a pas pu être éjectée ({reason}). Fermez les programmes qui l'utilisent, "
        "puis utilisez « retirer le périphérique en toute sécurité » avant de la débrancher.",
    ),
    "removed.fixed": _t(
        "The session has ended; the key's files are not on a removable drive here, so "
        "there is nothing to eject.",
        "La session est terminée ; les fichiers de la clé ne sont pas sur un support amovible "
        "ici : il n'y a rien à éjecter.",
    ),
    # --- sizes and times
    "unit.b": _t("{n} bytes", "{n} octets"),
    "unit.kb": _t("{n} kB", "{n} ko"),
    "unit.mb": _t("{n} MB", "{n} Mo"),
    "unit.gb": _t("{n} GB", "{n} Go"),
    "time.second": _t("1 second", "1 seconde"),
    "time.seconds": _t("{n} seconds", "{n} secondes"),
    "time.minutes": _t("{n} minutes", "{n} minutes"),
    "time.minute": _t("1 minute", "1 minute"),
    "time.range": _t("{low} to {high}", "{low} à {high}"),
    "time.about": _t("about {time}", "environ {time}"),
    # --- Windows without WebView2
    "webview2.missing": _t(
        "The key's windows need Microsoft Edge WebView2, which this computer lacks: the key "
        "works with simple dialog boxes instead. Your IT department can install the "
        '"WebView2 Runtime" (Evergreen) from Microsoft\'s site '
        "(https://developer.microsoft.com/microsoft-edge/webview2/).",
        "Les fenêtres de la clé ont besoin de Microsoft Edge WebView2, absent de cet "
        "ordinateur : la clé fonctionne avec de simples boîtes de dialogue. Votre service "
        "informatique peut installer le « WebView2 Runtime » (Evergreen) depuis le site de "
        "Microsoft (https://developer.microsoft.com/microsoft-edge/webview2/).",
    ),
    "native.offer": _t(
        "Update available: version {version}, {size}, {time}.\n\nUpdate now? (No: later)",
        "Mise à jour disponible : version {version}, {size}, {time}.\n\nMettre à jour "
        "maintenant ? (Non : plus tard)",
    ),
    "native.required": _t(
        "A required update will be installed: version {version}, {size}, {time}.",
        "Une mise à jour obligatoire va être installée : version {version}, {size}, {time}.",
    ),
    "native.enrol": _t(
        "To activate the key (serial number {serial}), its window needs WebView2.",
        "Pour activer la clé (numéro de série {serial}), sa fenêtre a besoin de WebView2.",
    ),
}

# The texts the page needs whatever the step (looked up by key in page.js).
_PAGE_KEYS = tuple(
    key
    for key in TEXTS
    if key.split(".")[0] in ("starting", "offer", "enrol", "error", "notice", "session", "close")
)


def say(key: str, lang: str, **values: str) -> str:
    """The text ``key`` in ``lang`` (English for a language we do not speak), filled in."""
    return TEXTS[key].get(lang).format(**values) if values else TEXTS[key].get(lang)


def page_texts(lang: str, portal: str) -> dict[str, str]:
    """Every text the page shows, in ``lang`` (``{portal}`` filled in; other fields are
    filled by the page)."""
    return {key: TEXTS[key].get(lang).replace("{portal}", portal) for key in _PAGE_KEYS}


def _number(value: float, lang: str) -> str:
    """``value`` with one decimal under 10, none above; a decimal comma in French."""
    shown = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    shown = shown.removesuffix(".0")
    return shown.replace(".", ",") if lang == "fr" else shown


def format_size(size: int, lang: str) -> str:
    """``size`` bytes for a person: ``12.3 MB`` / ``12,3 Mo`` (decimal units)."""
    if size < 1000:
        return say("unit.b", lang, n=str(max(size, 0)))
    for unit, scale in (("kb", 1e3), ("mb", 1e6), ("gb", 1e9)):
        if size < scale * 1000 or unit == "gb":
            return say(f"unit.{unit}", lang, n=_number(size / scale, lang))
    raise AssertionError("unreachable")  # pragma: no cover


def _duration(seconds: float, lang: str) -> str:
    if seconds < 60:
        whole = round(seconds)
        return say("time.second", lang) if whole <= 1 else say("time.seconds", lang, n=str(whole))
    minutes = round(seconds / 60)
    return say("time.minute", lang) if minutes <= 1 else say("time.minutes", lang, n=str(minutes))


def format_seconds(estimate: tuple[float, float], lang: str) -> str:
    """An estimate ``(fastest, slowest)`` for a person: ``about 5 seconds`` when both
    round alike, else ``5 seconds to 2 minutes``."""
    fast, slow = sorted(estimate)
    low, high = _duration(fast, lang), _duration(slow, lang)
    if low == high:
        return say("time.about", lang, time=low)
    return say("time.range", lang, low=low, high=high)
