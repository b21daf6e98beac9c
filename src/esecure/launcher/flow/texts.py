"""The flow's own words, in French and English (errors have theirs in the catalogue)."""

from __future__ import annotations

from esecure.errors import Text

__all__ = ["TEXTS", "text"]


def _t(en: str, fr: str) -> Text:
    return Text(en=en, fr=fr)


TEXTS: dict[str, Text] = {
    "self-check": _t("Checking the key…", "Vérification de la clé…"),
    "lock": _t("Starting e-secure…", "Démarrage d'e-secure…"),
    "data-area": _t("Preparing the key…", "Préparation de la clé…"),
    "data-area.first": _t(
        "Activation of the key (first use), please wait…",
        "Activation de la clé (première utilisation), veuillez patienter…",
    ),
    "activated": _t(
        "The key is activated: no restart is needed.",
        "La clé est activée : aucun redémarrage n'est nécessaire.",
    ),
    "updates": _t("Looking for updates…", "Recherche de mises à jour…"),
    "updates.apply": _t("Installing the update…", "Installation de la mise à jour…"),
    "updates.restart": _t(
        "Update installed: e-secure starts again (keep the key plugged in)…",
        "Mise à jour installée : e-secure redémarre (laissez la clé branchée)…",
    ),
    "certificate": _t("Checking the certificate…", "Vérification du certificat…"),
    "certificate.renew": _t("Renewing the certificate…", "Renouvellement du certificat…"),
    "certificate.enrol": _t(
        "Certificate download and installation…",
        "Téléchargement et installation du certificat…",
    ),
    "profile": _t("Preparing the browser…", "Préparation du navigateur…"),
    "profile.certificate": _t(
        "Installing the certificate in the browser…",
        "Installation du certificat dans le navigateur…",
    ),
    "browser": _t("Connecting to {portal}, please wait…", "Connexion à {portal} en cours…"),
    "running": _t(
        "{portal} is open in the key's browser. Use the key's icon near the clock to open "
        "the site again or to remove the key.",
        "{portal} est ouvert dans le navigateur de la clé. Utilisez l'icône de la clé près "
        "de l'horloge pour rouvrir le site ou retirer la clé.",
    ),
    "already-running": _t(
        "e-secure is already running: its browser was brought to the front.",
        "e-secure est déjà lancé : son navigateur a été mis au premier plan.",
    ),
    "already-starting": _t(
        "e-secure is already starting: please wait for its window.",
        "e-secure est déjà en cours de démarrage : veuillez patienter.",
    ),
    "cancelled": _t(
        "Enrolment cancelled: the key was not activated. Start it again when you have your "
        "identifier and activation code.",
        "Enrôlement annulé : la clé n'a pas été activée. Relancez-la quand vous aurez votre "
        "identifiant et votre code d'activation.",
    ),
    "no-windows": _t(
        "e-secure: the windows are not available here ({reason}); going on in this terminal.",
        "e-secure : les fenêtres ne sont pas disponibles ici ({reason}) ; le démarrage "
        "continue dans ce terminal.",
    ),
    "ended": _t("The e-secure session has ended.", "La session e-secure est terminée."),
}


def text(key: str, lang: str, **values: str) -> str:
    """The text ``key`` in ``lang`` (English for a language we do not speak), with its
    ``{name}`` fields filled in."""
    return TEXTS[key].get(lang).format(**values)
