"""The portal's texts in English and French, and the choice of language.

The language is, in order: a ``?lang=`` the user clicked (the switch on every page, kept in
a cookie), that cookie, the browser's ``Accept-Language`` (RFC 9110 12.5.4, by quality),
then the project's default language. Only the project's languages are offered.
``{portal}``, ``{bank}``, ``{phone}`` and ``{minutes}`` are filled from the project.
"""

from __future__ import annotations

__all__ = ["TEXTS", "negotiate", "text"]


def _t(en: str, fr: str) -> tuple[str, str]:
    return en, fr


TEXTS: dict[str, tuple[str, str]] = {
    # id: (English, French)
    "lang.name": _t("English", "Français"),
    "lang.switch": _t("Language", "Langue"),
    "nav.guide": _t("Online user guide", "Guide d'utilisation en ligne"),
    "nav.logout": _t("Log out", "Se déconnecter"),
    "nav.area": _t("Client area", "Espace client"),
    "nav.services": _t("Service menu", "Menu des services"),
    "nav.skip": _t("Skip to the content", "Aller au contenu"),
    "footer.support": _t("Support: {phone}", "Assistance : {phone}"),
    "login.title": _t("Business area", "Espace Entreprises"),
    "login.intro": _t(
        "Enter the identifier your adviser gave you, then click “Access with certificate”.",
        "Indiquez l'identifiant remis par votre conseiller, puis cliquez sur « Accès avec "
        "certificat ».",
    ),
    "login.identifier": _t("Identifier", "Identifiant"),
    "login.identifier.help": _t(
        "Letters, digits and . _ - @ (as written in your adviser's letter).",
        "Lettres, chiffres et . _ - @ (comme écrit dans le courrier de votre conseiller).",
    ),
    "login.identifier.invalid": _t(
        "This identifier is not well formed: use the letters, digits and . _ - @ of the "
        "identifier your adviser gave you.",
        "Cet identifiant est mal formé : utilisez les lettres, chiffres et . _ - @ de "
        "l'identifiant remis par votre conseiller.",
    ),
    "login.submit": _t("Access with certificate", "Accès avec certificat"),
    "login.key-browser": _t(
        "Use the browser the e-secure key started, not your usual browser: it holds your "
        "certificate.",
        "Utilisez le navigateur lancé par la clé e-secure, pas votre navigateur habituel : "
        "il contient votre certificat.",
    ),
    "login.expired": _t(
        "Your session ended after {minutes} minutes without activity. Please log in again.",
        "Votre session a pris fin après {minutes} minutes d'inactivité. Veuillez vous reconnecter.",
    ),
    "login.ended": _t(
        "You are logged out.",
        "Vous êtes déconnecté.",
    ),
    "code.title": _t("Secret code", "Code secret"),
    "code.intro": _t(
        "Type your six-digit secret code on the keypad below (its keys change places at "
        "each display), then click “Validate”.",
        "Saisissez votre code secret à six chiffres sur le clavier ci-dessous (ses touches "
        "changent de place à chaque affichage), puis cliquez sur « Valider ».",
    ),
    "code.first-intro": _t(
        "First connection: type the secret code you received by mail.",
        "Première connexion : saisissez le code secret reçu par courrier.",
    ),
    "code.keypad": _t("Virtual keypad", "Clavier virtuel"),
    "code.entered": _t("{count} of 6 digits typed", "{count} chiffres saisis sur 6"),
    "code.correct": _t("Correct", "Corriger"),
    "code.clear": _t("Clear", "Effacer"),
    "code.validate": _t("Validate", "Valider"),
    "code.blank": _t("(empty)", "(vide)"),
    "code.slow": _t(
        "Validating your secret code takes longer than expected (error ES402). Wait one "
        "minute, then try again; if it happens again, call support on {phone}.",
        "La validation de votre code secret prend plus de temps que prévu (erreur ES402). "
        "Patientez une minute, puis réessayez ; si cela se reproduit, appelez l'assistance "
        "au {phone}.",
    ),
    "code.slow-nojs": _t(
        "If nothing happens within {seconds} seconds after “Validate”, the bank did not "
        "answer: go back to the login page and try again; if it happens again, call "
        "support on {phone}.",
        "Si rien ne se passe dans les {seconds} secondes après « Valider », la banque n'a "
        "pas répondu : revenez à la page de connexion et réessayez ; si cela se reproduit, "
        "appelez l'assistance au {phone}.",
    ),
    "code.retry": _t("Back to the login page", "Retour à la page de connexion"),
    "code.stale": _t(
        "This keypad was replaced by a newer one (another tab or the back button). Here is "
        "a fresh keypad: type your code again.",
        "Ce clavier a été remplacé par un plus récent (autre onglet ou bouton retour). Voici "
        "un nouveau clavier : saisissez de nouveau votre code.",
    ),
    "code.incomplete": _t(
        "The code has six digits: type all of them, then validate.",
        "Le code a six chiffres : saisissez-les tous, puis validez.",
    ),
    "code.rule.six-digits": _t(
        "The code must have six digits.", "Le code doit avoir six chiffres."
    ),
    "code.rule.repeated": _t(
        "A code of one repeated digit is too easy to guess: choose another.",
        "Un code d'un seul chiffre répété est trop facile à deviner : choisissez-en un autre.",
    ),
    "code.rule.run": _t(
        "A run of consecutive digits (such as 123456 or 654321) is too easy to guess.",
        "Une suite de chiffres consécutifs (comme 123456 ou 654321) est trop facile à deviner.",
    ),
    "code.rule.pattern": _t(
        "A repeated pattern (such as 121212 or 123123) is too easy to guess.",
        "Un motif répété (comme 121212 ou 123123) est trop facile à deviner.",
    ),
    "code.rule.date": _t(
        "A code shaped like a date (DDMMYY or YYMMDD) is too easy to guess.",
        "Un code en forme de date (JJMMAA ou AAMMJJ) est trop facile à deviner.",
    ),
    "code.rule.mail-code": _t(
        "Your personal code must differ from the code received by mail.",
        "Votre code personnel doit être différent du code reçu par courrier.",
    ),
    "code.rule.help": _t(
        "Six digits; not one digit repeated, not a run such as 123456, not a repeated "
        "pattern such as 121212, not a date, not the code received by mail.",
        "Six chiffres ; pas un seul chiffre répété, pas une suite comme 123456, pas un motif "
        "répété comme 121212, pas une date, pas le code reçu par courrier.",
    ),
    "first.title": _t("Personalise your secret code", "Personnalisez votre code secret"),
    "first.step.mail": _t(
        "Step 1 of 3: type again the code you received by mail.",
        "Étape 1 sur 3 : saisissez de nouveau le code reçu par courrier.",
    ),
    "first.step.new": _t(
        "Step 2 of 3: choose your personal six-digit code.",
        "Étape 2 sur 3 : choisissez votre code personnel à six chiffres.",
    ),
    "first.step.confirm": _t(
        "Step 3 of 3: type your personal code again to confirm it.",
        "Étape 3 sur 3 : saisissez de nouveau votre code personnel pour le confirmer.",
    ),
    "first.mail-wrong": _t(
        "This is not the code received by mail. After 3 wrong codes your access is locked.",
        "Ce n'est pas le code reçu par courrier. Après 3 codes erronés, votre accès est bloqué.",
    ),
    "first.mismatch": _t(
        "The two codes differ: choose your personal code again.",
        "Les deux codes sont différents : choisissez de nouveau votre code personnel.",
    ),
    "contact.title": _t("Your contact details", "Vos coordonnées"),
    "contact.intro": _t(
        "Fill in your contact details, then click “Validate”.",
        "Complétez vos coordonnées, puis cliquez sur « Valider ».",
    ),
    "contact.email": _t("E-mail address", "Adresse e-mail"),
    "contact.email.help": _t("For example name@company.example", "Par exemple nom@societe.example"),
    "contact.phone": _t("Telephone", "Téléphone"),
    "contact.phone.help": _t(
        "8 to 15 digits, for example +33 1 23 45 67 89",
        "8 à 15 chiffres, par exemple +33 1 23 45 67 89",
    ),
    "contact.submit": _t("Validate", "Valider"),
    "contact.email.missing": _t("Enter your e-mail address.", "Indiquez votre adresse e-mail."),
    "contact.email.invalid": _t(
        "This e-mail address is not valid: write it as name@company.example.",
        "Cette adresse e-mail n'est pas valide : écrivez-la sous la forme nom@societe.example.",
    ),
    "contact.phone.missing": _t(
        "Enter your telephone number.", "Indiquez votre numéro de téléphone."
    ),
    "contact.phone.invalid": _t(
        "This telephone number is not valid: 8 to 15 digits, spaces, dots or hyphens, a + "
        "only in front.",
        "Ce numéro de téléphone n'est pas valide : 8 à 15 chiffres, espaces, points ou "
        "tirets, un + seulement au début.",
    ),
    "contact.errors": _t(
        "Please correct the fields below.", "Veuillez corriger les champs ci-dessous."
    ),
    "registered.title": _t("Your certificate is registered", "Votre certificat est enregistré"),
    "registered.intro": _t(
        "You can now use {portal}.",
        "Vous pouvez accéder à {portal}.",
    ),
    "registered.link": _t(
        "Access your banking transactions", "Accéder à vos transactions bancaires"
    ),
    "area.title": _t("Client area", "Espace client"),
    "area.welcome": _t("Welcome, {identifier}.", "Bienvenue, {identifier}."),
    "area.accounts-link": _t("Your {portal} accounts", "Vos comptes {portal}"),
    "services.title": _t("{portal} menu", "Menu {portal}"),
    "services.intro": _t(
        "Click “+” to expand a group and “-” to collapse it, then click the service you need.",
        "Cliquez sur « + » pour développer un groupe et sur « - » pour le réduire, puis "
        "cliquez sur le service demandé.",
    ),
    "group.accounts": _t("Accounts", "Comptes"),
    "group.transfers": _t("Transfers", "Virements"),
    "group.statements": _t("Statements", "Relevés"),
    "group.help": _t("Help", "Aide"),
    "service.balances": _t("Balances", "Soldes"),
    "service.operations": _t("Latest operations", "Dernières opérations"),
    "service.transfer-new": _t(
        "New transfer between your accounts", "Nouveau virement entre vos comptes"
    ),
    "service.transfer-list": _t("Transfers made", "Virements effectués"),
    "service.statements": _t("Monthly statements (PDF)", "Relevés mensuels (PDF)"),
    "service.guide": _t("Online user guide", "Guide d'utilisation en ligne"),
    "service.support": _t("Call support: {phone}", "Appeler l'assistance : {phone}"),
    "accounts.title": _t("Your accounts", "Vos comptes"),
    "accounts.number": _t("Account", "Compte"),
    "accounts.label": _t("Name", "Intitulé"),
    "accounts.balance": _t("Balance", "Solde"),
    "accounts.none": _t("No account yet.", "Aucun compte pour l'instant."),
    "operations.title": _t("Operations of account {number}", "Opérations du compte {number}"),
    "operations.day": _t("Date", "Date"),
    "operations.label": _t("Label", "Libellé"),
    "operations.amount": _t("Amount", "Montant"),
    "transfers.title": _t("Transfers", "Virements"),
    "transfers.new": _t("New transfer", "Nouveau virement"),
    "transfers.from": _t("From account", "Compte à débiter"),
    "transfers.to": _t("To account", "Compte à créditer"),
    "transfers.amount": _t("Amount (EUR)", "Montant (EUR)"),
    "transfers.amount.help": _t("For example 120.50", "Par exemple 120,50"),
    "transfers.label": _t("Label", "Libellé"),
    "transfers.submit": _t("Make the transfer", "Effectuer le virement"),
    "transfers.done": _t("The transfer is made.", "Le virement est effectué."),
    "transfers.invalid": _t(
        "The transfer was not made: choose two different accounts of yours, an amount "
        "between 0.01 and the balance of the account to debit, and a label of at most 64 "
        "characters.",
        "Le virement n'a pas été effectué : choisissez deux comptes différents parmi les "
        "vôtres, un montant entre 0,01 et le solde du compte à débiter, et un libellé de 64 "
        "caractères au plus.",
    ),
    "transfers.history": _t("Transfers made", "Virements effectués"),
    "transfers.none": _t("No transfer yet.", "Aucun virement pour l'instant."),
    "statements.title": _t("Monthly statements", "Relevés mensuels"),
    "statements.intro": _t(
        "Statements open in the browser's built-in PDF viewer: nothing to install.",
        "Les relevés s'ouvrent dans la visionneuse PDF intégrée du navigateur : rien à installer.",
    ),
    "statements.open": _t(
        "Statement {month}, account {number} (PDF)", "Relevé {month}, compte {number} (PDF)"
    ),
    "choice.title": _t("You are already connected", "Vous êtes déjà connecté"),
    "choice.intro": _t(
        "Another session of yours is open (another browser or computer). Only one session "
        "at a time is allowed (error ES401).",
        "Une autre session à votre nom est ouverte (autre navigateur ou ordinateur). Une "
        "seule session à la fois est permise (erreur ES401).",
    ),
    "choice.end-other": _t(
        "End the other session and continue here", "Fermer l'autre session et continuer ici"
    ),
    "choice.cancel": _t("Cancel this login", "Annuler cette connexion"),
    "refused.title": _t("Access refused", "Accès refusé"),
    "refused.intro": _t(
        "The identifier, the certificate or the secret code is not right (error ES412).",
        "L'identifiant, le certificat ou le code secret n'est pas correct (erreur ES412).",
    ),
    "refused.action": _t(
        "Check your identifier, use the browser started by your e-secure key, and type your "
        "secret code again. After 3 wrong codes your access is locked.",
        "Vérifiez votre identifiant, utilisez le navigateur lancé par votre clé e-secure, et "
        "saisissez de nouveau votre code secret. Après 3 codes erronés, votre accès est "
        "bloqué.",
    ),
    "cert.absent.title": _t("No certificate was presented", "Aucun certificat n'a été présenté"),
    "cert.absent.intro": _t(
        "This browser did not present your e-secure certificate (error ES410).",
        "Ce navigateur n'a pas présenté votre certificat e-secure (erreur ES410).",
    ),
    "cert.absent.action": _t(
        "Close this browser and open {portal} from your e-secure key (its icon near the "
        "clock, or e-secure.exe on the key): the key's browser holds your certificate. If "
        "that browser shows an SSL error (-12227 or -8183), call support on {phone}.",
        "Fermez ce navigateur et ouvrez {portal} depuis votre clé e-secure (son icône près "
        "de l'horloge, ou e-secure.exe sur la clé) : le navigateur de la clé contient votre "
        "certificat. Si ce navigateur affiche une erreur SSL (-12227 ou -8183), appelez "
        "l'assistance au {phone}.",
    ),
    "cert.unknown.title": _t("This certificate is not accepted", "Ce certificat n'est pas accepté"),
    "cert.unknown.intro": _t(
        "The certificate presented was not issued for {portal} (error ES410).",
        "Le certificat présenté n'a pas été délivré pour {portal} (erreur ES410).",
    ),
    "cert.revoked.title": _t("Your certificate is revoked", "Votre certificat est révoqué"),
    "cert.revoked.intro": _t(
        "The certificate of this key was revoked (key reported lost or replaced) (error ES410).",
        "Le certificat de cette clé a été révoqué (clé déclarée perdue ou remplacée) "
        "(erreur ES410).",
    ),
    "cert.expired.title": _t("Your certificate has expired", "Votre certificat a expiré"),
    "cert.expired.intro": _t(
        "The certificate of this key is out of date (error ES410). Unplug the key, plug it "
        "in again: starting the key renews its certificate.",
        "Le certificat de cette clé n'est plus valide (erreur ES410). Retirez la clé et "
        "rebranchez-la : le démarrage de la clé renouvelle son certificat.",
    ),
    "cert.disabled.title": _t("Your access is suspended", "Votre accès est suspendu"),
    "cert.disabled.intro": _t(
        "The bank suspended the access of this certificate (error ES410).",
        "La banque a suspendu l'accès de ce certificat (erreur ES410).",
    ),
    "cert.call": _t("Call support on {phone}.", "Appelez l'assistance au {phone}."),
    "locked.title": _t("Your access is locked", "Votre accès est bloqué"),
    "locked.intro": _t(
        "Three wrong secret codes were typed: your access is locked (error ES411).",
        "Trois codes secrets erronés ont été saisis : votre accès est bloqué (erreur ES411).",
    ),
    "locked.action": _t(
        "Call support on {phone}: after checking who you are, they unlock your access or "
        "send you a new code by mail.",
        "Appelez l'assistance au {phone} : après avoir vérifié votre identité, elle débloque "
        "votre accès ou vous envoie un nouveau code par courrier.",
    ),
    "mail-expired.title": _t("Your mail code has expired", "Votre code reçu par courrier a expiré"),
    "mail-expired.intro": _t(
        "The code received by mail is no longer valid (error ES411).",
        "Le code reçu par courrier n'est plus valide (erreur ES411).",
    ),
    "mail-expired.action": _t(
        "Call support on {phone} to receive a new code by mail.",
        "Appelez l'assistance au {phone} pour recevoir un nouveau code par courrier.",
    ),
    "slow.title": _t("The bank did not answer in time", "La banque n'a pas répondu à temps"),
    "slow.retry": _t("Try again", "Réessayer"),
    "forged.title": _t("This request cannot be used", "Cette requête ne peut pas être utilisée"),
    "forged.intro": _t(
        "The keypad sent keys that are not on it (error ES413). Nothing was checked or counted.",
        "Le clavier a envoyé des touches qui n'y figurent pas (erreur ES413). Rien n'a été "
        "vérifié ni compté.",
    ),
    "csrf.title": _t("This form has expired", "Ce formulaire a expiré"),
    "csrf.intro": _t(
        "The form was sent without its security token, or with one of another session "
        "(error ES413). Nothing was changed.",
        "Le formulaire a été envoyé sans son jeton de sécurité, ou avec celui d'une autre "
        "session (erreur ES413). Rien n'a été modifié.",
    ),
    "bad.title": _t("This request cannot be used", "Cette requête ne peut pas être utilisée"),
    "bad.intro": _t(
        "The request is malformed (error ES413). Nothing was changed.",
        "La requête est mal formée (erreur ES413). Rien n'a été modifié.",
    ),
    "too-large.title": _t("The form is too large", "Le formulaire est trop volumineux"),
    "too-large.intro": _t(
        "The request is larger than the portal accepts (error ES413). Nothing was changed.",
        "La requête dépasse la taille acceptée par le portail (erreur ES413). Rien n'a été "
        "modifié.",
    ),
    "not-found.title": _t("Page not found", "Page introuvable"),
    "not-found.intro": _t(
        "This page does not exist.",
        "Cette page n'existe pas.",
    ),
    "error.home": _t("Go to the login page", "Aller à la page de connexion"),
    "error.back-area": _t("Back to the client area", "Retour à l'espace client"),
    "logout.title": _t("You are logged out", "Vous êtes déconnecté"),
    "logout.steps": _t(
        "To finish: close the browser; right-click the bank's icon near the clock; choose "
        "“Remove the e-secure key”; unplug the key and keep it in a safe place.",
        "Pour terminer : fermez le navigateur ; cliquez (clic droit) sur l'icône de la banque "
        "près de l'horloge ; choisissez « Retirer la clé e-secure » ; débranchez la clé et "
        "conservez-la en lieu sûr.",
    ),
    "logout.again": _t("Log in again", "Se reconnecter"),
    "guide.title": _t("Online user guide", "Guide d'utilisation en ligne"),
    "guide.idle": _t(
        "After {minutes} minutes without activity the session closes.",
        "Sans activité pendant {minutes} minutes, la session se ferme.",
    ),
}


def text(key: str, lang: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (English for other languages), with ``values`` filled."""
    en, fr = TEXTS[key]
    chosen = fr if lang == "fr" else en
    return chosen.format(**values) if values else chosen


def negotiate(accept_language: str, offered: tuple[str, ...], default: str) -> str:
    """The best of ``offered`` for an ``Accept-Language`` header, else ``default``."""
    best, best_q = default, 0.0
    for index, item in enumerate(accept_language.split(",")[:32]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        language = tag.strip().lower().split("-")[0]
        # Equal qualities: the first listed wins (a tiny decrease per position).
        score = q - index * 1e-6
        if language in offered and q > 0 and score > best_q:
            best, best_q = language, score
    return best
