"""One exception hierarchy for the whole product, and the error catalogue behind it.

The hierarchy::

    EsecureError                  every error raised on purpose; carries a catalogue code
    ├── UsageError                exit 2: the command line or an input file is wrong
    │   └── ConfigError           the key project (esecure.toml, its files) is wrong
    └── OperationError            exit 1: the operation was attempted and failed
        ├── ToolError             an external tool is missing or failed
        ├── StorageError          a file could not be read or written (disk full, permissions)
        ├── IntegrityError        a signature, hash or manifest check failed
        ├── NetworkError          a server could not be reached or the exchange broke
        ├── EnrolmentError        the certificate service refused the key or its request
        ├── SessionError          the key is in use elsewhere, or the portal did not answer
        └── UpdateError           an update could not be checked or applied
            └── UpdateSecurityError  the update channel failed a security check

Each raise names a catalogue entry by its stable code. The entry holds what the user reads
(title and message in French and English), the cause, the action, whether to call support,
and the row of the original guide's error table (E1-E12 in USER-JOURNEY.md) it answers.
Only the CLI's ``main()`` and the launcher's UI turn errors into exit codes or windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

__all__ = [
    "CATALOGUE",
    "ConfigError",
    "EnrolmentError",
    "Entry",
    "EsecureError",
    "IntegrityError",
    "NetworkError",
    "OperationError",
    "Problem",
    "SessionError",
    "StorageError",
    "Text",
    "ToolError",
    "UpdateError",
    "UpdateSecurityError",
    "UsageError",
    "entry",
]

Lang = Literal["en", "fr"]
LANGUAGES: tuple[Lang, ...] = ("en", "fr")


@dataclass(frozen=True)
class Text:
    """One sentence in each language the product speaks."""

    en: str
    fr: str

    def get(self, lang: str) -> str:
        """The text in ``lang``, English for any language we do not speak."""
        return self.fr if lang == "fr" else self.en


@dataclass(frozen=True)
class Entry:
    """One row of the error catalogue. Codes are stable: never renumber or reuse one."""

    code: str
    name: str
    audience: Literal["user", "operator"]
    title: Text
    message: Text
    cause: Text
    action: Text
    call_support: bool
    seed_row: str | None = None
    detection: str = ""


def _t(en: str, fr: str) -> Text:
    return Text(en=en, fr=fr)


_ENTRIES: tuple[Entry, ...] = (
    # --- the key and its image (ES1xx) -----------------------------------------------------
    Entry(
        code="ES101",
        name="key-defective",
        audience="user",
        seed_row="E1",
        title=_t("The key is damaged", "La clé est endommagée"),
        message=_t(
            "A problem occurred during installation; this device may not work properly.",
            "Un problème est survenu lors de l'installation ; ce périphérique risque de ne "
            "pas fonctionner correctement.",
        ),
        cause=_t(
            "A file on the key does not match the signed list of its contents: the key is "
            "damaged or was altered.",
            "Un fichier de la clé ne correspond pas à la liste signée de son contenu : la clé "
            "est endommagée ou a été modifiée.",
        ),
        action=_t(
            "Do not use this key. Call support to get a replacement key.",
            "N'utilisez plus cette clé. Appelez l'assistance pour obtenir une clé de remplacement.",
        ),
        call_support=True,
        detection="The launcher's self-check: manifest signature, every file's size, full "
        "hashes of its own files and trust/ (esecure verify: every file); a changed or "
        "unlisted file or a bad signature (files only missing or unopenable are ES102).",
    ),
    Entry(
        code="ES102",
        name="file-blocked",
        audience="user",
        seed_row="E4",
        title=_t("A security program blocks the key", "Un logiciel de sécurité bloque la clé"),
        message=_t(
            "A file on the key could not be read: a threat was reported or access was denied.",
            "Un fichier de la clé n'a pas pu être lu : une menace a été signalée ou l'accès a "
            "été refusé.",
        ),
        cause=_t(
            "The antivirus on this computer blocks or quarantines a file of the key.",
            "L'antivirus de cet ordinateur bloque ou met en quarantaine un fichier de la clé.",
        ),
        action=_t(
            "Call support: they will tell your IT department which file to allow.",
            "Appelez l'assistance : elle indiquera à votre service informatique quel fichier "
            "autoriser.",
        ),
        call_support=True,
        detection="Self-check and diagnostics: listed files missing or unopenable (access "
        "denied, sharing violation, virus detected) while every other file matches the "
        "signed manifest, as a quarantine leaves them; each is named.",
    ),
    Entry(
        code="ES103",
        name="key-not-seen",
        audience="user",
        seed_row="E9",
        title=_t("The computer does not see the key", "L'ordinateur ne voit pas la clé"),
        message=_t(
            "The key's light does not come on.",
            "Le voyant de la clé ne s'allume pas.",
        ),
        cause=_t(
            "Windows and the key do not agree (USB port, hub or driver).",
            "Conflit entre Windows et la clé (port USB, concentrateur ou pilote).",
        ),
        action=_t(
            "Plug the key directly into another USB port of the computer; if the light stays "
            "off, call support.",
            "Branchez la clé directement sur un autre port USB de l'ordinateur ; si le voyant "
            "reste éteint, appelez l'assistance.",
        ),
        call_support=True,
        detection="None by software: when the key is not seen, no program of the key runs. "
        "Documented for support.",
    ),
    Entry(
        code="ES104",
        name="autorun-disabled",
        audience="user",
        seed_row="E10",
        title=_t("The key does not start by itself", "La clé ne démarre pas automatiquement"),
        message=_t(
            "Nothing happens within 30 seconds after plugging the key in.",
            "Rien ne se passe dans les 30 secondes qui suivent le branchement de la clé.",
        ),
        cause=_t(
            "Automatic start (autorun) was disabled by your company's IT security officer; "
            "only they can change it.",
            "Le démarrage automatique a été désactivé par le responsable de la sécurité "
            "informatique de votre entreprise ; lui seul peut le modifier.",
        ),
        action=_t(
            "Open the key's drive (often the last letter, e.g. F:) and double-click e-secure.exe.",
            "Ouvrez le lecteur de la clé (souvent la dernière lettre, par exemple F:) et "
            "double-cliquez sur e-secure.exe.",
        ),
        call_support=False,
        detection="None at insertion (no program runs). Diagnostics report the host's autorun "
        "policy; the manual start works the same from any drive letter.",
    ),
    Entry(
        code="ES105",
        name="host-policies-weaken",
        audience="user",
        title=_t(
            "This computer changes the key's browser settings",
            "Cet ordinateur modifie les réglages du navigateur de la clé",
        ),
        message=_t(
            "Browser rules set on this computer would weaken the protection of the key's browser.",
            "Des règles de navigateur définies sur cet ordinateur affaibliraient la protection "
            "du navigateur de la clé.",
        ),
        cause=_t(
            "The computer's administrator installed Firefox policies (on Linux in "
            "/etc/firefox/policies, on Windows through Group Policy) that Firefox applies "
            "on top of, or instead of, the key's own.",
            "L'administrateur de l'ordinateur a installé des règles Firefox (sous Linux dans "
            "/etc/firefox/policies, sous Windows par stratégie de groupe) que Firefox applique "
            "en plus, ou à la place, de celles de la clé.",
        ),
        action=_t(
            "Use the key on another computer, or ask your IT department to remove the listed "
            "Firefox policies; call support if you need help.",
            "Utilisez la clé sur un autre ordinateur, ou demandez à votre service informatique "
            "de retirer les règles Firefox indiquées ; appelez l'assistance si besoin.",
        ),
        call_support=True,
        detection="At start, the launcher compares the host's Firefox policies with the "
        "key's distribution/policies.json (pure comparison); warns or refuses per "
        "[firefox] host_policies.",
    ),
    Entry(
        code="ES106",
        name="data-area-unusable",
        audience="user",
        seed_row="E1",
        title=_t("The key cannot be prepared", "La clé ne peut pas être préparée"),
        message=_t(
            "A problem occurred during installation; this device may not work properly.",
            "Un problème est survenu lors de l'installation ; ce périphérique risque de ne "
            "pas fonctionner correctement.",
        ),
        cause=_t(
            "The key's data area (its writable part) cannot be found or written: it is "
            "full, write-protected, damaged, or was pulled out.",
            "La zone de données de la clé (sa partie inscriptible) est introuvable ou ne peut "
            "pas être écrite : elle est pleine, protégée en écriture, endommagée, ou la clé a "
            "été retirée.",
        ),
        action=_t(
            "Unplug the key, plug it in directly (not through a hub) and start it again; if "
            "it happens again, call support for a replacement key.",
            "Débranchez la clé, rebranchez-la directement (sans concentrateur) et relancez-la ; "
            "si le problème se reproduit, appelez l'assistance pour obtenir une clé de "
            "remplacement.",
        ),
        call_support=True,
        detection="The launcher's first step after the lock: the data area is found and its "
        "state file, pki/, profile/, logs/ and reports/ are written (first use) or present.",
    ),
    Entry(
        code="ES107",
        name="launcher-internal-error",
        audience="user",
        title=_t("e-secure stopped unexpectedly", "e-secure s'est arrêté de façon inattendue"),
        message=_t(
            "e-secure stopped on an unexpected error.",
            "e-secure s'est arrêté sur une erreur inattendue.",
        ),
        cause=_t(
            "A defect in the key's program, not something you did.",
            "Un défaut du programme de la clé, pas une erreur de votre part.",
        ),
        action=_t(
            "Start the key again; if it happens again, call support with the support report.",
            "Relancez la clé ; si cela se reproduit, appelez l'assistance avec le rapport "
            "d'assistance.",
        ),
        call_support=True,
        detection="Any exception a step of the start-up flow did not expect; the log keeps "
        "its traceback, the window shows this entry.",
    ),
    # --- certificate enrolment (ES2xx) -----------------------------------------------------
    Entry(
        code="ES201",
        name="enrolment-intercepted",
        audience="user",
        seed_row="E2",
        title=_t(
            "The certificate service cannot be reached safely",
            "Le service de délivrance des certificats n'est pas joignable en sécurité",
        ),
        message=_t(
            "An error occurred while communicating with the certificate delivery service.",
            "Une erreur est survenue lors de la communication avec le service de délivrance "
            "des certificats.",
        ),
        cause=_t(
            "Something on this computer (antivirus, proxy) intercepts the connection: the "
            "server's certificate is not the bank's, or the connection was cut mid-way.",
            "Un élément de cet ordinateur (antivirus, proxy) intercepte la connexion : le "
            "certificat du serveur n'est pas celui de la banque, ou la connexion a été coupée.",
        ),
        action=_t(
            "Call support with the support report.",
            "Appelez l'assistance avec le rapport d'assistance.",
        ),
        call_support=True,
        detection="Enrolment client: certificate chain not issued by the CA pinned in trust/, "
        "or connection reset during the exchange.",
    ),
    Entry(
        code="ES202",
        name="serial-not-recognised",
        audience="user",
        seed_row="E3",
        title=_t("The key is not recognised", "La clé n'est pas reconnue"),
        message=_t(
            "The certificate delivery service does not recognise your key's serial number as "
            "valid.",
            "Le service de délivrance des certificats ne reconnaît pas le numéro de série de "
            "votre clé comme valide.",
        ),
        cause=_t(
            "This key is not registered, is blocked, or was handed to another customer.",
            "Cette clé n'est pas enregistrée, est bloquée, ou a été remise à un autre client.",
        ),
        action=_t(
            "Call support and give them the key's serial number shown below.",
            "Appelez l'assistance et donnez-lui le numéro de série de la clé affiché ci-dessous.",
        ),
        call_support=True,
        detection="EST answers 403 with the binding refusal (serial unknown, blocked or bound "
        "to another identifier).",
    ),
    Entry(
        code="ES203",
        name="activation-code-wrong",
        audience="user",
        seed_row="E3",
        title=_t("Wrong activation code", "Code d'activation incorrect"),
        message=_t(
            "Please enter your identifier and activation code: the pair given was not accepted.",
            "Veuillez saisir votre identifiant et votre code d'activation : le couple saisi n'a "
            "pas été accepté.",
        ),
        cause=_t(
            "The identifier or the activation code received by mail with the key is mistyped.",
            "L'identifiant ou le code d'activation reçu par courrier avec la clé est mal saisi.",
        ),
        action=_t(
            "Type the identifier and the activation code again exactly as in the letter "
            "(after 5 wrong tries you must wait a few minutes).",
            "Saisissez de nouveau l'identifiant et le code d'activation exactement comme dans "
            "le courrier (après 5 essais erronés, il faut patienter quelques minutes).",
        ),
        call_support=False,
        detection="EST simpleenroll answers 401 to the HTTP Basic credentials.",
    ),
    Entry(
        code="ES204",
        name="activation-locked",
        audience="user",
        seed_row="E3",
        title=_t("Too many wrong codes", "Trop de codes incorrects"),
        message=_t(
            "Too many wrong activation codes: try again in a few minutes.",
            "Trop de codes d'activation incorrects : réessayez dans quelques minutes.",
        ),
        cause=_t(
            "Five wrong activation codes were typed for this identifier; the service waits "
            "before it accepts another try (this is not a permanent lock).",
            "Cinq codes d'activation incorrects ont été saisis pour cet identifiant ; le "
            "service attend avant d'accepter un nouvel essai (ce n'est pas un blocage "
            "définitif).",
        ),
        action=_t(
            "Wait for the time shown, then type the code again carefully; if you have lost "
            "the letter, call support for a new code.",
            "Attendez le délai indiqué, puis saisissez de nouveau le code avec soin ; si vous "
            "avez perdu le courrier, appelez l'assistance pour obtenir un nouveau code.",
        ),
        call_support=False,
        detection="EST simpleenroll answers 429 with Retry-After.",
    ),
    Entry(
        code="ES205",
        name="activation-code-used",
        audience="user",
        seed_row="E3",
        title=_t("Activation code already used", "Code d'activation déjà utilisé"),
        message=_t(
            "This activation code was already used to enrol a key.",
            "Ce code d'activation a déjà servi à enrôler une clé.",
        ),
        cause=_t(
            "An activation code works once; the certificate it gave was lost (data area "
            "erased) or someone else used the code.",
            "Un code d'activation ne sert qu'une fois ; le certificat obtenu a été perdu (zone "
            "de données effacée) ou quelqu'un d'autre a utilisé le code.",
        ),
        action=_t(
            "Call support: they check the key and send a new activation code.",
            "Appelez l'assistance : elle vérifie la clé et envoie un nouveau code d'activation.",
        ),
        call_support=True,
        detection="EST simpleenroll answers 401 with reason code-used (the code matched).",
    ),
    Entry(
        code="ES206",
        name="activation-code-expired",
        audience="user",
        seed_row="E3",
        title=_t("Activation code expired", "Code d'activation expiré"),
        message=_t(
            "This activation code has expired.",
            "Ce code d'activation a expiré.",
        ),
        cause=_t(
            "Activation codes are valid for a limited time after they are sent.",
            "Les codes d'activation ne sont valables qu'un temps limité après leur envoi.",
        ),
        action=_t(
            "Call support to receive a new activation code.",
            "Appelez l'assistance pour recevoir un nouveau code d'activation.",
        ),
        call_support=True,
        detection="EST simpleenroll answers 401 with reason code-expired (the code matched).",
    ),
    Entry(
        code="ES207",
        name="enrolment-request-refused",
        audience="user",
        seed_row="E2",
        title=_t("Certificate request refused", "Demande de certificat refusée"),
        message=_t(
            "The certificate delivery service refused the key's request.",
            "Le service de délivrance des certificats a refusé la demande de la clé.",
        ),
        cause=_t(
            "The request made by the key does not match what the service expects (a "
            "different service, or a damaged key program).",
            "La demande faite par la clé ne correspond pas à ce qu'attend le service (un autre "
            "service, ou un programme de la clé endommagé).",
        ),
        action=_t(
            "Call support with the support report: it names the reason the service gave.",
            "Appelez l'assistance avec le rapport d'assistance : il indique la raison donnée "
            "par le service.",
        ),
        call_support=True,
        detection="EST answers 400 or 415 (CSR or body refused), with the reason in the body.",
    ),
    Entry(
        code="ES208",
        name="renewal-refused",
        audience="user",
        seed_row="E3",
        title=_t("The certificate cannot be renewed", "Le certificat ne peut pas être renouvelé"),
        message=_t(
            "The certificate delivery service refused to renew the key's certificate.",
            "Le service de délivrance des certificats a refusé de renouveler le certificat de "
            "la clé.",
        ),
        cause=_t(
            "The key's certificate was revoked (key reported lost) or is no longer accepted.",
            "Le certificat de la clé a été révoqué (clé déclarée perdue) ou n'est plus accepté.",
        ),
        action=_t(
            "Call support: if the key was reported lost by mistake, they will send a new "
            "activation code.",
            "Appelez l'assistance : si la clé a été déclarée perdue par erreur, elle enverra "
            "un nouveau code d'activation.",
        ),
        call_support=True,
        detection="EST simplereenroll answers 401/403 to the TLS client certificate.",
    ),
    Entry(
        code="ES209",
        name="key-identity-missing",
        audience="user",
        seed_row="E1",
        title=_t("The key has no serial number", "La clé n'a pas de numéro de série"),
        message=_t(
            "The key's identity (its serial number) cannot be read.",
            "L'identité de la clé (son numéro de série) est illisible.",
        ),
        cause=_t(
            "The data area of the key lacks its identity file, or the file is damaged.",
            "La zone de données de la clé n'a pas de fichier d'identité, ou il est endommagé.",
        ),
        action=_t(
            "Call support to get a replacement key.",
            "Appelez l'assistance pour obtenir une clé de remplacement.",
        ),
        call_support=True,
        detection='The launcher reads identity.json (key "serial") in the data area.',
    ),
    Entry(
        code="ES210",
        name="key-store-unreadable",
        audience="user",
        seed_row="E1",
        title=_t("The key's certificate is damaged", "Le certificat de la clé est endommagé"),
        message=_t(
            "The certificate or the private key stored on the key cannot be read.",
            "Le certificat ou la clé privée enregistrés sur la clé sont illisibles.",
        ),
        cause=_t(
            "The files under pki/ in the key's data area are damaged or were altered.",
            "Les fichiers de pki/ dans la zone de données de la clé sont endommagés ou ont été "
            "modifiés.",
        ),
        action=_t(
            "Call support: they will send a new activation code to enrol the key again.",
            "Appelez l'assistance : elle enverra un nouveau code d'activation pour enrôler de "
            "nouveau la clé.",
        ),
        call_support=True,
        detection="Reading pki/secret, decrypting pki/credential.pem or parsing its chain fails.",
    ),
    Entry(
        code="ES211",
        name="certificate-delivery-failed",
        audience="user",
        seed_row="E8",
        title=_t(
            "The certificate could not be given to the browser",
            "Le certificat n'a pas pu être transmis au navigateur",
        ),
        message=_t(
            "Installing the certificate into the key's browser failed.",
            "L'installation du certificat dans le navigateur de la clé a échoué.",
        ),
        cause=_t(
            "The browser's certificate store on the key could not be written (browser still "
            "open, damaged profile, or a security program blocks it).",
            "Le magasin de certificats du navigateur de la clé n'a pas pu être écrit "
            "(navigateur encore ouvert, profil endommagé, ou un logiciel de sécurité le bloque).",
        ),
        action=_t(
            "Close the key's browser and start the key again; if it fails again, call support.",
            "Fermez le navigateur de la clé et relancez la clé ; en cas de nouvel échec, "
            "appelez l'assistance.",
        ),
        call_support=True,
        detection="NSS (ctypes or certutil/pk12util) reports an error while importing.",
    ),
    # --- network (ES3xx) -------------------------------------------------------------------
    Entry(
        code="ES301",
        name="server-unreachable",
        audience="user",
        seed_row="E5",
        title=_t("The bank's server cannot be reached", "Le serveur de la banque est injoignable"),
        message=_t(
            "Timeout exceeded, or server not found.",
            "Délai d'attente dépassé, ou serveur introuvable.",
        ),
        cause=_t(
            "This computer's internet settings (proxy, firewall) do not let the key reach the "
            "bank, or the internet connection is down.",
            "Les paramètres internet de cet ordinateur (proxy, pare-feu) ne permettent pas à "
            "la clé de joindre la banque, ou la connexion internet est coupée.",
        ),
        action=_t(
            "Check that other sites open; then call support to check the proxy settings.",
            "Vérifiez que d'autres sites s'ouvrent ; puis appelez l'assistance pour vérifier "
            "les paramètres du proxy.",
        ),
        call_support=True,
        detection="Name resolution failure or connect/read time-out on any bank URL.",
    ),
    Entry(
        code="ES302",
        name="tls-handshake-failed",
        audience="user",
        seed_row="E8",
        title=_t("Secure connection failed", "Échec de la connexion sécurisée"),
        message=_t(
            "The secure (SSL) connection to the bank failed (handshake failure).",
            "La connexion sécurisée (SSL) avec la banque a échoué (échec de la négociation).",
        ),
        cause=_t(
            "The computer and the bank's server could not agree on a secure connection "
            "(protocol, cipher or certificate refused).",
            "L'ordinateur et le serveur de la banque n'ont pas pu établir une connexion "
            "sécurisée (protocole, chiffrement ou certificat refusé).",
        ),
        action=_t(
            "Call support with the support report.",
            "Appelez l'assistance avec le rapport d'assistance.",
        ),
        call_support=True,
        detection="TLS handshake error other than an untrusted chain (alert, protocol, "
        "cipher); in Firefox -12227 / -8183.",
    ),
    Entry(
        code="ES303",
        name="proxy-refused",
        audience="user",
        seed_row="E5",
        title=_t("The proxy refused the connection", "Le proxy a refusé la connexion"),
        message=_t(
            "The proxy of this computer refused to connect to the bank.",
            "Le proxy de cet ordinateur a refusé la connexion à la banque.",
        ),
        cause=_t(
            "The internet settings name a proxy that refuses the bank's address or asks for "
            "a password the key cannot give.",
            "Les paramètres internet désignent un proxy qui refuse l'adresse de la banque ou "
            "demande un mot de passe que la clé ne peut pas fournir.",
        ),
        action=_t(
            "Call support to check the proxy settings with your IT department.",
            "Appelez l'assistance pour vérifier les paramètres du proxy avec votre service "
            "informatique.",
        ),
        call_support=True,
        detection="The proxy answers the CONNECT request with an error status (e.g. 403, 407).",
    ),
    Entry(
        code="ES304",
        name="service-unavailable",
        audience="user",
        seed_row="E7",
        title=_t("The service is busy", "Le service est surchargé"),
        message=_t(
            "The certificate delivery service is busy or did not answer properly.",
            "Le service de délivrance des certificats est surchargé ou n'a pas répondu "
            "correctement.",
        ),
        cause=_t(
            "The bank's service is overloaded or in maintenance (it kept answering 503 or an "
            "unexpected answer).",
            "Le service de la banque est surchargé ou en maintenance (il a répondu 503 ou une "
            "réponse inattendue).",
        ),
        action=_t(
            "Try again in a few minutes; if it persists, call support.",
            "Réessayez dans quelques minutes ; si le problème persiste, appelez l'assistance.",
        ),
        call_support=True,
        detection="EST answers 503 after the bounded retries, a 5xx, or a body that is not "
        "RFC 7030.",
    ),
    # --- session and portal (ES4xx) --------------------------------------------------------
    Entry(
        code="ES401",
        name="session-conflict",
        audience="user",
        seed_row="E6",
        title=_t("The key is already in use", "La clé est déjà utilisée"),
        message=_t(
            "The connection started, then stopped: another e-secure session is running.",
            "La connexion a démarré puis s'est arrêtée : une autre session e-secure est en cours.",
        ),
        cause=_t(
            "Several sessions are in conflict (the key's program or its browser is already "
            "running), or an antivirus stopped the browser.",
            "Plusieurs sessions sont en conflit (le programme de la clé ou son navigateur est "
            "déjà lancé), ou un antivirus a arrêté le navigateur.",
        ),
        action=_t(
            "Use the key's icon near the clock to open the site again, or close the other "
            "session; if it persists, call support.",
            "Utilisez l'icône de la clé près de l'horloge pour rouvrir le site, ou fermez "
            "l'autre session ; si le problème persiste, appelez l'assistance.",
        ),
        call_support=True,
        detection="Single-instance lock held by a live process, or the browser profile is "
        "locked; the portal allows one live session per user.",
    ),
    Entry(
        code="ES402",
        name="portal-no-answer",
        audience="user",
        seed_row="E7",
        title=_t("The bank did not answer", "La banque n'a pas répondu"),
        message=_t(
            "Validating your secret code takes too long.",
            "La validation de votre code secret prend trop de temps.",
        ),
        cause=_t(
            "A communication problem between this computer and the bank.",
            "Un problème de communication entre cet ordinateur et la banque.",
        ),
        action=_t(
            "Wait one minute and try again; if it happens again, call support.",
            "Patientez une minute puis réessayez ; si cela se reproduit, appelez l'assistance.",
        ),
        call_support=True,
        detection="Every portal request is bounded in time; the page shows this error "
        "instead of an endless hourglass.",
    ),
    Entry(
        code="ES410",
        name="portal-certificate-refused",
        audience="user",
        seed_row="E8",
        title=_t("The certificate was not accepted", "Le certificat n'a pas été accepté"),
        message=_t(
            "No certificate was presented, or the one presented cannot open the portal.",
            "Aucun certificat n'a été présenté, ou celui présenté ne peut pas ouvrir le portail.",
        ),
        cause=_t(
            "The site was opened in another browser than the key's (it holds no certificate), "
            "or the key's certificate is revoked (key reported lost), expired or suspended by "
            "the bank.",
            "Le site a été ouvert dans un autre navigateur que celui de la clé (il ne contient "
            "pas de certificat), ou le certificat de la clé est révoqué (clé déclarée perdue), "
            "expiré ou suspendu par la banque.",
        ),
        action=_t(
            "Open the site from the e-secure key (its icon near the clock); an expired "
            "certificate is renewed by starting the key again; otherwise call support.",
            "Ouvrez le site depuis la clé e-secure (son icône près de l'horloge) ; un "
            "certificat expiré est renouvelé en relançant la clé ; sinon appelez "
            "l'assistance.",
        ),
        call_support=True,
        detection="The portal's login finds no TLS client certificate, or one that is not "
        "recorded as issued by the EST service, revoked, expired, or of a disabled customer.",
    ),
    Entry(
        code="ES411",
        name="portal-access-locked",
        audience="user",
        title=_t("Your access is locked", "Votre accès est bloqué"),
        message=_t(
            "Three wrong secret codes were typed: the access is locked.",
            "Trois codes secrets erronés ont été saisis : l'accès est bloqué.",
        ),
        cause=_t(
            "The secret code was mistyped three times in a row (or the code received by mail "
            "has expired).",
            "Le code secret a été mal saisi trois fois de suite (ou le code reçu par courrier a "
            "expiré).",
        ),
        action=_t(
            "Call support: after checking who you are, they unlock the access (esecure admin "
            "unlock) or send a new code by mail (esecure admin mail-code).",
            "Appelez l'assistance : après vérification de votre identité, elle débloque l'accès "
            "(esecure admin unlock) ou envoie un nouveau code par courrier (esecure admin "
            "mail-code).",
        ),
        call_support=True,
        detection="The portal counts wrong codes per customer; the third locks until an "
        "operator unlocks it.",
    ),
    Entry(
        code="ES412",
        name="portal-login-refused",
        audience="user",
        title=_t("Access refused", "Accès refusé"),
        message=_t(
            "The identifier, the certificate or the secret code is not right.",
            "L'identifiant, le certificat ou le code secret n'est pas correct.",
        ),
        cause=_t(
            "A mistyped identifier or secret code, or the certificate of another customer's "
            "key. The portal does not say which, so that nobody can find out which "
            "identifiers exist.",
            "Un identifiant ou un code secret mal saisi, ou le certificat de la clé d'un autre "
            "client. Le portail ne dit pas lequel, pour que personne ne puisse découvrir quels "
            "identifiants existent.",
        ),
        action=_t(
            "Check the identifier, use your own key's browser and type the code again; after "
            "three wrong codes the access is locked.",
            "Vérifiez l'identifiant, utilisez le navigateur de votre propre clé et saisissez de "
            "nouveau le code ; après trois codes erronés, l'accès est bloqué.",
        ),
        call_support=False,
        detection="The identifier typed is not the certificate's, or the keypad code is wrong.",
    ),
    Entry(
        code="ES413",
        name="portal-request-refused",
        audience="user",
        title=_t("The page could not be used", "La page n'a pas pu être utilisée"),
        message=_t(
            "The portal refused a form: expired, altered, malformed or too large.",
            "Le portail a refusé un formulaire : expiré, modifié, mal formé ou trop volumineux.",
        ),
        cause=_t(
            "The form's security token was missing or belonged to another session (a page "
            "left open, or a forged request), the keypad sent keys it does not have, or the "
            "request was malformed. Nothing was changed.",
            "Le jeton de sécurité du formulaire manquait ou appartenait à une autre session "
            "(page laissée ouverte, ou requête falsifiée), le clavier a envoyé des touches qu'il "
            "n'a pas, ou la requête était mal formée. Rien n'a été modifié.",
        ),
        action=_t(
            "Go back to the login page and start again; if it happens again, call support.",
            "Revenez à la page de connexion et recommencez ; si cela se reproduit, appelez "
            "l'assistance.",
        ),
        call_support=False,
        detection="CSRF token check on every POST, keypad positions checked against the "
        "session's layout, form size and field caps (400, 403, 413, 415).",
    ),
    Entry(
        code="ES403",
        name="browser-cannot-start",
        audience="user",
        seed_row="E6",
        title=_t("The key's browser does not start", "Le navigateur de la clé ne démarre pas"),
        message=_t(
            "Connecting to the bank's site failed: the key's browser could not be started.",
            "La connexion au site de la banque a échoué : le navigateur de la clé n'a pas pu "
            "être lancé.",
        ),
        cause=_t(
            "The browser's files on the key are missing or cannot be run on this computer "
            "(a security program blocks them, or the key is mounted without the right to "
            "run programs).",
            "Les fichiers du navigateur de la clé manquent ou ne peuvent pas être exécutés sur "
            "cet ordinateur (un logiciel de sécurité les bloque, ou la clé est montée sans le "
            "droit d'exécuter des programmes).",
        ),
        action=_t(
            "Start the key again; if it fails again, call support with the support report.",
            "Relancez la clé ; en cas de nouvel échec, appelez l'assistance avec le rapport "
            "d'assistance.",
        ),
        call_support=True,
        detection="Starting Firefox (esecure_onkey.browser.prepare_firefox, then the process "
        "itself) fails: no Firefox program, a noexec mount, a shadow directory that cannot "
        "run programs, or the operating system refuses to start it.",
    ),
    Entry(
        code="ES404",
        name="profile-unusable",
        audience="user",
        title=_t(
            "The browser's settings cannot be prepared",
            "Les réglages du navigateur ne peuvent pas être préparés",
        ),
        message=_t(
            "The key's browser profile could not be made or updated.",
            "Le profil du navigateur de la clé n'a pas pu être créé ou mis à jour.",
        ),
        cause=_t(
            "The key's data area is full or damaged, or the profile template of the key is "
            "missing.",
            "La zone de données de la clé est pleine ou endommagée, ou le modèle de profil de "
            "la clé manque.",
        ),
        action=_t(
            "Start the key again; if it fails again, call support with the support report.",
            "Relancez la clé ; en cas de nouvel échec, appelez l'assistance avec le rapport "
            "d'assistance.",
        ),
        call_support=True,
        detection="Making the live profile from the template (first use) or merging the "
        "template's changes into it fails to read the template or write the profile.",
    ),
    # --- updates (ES5xx) ---------------------------------------------------------------------
    Entry(
        code="ES501",
        name="update-bad-signature",
        audience="user",
        title=_t(
            "An update was refused: bad signature", "Mise à jour refusée : signature invalide"
        ),
        message=_t(
            (
                "The update data is not signed by the bank's keys. Your current version keeps "
                "running."
            ),
            (
                "Les données de mise à jour ne sont pas signées par les clés de la banque. "
                "Votre version actuelle continue de fonctionner."
            ),
        ),
        cause=_t(
            (
                "A signature is missing or does not verify: the data was altered or forged on "
                "its way."
            ),
            (
                "Une signature manque ou ne se vérifie pas : les données ont été modifiées ou "
                "falsifiées en chemin."
            ),
        ),
        action=_t(
            ("Go on working; call support and give them the code: they check the update server."),
            (
                "Continuez à travailler ; appelez l'assistance et donnez-lui le code : elle "
                "vérifiera le serveur de mises à jour."
            ),
        ),
        call_support=True,
        detection="TUF metadata verification (spec 5.3-5.6): no valid signature of a trusted key.",
    ),
    Entry(
        code="ES502",
        name="update-below-threshold",
        audience="user",
        title=_t(
            "An update was refused: not enough signatures",
            "Mise à jour refusée : signatures insuffisantes",
        ),
        message=_t(
            (
                "The update data carries fewer valid signatures than the bank requires. Your "
                "current version keeps running."
            ),
            (
                "Les données de mise à jour portent moins de signatures valides que la banque "
                "n'en exige. Votre version actuelle continue de fonctionner."
            ),
        ),
        cause=_t(
            ("Some but not enough of the required keys signed the metadata (threshold not met)."),
            "Certaines clés requises ont signé, mais pas assez (seuil non atteint).",
        ),
        action=_t(
            "Go on working; call support and give them the code.",
            "Continuez à travailler ; appelez l'assistance et donnez-lui le code.",
        ),
        call_support=True,
        detection="TUF metadata verification: valid signatures below the role's threshold.",
    ),
    Entry(
        code="ES503",
        name="update-rollback",
        audience="user",
        title=_t(
            "An update was refused: older data", "Mise à jour refusée : données plus anciennes"
        ),
        message=_t(
            (
                "The update server offered data older than what this key already trusts. Your "
                "current version keeps running."
            ),
            (
                "Le serveur de mises à jour a proposé des données plus anciennes que celles "
                "que la clé connaît déjà. Votre version actuelle continue de fonctionner."
            ),
        ),
        cause=_t(
            (
                "A rollback attack, or a server restored from an old backup: metadata versions "
                "went backwards."
            ),
            (
                "Une attaque par retour en arrière, ou un serveur restauré depuis une ancienne "
                "sauvegarde : les versions ont reculé."
            ),
        ),
        action=_t(
            "Go on working; call support and give them the code.",
            "Continuez à travailler ; appelez l'assistance et donnez-lui le code.",
        ),
        call_support=True,
        detection=(
            "TUF version checks (spec 5.3.5, 5.4.3, 5.5.5): a metadata version lower than "
            "the trusted one."
        ),
    ),
    Entry(
        code="ES504",
        name="update-expired",
        audience="user",
        title=_t(
            "An update check was refused: outdated data",
            "Vérification des mises à jour refusée : données périmées",
        ),
        message=_t(
            (
                "The update server sent signed data that has expired. Your current version "
                "keeps running."
            ),
            (
                "Le serveur de mises à jour a envoyé des données signées expirées. Votre "
                "version actuelle continue de fonctionner."
            ),
        ),
        cause=_t(
            (
                "The server's data is no longer refreshed (a freeze attack, or the bank's "
                "refresh job stopped)."
            ),
            (
                "Les données du serveur ne sont plus rafraîchies (attaque par gel, ou la tâche "
                "de rafraîchissement de la banque est arrêtée)."
            ),
        ),
        action=_t(
            "Go on working; call support and give them the code.",
            "Continuez à travailler ; appelez l'assistance et donnez-lui le code.",
        ),
        call_support=True,
        detection=(
            "TUF expiry checks (spec 5.3.10, 5.4.4, 5.5.6, 5.6.5) with the computer's "
            "clock plausible."
        ),
    ),
    Entry(
        code="ES505",
        name="update-clock-wrong",
        audience="user",
        title=_t(
            "Check the computer's date and time", "Vérifiez la date et l'heure de l'ordinateur"
        ),
        message=_t(
            "The update data looks expired, but this computer's clock seems wrong.",
            (
                "Les données de mise à jour semblent expirées, mais l'horloge de cet "
                "ordinateur semble fausse."
            ),
        ),
        cause=_t(
            (
                "The computer's date is later than the data's expiry by far more than the "
                "bank's refresh interval, or earlier than its signing date: the clock is the "
                "likely cause."
            ),
            (
                "La date de l'ordinateur dépasse largement l'expiration des données, ou "
                "précède leur date de signature : l'horloge est la cause probable."
            ),
        ),
        action=_t(
            "Set the computer's date and time correctly, then start the key again.",
            "Réglez correctement la date et l'heure de l'ordinateur, puis relancez la clé.",
        ),
        call_support=False,
        detection="Expired metadata with a local clock far from the data's own dates.",
    ),
    Entry(
        code="ES506",
        name="update-hash-mismatch",
        audience="user",
        title=_t(
            "An update was refused: damaged download", "Mise à jour refusée : téléchargement altéré"
        ),
        message=_t(
            (
                "A downloaded update file does not match its signed size or fingerprint. "
                "Nothing was installed."
            ),
            (
                "Un fichier de mise à jour téléchargé ne correspond pas à sa taille ou à son "
                "empreinte signées. Rien n'a été installé."
            ),
        ),
        cause=_t(
            "The file was altered on its way or on the server.",
            "Le fichier a été modifié en chemin ou sur le serveur.",
        ),
        action=_t(
            "Go on working; call support and give them the code.",
            "Continuez à travailler ; appelez l'assistance et donnez-lui le code.",
        ),
        call_support=True,
        detection=(
            "TUF target verification (spec 5.7.3): length and SHA-256 against targets "
            "metadata; patched archives against their signed size and hash."
        ),
    ),
    Entry(
        code="ES507",
        name="update-endless-data",
        audience="user",
        title=_t("An update was refused: too much data", "Mise à jour refusée : trop de données"),
        message=_t(
            "The update server sent more data than announced. Nothing was installed.",
            (
                "Le serveur de mises à jour a envoyé plus de données qu'annoncé. Rien n'a été "
                "installé."
            ),
        ),
        cause=_t(
            (
                "An endless-data attack, or a broken server: the download exceeded its signed "
                "length."
            ),
            (
                "Une attaque par données sans fin, ou un serveur défaillant : le "
                "téléchargement a dépassé sa longueur signée."
            ),
        ),
        action=_t(
            "Go on working; call support and give them the code.",
            "Continuez à travailler ; appelez l'assistance et donnez-lui le code.",
        ),
        call_support=True,
        detection=(
            "Downloads are cut at the signed length (or the role's maximum for timestamp and root)."
        ),
    ),
    Entry(
        code="ES508",
        name="update-mix-and-match",
        audience="user",
        title=_t(
            "An update was refused: inconsistent data", "Mise à jour refusée : données incohérentes"
        ),
        message=_t(
            (
                "The update server sent pieces of different releases. Your current version "
                "keeps running."
            ),
            (
                "Le serveur de mises à jour a envoyé des éléments de versions différentes. "
                "Votre version actuelle continue de fonctionner."
            ),
        ),
        cause=_t(
            (
                "A mix-and-match attack, or a server caught mid-publication: the metadata "
                "versions do not match each other."
            ),
            (
                "Une attaque par mélange, ou un serveur en pleine publication : les versions "
                "des métadonnées ne concordent pas."
            ),
        ),
        action=_t(
            "Start the key again in a few minutes; if it persists, call support.",
            "Relancez la clé dans quelques minutes ; si cela persiste, appelez l'assistance.",
        ),
        call_support=True,
        detection=(
            "TUF consistency checks: snapshot and targets versions against timestamp and "
            "snapshot (spec 5.5.4, 5.6.3)."
        ),
    ),
    Entry(
        code="ES509",
        name="update-forged-root",
        audience="user",
        title=_t(
            "An update was refused: unknown signing keys",
            "Mise à jour refusée : clés de signature inconnues",
        ),
        message=_t(
            (
                "The update server offered new signing keys that the bank's current keys did "
                "not approve."
            ),
            (
                "Le serveur de mises à jour a proposé de nouvelles clés de signature que les "
                "clés actuelles de la banque n'ont pas approuvées."
            ),
        ),
        cause=_t(
            (
                "A forged root of trust: the new root metadata is not signed by the threshold "
                "of the trusted root's keys."
            ),
            (
                "Une racine de confiance falsifiée : la nouvelle racine n'est pas signée par "
                "le seuil des clés de la racine de confiance."
            ),
        ),
        action=_t(
            "Go on working; call support and give them the code.",
            "Continuez à travailler ; appelez l'assistance et donnez-lui le code.",
        ),
        call_support=True,
        detection=(
            "TUF root rotation (spec 5.3.4): each new root must be signed by the old "
            "root's threshold and its own."
        ),
    ),
    Entry(
        code="ES510",
        name="update-metadata-invalid",
        audience="user",
        title=_t(
            "An update was refused: unreadable data", "Mise à jour refusée : données illisibles"
        ),
        message=_t(
            "The update server sent data that is not valid update metadata.",
            (
                "Le serveur de mises à jour a envoyé des données qui ne sont pas des "
                "métadonnées valides."
            ),
        ),
        cause=_t(
            "The metadata is malformed or of the wrong type.",
            "Les métadonnées sont mal formées ou du mauvais type.",
        ),
        action=_t(
            "Go on working; call support and give them the code.",
            "Continuez à travailler ; appelez l'assistance et donnez-lui le code.",
        ),
        call_support=True,
        detection="TUF metadata parsing: wrong type, malformed JSON, missing fields.",
    ),
    Entry(
        code="ES511",
        name="unsafe-name",
        audience="user",
        title=_t(
            "An update was refused: unsafe file name",
            "Mise à jour refusée : nom de fichier dangereux",
        ),
        message=_t(
            "The update server named a file that the key cannot store safely.",
            (
                "Le serveur de mises à jour a nommé un fichier que la clé ne peut pas "
                "enregistrer sans danger."
            ),
        ),
        cause=_t(
            (
                "Signed update metadata names a release or a metadata role with a name that "
                "is not a plain file name: a path separator, '.' or '..', a control "
                "character, a character the key's file system forbids, or too long."
            ),
            (
                "Les métadonnées signées nomment une version ou un rôle avec un nom qui "
                "n'est pas un simple nom de fichier : un séparateur de chemin, « . » ou "
                "« .. », un caractère de contrôle, un caractère interdit par le système de "
                "fichiers de la clé, ou un nom trop long."
            ),
        ),
        action=_t(
            "Go on working; call support and give them the code.",
            "Continuez à travailler ; appelez l'assistance et donnez-lui le code.",
        ),
        call_support=True,
        detection=(
            "The update client checks every release file, metadata file and delegated role "
            "name of the verified metadata before it becomes a file or URL name (no "
            "separators, not '.' or '..', no control or FAT-forbidden characters, at most "
            "255 bytes); targets download to a fixed temporary name."
        ),
    ),
    Entry(
        code="ES520",
        name="update-offline",
        audience="user",
        title=_t("Updates could not be checked", "Les mises à jour n'ont pas pu être vérifiées"),
        message=_t(
            ("The update server could not be reached; the key goes on with its current version."),
            (
                "Le serveur de mises à jour est injoignable ; la clé continue avec sa version "
                "actuelle."
            ),
        ),
        cause=_t(
            "No internet connection, a proxy, or the server is down.",
            "Pas de connexion internet, un proxy, ou le serveur est indisponible.",
        ),
        action=_t(
            "Nothing to do now; the key checks again at its next start.",
            "Rien à faire maintenant ; la clé vérifiera de nouveau à son prochain démarrage.",
        ),
        call_support=False,
        detection=(
            "The check is bounded in time (updates.check_timeout_seconds); connection "
            "errors and timeouts."
        ),
    ),
    Entry(
        code="ES521",
        name="update-offline-too-long",
        audience="user",
        title=_t(
            "The key has not been updated for too long",
            "La clé n'a pas été mise à jour depuis trop longtemps",
        ),
        message=_t(
            (
                "Updates could not be checked for longer than the bank allows; the key refuses "
                "to continue."
            ),
            (
                "Les mises à jour n'ont pas pu être vérifiées depuis plus longtemps que la "
                "banque ne l'autorise ; la clé refuse de continuer."
            ),
        ),
        cause=_t(
            (
                "The last successful check is older than updates.max_offline_days: a freeze "
                "attack must not last for ever."
            ),
            (
                "La dernière vérification réussie date de plus de updates.max_offline_days : "
                "une attaque par gel ne doit pas durer indéfiniment."
            ),
        ),
        action=_t(
            (
                "Connect the computer to the internet and start the key again; if it persists, "
                "call support."
            ),
            (
                "Connectez l'ordinateur à internet et relancez la clé ; si cela persiste, "
                "appelez l'assistance."
            ),
        ),
        call_support=True,
        detection=(
            "The date of the last successful check, recorded in the data area, against the "
            "configured maximum."
        ),
    ),
    Entry(
        code="ES522",
        name="slot-corrupted",
        audience="user",
        title=_t("An installed update is damaged", "Une mise à jour installée est endommagée"),
        message=_t(
            (
                "A file of the installed update is missing or damaged; the key started the "
                "other version."
            ),
            (
                "Un fichier de la mise à jour installée manque ou est endommagé ; la clé a "
                "démarré l'autre version."
            ),
        ),
        cause=_t(
            "The key was pulled out during a write, or its storage is failing.",
            "La clé a été retirée pendant une écriture, ou sa mémoire est défaillante.",
        ),
        action=_t(
            (
                "Nothing to do: the update is installed again at the next check. If it happens "
                "often, call support."
            ),
            (
                "Rien à faire : la mise à jour sera réinstallée à la prochaine vérification. "
                "Si cela se répète, appelez l'assistance."
            ),
        ),
        call_support=False,
        detection=(
            "At each start: the release record's signature and id, and each component "
            "the data area holds: its completion record, its signed list, no unlisted "
            "file, every size, full hashes of what the launcher runs; full hashes of "
            "everything in diagnostics."
        ),
    ),
    Entry(
        code="ES523",
        name="update-rolled-back",
        audience="user",
        title=_t(
            "The new version did not start: the previous one is back",
            "La nouvelle version n'a pas démarré : la précédente est rétablie",
        ),
        message=_t(
            (
                "The updated version failed to start twice; the key went back to the previous "
                "version."
            ),
            (
                "La version mise à jour n'a pas démarré deux fois ; la clé est revenue à la "
                "version précédente."
            ),
        ),
        cause=_t(
            "The new version fails on this computer.",
            "La nouvelle version échoue sur cet ordinateur.",
        ),
        action=_t(
            "Go on working; call support so that the bank can fix the release.",
            (
                "Continuez à travailler ; appelez l'assistance pour que la banque corrige la "
                "version."
            ),
        ),
        call_support=True,
        detection=(
            "The bootstrap counts starts of a version not yet marked good; after two it "
            "switches back."
        ),
    ),
    Entry(
        code="ES524",
        name="update-install-failed",
        audience="user",
        title=_t("The update could not be installed", "La mise à jour n'a pas pu être installée"),
        message=_t(
            "Writing the update on the key failed; the current version keeps running.",
            (
                "L'écriture de la mise à jour sur la clé a échoué ; la version actuelle "
                "continue de fonctionner."
            ),
        ),
        cause=_t(
            "The key's data area is full, read-only, or was removed.",
            "La zone de données de la clé est pleine, en lecture seule, ou a été retirée.",
        ),
        action=_t(
            "Start the key again; if it persists, call support.",
            "Relancez la clé ; si cela persiste, appelez l'assistance.",
        ),
        call_support=False,
        detection="Every write of the installation is checked; staging is discarded on failure.",
    ),
    Entry(
        code="ES525",
        name="update-download-failed",
        audience="user",
        title=_t(
            "The update download was interrupted",
            "Le téléchargement de la mise à jour a été interrompu",
        ),
        message=_t(
            "The connection broke during the download; the current version keeps running.",
            (
                "La connexion a été coupée pendant le téléchargement ; la version actuelle "
                "continue de fonctionner."
            ),
        ),
        cause=_t(
            "The network dropped or the server stopped answering.",
            "Le réseau a été coupé ou le serveur a cessé de répondre.",
        ),
        action=_t(
            "Start the key again to retry the update.",
            "Relancez la clé pour réessayer la mise à jour.",
        ),
        call_support=False,
        detection="Downloads are bounded in time per read; an HTTP error or a timeout ends them.",
    ),
    Entry(
        code="ES526",
        name="update-restart-failed",
        audience="user",
        title=_t(
            "The update is installed but e-secure could not restart",
            "La mise à jour est installée mais e-secure n'a pas pu redémarrer",
        ),
        message=_t(
            "The new version is installed; starting it failed.",
            "La nouvelle version est installée ; son démarrage a échoué.",
        ),
        cause=_t(
            "The key's program could not be started again by itself (a security program, or "
            "the key was pulled out).",
            "Le programme de la clé n'a pas pu se relancer de lui-même (un logiciel de "
            "sécurité, ou la clé a été retirée).",
        ),
        action=_t(
            "Start the key again by hand: the new version starts (no need to unplug it).",
            "Relancez la clé à la main : la nouvelle version démarre (inutile de la débrancher).",
        ),
        call_support=False,
        detection="The launcher replaces itself with the bootstrap after an update "
        "(exec); the operating system refused.",
    ),
    # --- documents (ES6xx): rows our design removes ----------------------------------------
    Entry(
        code="ES601",
        name="pdf-plugin-missing",
        audience="user",
        seed_row="E11",
        title=_t(
            "PDF documents open in the browser", "Les documents PDF s'ouvrent dans le navigateur"
        ),
        message=_t(
            "The PDF reader cannot find the PDF files in the web browser, or nothing happens.",
            "Le lecteur PDF ne trouve pas les fichiers PDF dans le navigateur, ou rien ne se "
            "passe.",
        ),
        cause=_t(
            "Removed by design: the key's browser opens PDFs in its built-in viewer and never "
            "uses the computer's PDF reader.",
            "Supprimé par conception : le navigateur de la clé ouvre les PDF dans sa visionneuse "
            "intégrée et n'utilise jamais le lecteur PDF de l'ordinateur.",
        ),
        action=_t(
            "Nothing to install. If a PDF still does not open, call support.",
            "Rien à installer. Si un PDF ne s'ouvre toujours pas, appelez l'assistance.",
        ),
        call_support=False,
        detection="Removed by design: the browser policy forces the built-in PDF viewer "
        "(no external reader, no plug-in).",
    ),
    Entry(
        code="ES602",
        name="pdf-blank",
        audience="user",
        seed_row="E12",
        title=_t("A PDF shows a blank page", "Un PDF s'affiche en page blanche"),
        message=_t(
            "A PDF opens on a blank page, the print button does nothing, or a technical error "
            "appears.",
            "Un PDF s'ouvre sur une page blanche, le bouton d'impression ne fait rien, ou une "
            "erreur technique apparaît.",
        ),
        cause=_t(
            "Removed by design: no external PDF reader is involved; the browser's built-in "
            "viewer is updated with the key.",
            "Supprimé par conception : aucun lecteur PDF externe n'intervient ; la visionneuse "
            "intégrée du navigateur est mise à jour avec la clé.",
        ),
        action=_t(
            "Accept the key's update when it is offered; if the page stays blank, call support.",
            "Acceptez la mise à jour de la clé quand elle est proposée ; si la page reste "
            "blanche, appelez l'assistance.",
        ),
        call_support=False,
        detection="Removed by design: the built-in viewer ships with the key's Firefox and "
        "is renewed by updates.",
    ),
    # --- the release engineer's tools (ES9xx) ----------------------------------------------
    Entry(
        code="ES901",
        name="config-invalid",
        audience="operator",
        title=_t("The key project is invalid", "Le projet de clé est invalide"),
        message=_t(
            "The key project's configuration has errors.",
            "La configuration du projet de clé comporte des erreurs.",
        ),
        cause=_t(
            "esecure.toml, or a file it names, is missing, unreadable or holds a wrong value.",
            "esecure.toml, ou un fichier qu'il désigne, est absent, illisible ou contient une "
            "valeur incorrecte.",
        ),
        action=_t(
            "Fix each line listed, then run `esecure check PROJECT` again.",
            "Corrigez chaque ligne indiquée, puis relancez `esecure check PROJET`.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES902",
        name="project-exists",
        audience="operator",
        title=_t("The directory is not empty", "Le répertoire n'est pas vide"),
        message=_t(
            "Refusing to create a key project in a directory that is not empty.",
            "Refus de créer un projet de clé dans un répertoire qui n'est pas vide.",
        ),
        cause=_t(
            "The target directory already holds files, perhaps another key project.",
            "Le répertoire cible contient déjà des fichiers, peut-être un autre projet de clé.",
        ),
        action=_t(
            "Choose an empty directory, or pass --force (existing keys are always kept).",
            "Choisissez un répertoire vide, ou ajoutez --force (les clés existantes sont "
            "toujours conservées).",
        ),
        call_support=False,
    ),
    Entry(
        code="ES903",
        name="passphrase-unavailable",
        audience="operator",
        title=_t(
            "No passphrase for the private keys", "Aucune phrase secrète pour les clés privées"
        ),
        message=_t(
            "The passphrase that protects the project's private keys could not be obtained.",
            "La phrase secrète qui protège les clés privées du projet n'a pas pu être obtenue.",
        ),
        cause=_t(
            "It is not in the OS keyring, the ESECURE_PASSPHRASE environment variable is not "
            "set, and there is no terminal to ask on.",
            "Elle n'est pas dans le trousseau du système, la variable d'environnement "
            "ESECURE_PASSPHRASE n'est pas définie et aucun terminal ne permet de la demander.",
        ),
        action=_t(
            "Store it with `keyring set e-secure PROJECT-ID`, or set ESECURE_PASSPHRASE, or "
            "run the command in a terminal.",
            "Enregistrez-la avec `keyring set e-secure ID-DU-PROJET`, ou définissez "
            "ESECURE_PASSPHRASE, ou lancez la commande dans un terminal.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES904",
        name="passphrase-wrong",
        audience="operator",
        title=_t("Wrong passphrase", "Phrase secrète incorrecte"),
        message=_t(
            "A private key of the project could not be decrypted with the passphrase given.",
            "Une clé privée du projet n'a pas pu être déchiffrée avec la phrase secrète fournie.",
        ),
        cause=_t(
            "The passphrase does not match the one the key was encrypted with, or the key "
            "file is damaged.",
            "La phrase secrète ne correspond pas à celle du chiffrement de la clé, ou le "
            "fichier de clé est endommagé.",
        ),
        action=_t(
            "Check which source was used (keyring, ESECURE_PASSPHRASE, prompt) and give the "
            "right passphrase.",
            "Vérifiez la source utilisée (trousseau, ESECURE_PASSPHRASE, saisie) et donnez la "
            "bonne phrase secrète.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES905",
        name="write-failed",
        audience="operator",
        title=_t("A file could not be written", "Un fichier n'a pas pu être écrit"),
        message=_t(
            "Writing a file failed; nothing was left under its final name.",
            "L'écriture d'un fichier a échoué ; rien n'a été laissé sous son nom définitif.",
        ),
        cause=_t(
            "The disk is full, read-only, or the directory is not writable.",
            "Le disque est plein, en lecture seule, ou le répertoire n'est pas accessible en "
            "écriture.",
        ),
        action=_t(
            "Free space or fix the permissions of the directory named, then run the command again.",
            "Libérez de l'espace ou corrigez les droits du répertoire indiqué, puis relancez "
            "la commande.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES906",
        name="internal-error",
        audience="operator",
        title=_t("Internal error", "Erreur interne"),
        message=_t(
            "e-secure stopped on an unexpected error.",
            "e-secure s'est arrêté sur une erreur inattendue.",
        ),
        cause=_t(
            "A defect in e-secure, not in your input.",
            "Un défaut d'e-secure, pas de vos données.",
        ),
        action=_t(
            "Run the command again with --verbose and report the traceback to the e-secure "
            "maintainers.",
            "Relancez la commande avec --verbose et transmettez la trace aux mainteneurs "
            "d'e-secure.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES910",
        name="firefox-missing",
        audience="operator",
        title=_t("No Firefox to put on the key", "Aucun Firefox à placer sur la clé"),
        message=_t(
            "The Firefox ESR installation to copy onto the key was not found.",
            "L'installation de Firefox ESR à copier sur la clé est introuvable.",
        ),
        cause=_t(
            "The [firefox] path of the platform does not exist or holds no Firefox.",
            "Le chemin [firefox] de la plateforme n'existe pas ou ne contient pas de Firefox.",
        ),
        action=_t(
            "Install firefox-esr (build_scripts/install-system-deps.sh) or correct the path "
            "in esecure.toml.",
            "Installez firefox-esr (build_scripts/install-system-deps.sh) ou corrigez le chemin "
            "dans esecure.toml.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES911",
        name="name-too-long",
        audience="operator",
        title=_t("A file name is too long for the key", "Un nom de fichier est trop long"),
        message=_t(
            "A file name exceeds the 64 characters Joliet (Windows) allows on a CD-ROM.",
            "Un nom de fichier dépasse les 64 caractères que Joliet (Windows) autorise sur un "
            "CD-ROM.",
        ),
        cause=_t(
            "A file of the image (guide, asset, Firefox) has a name longer than 64 "
            "characters or 64 UTF-8 bytes; it would be truncated.",
            "Un fichier de l'image (guide, ressource, Firefox) a un nom de plus de 64 "
            "caractères ou 64 octets UTF-8 ; il serait tronqué.",
        ),
        action=_t(
            "Rename the file named in the message, then build again.",
            "Renommez le fichier indiqué, puis relancez la construction.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES912",
        name="path-too-deep",
        audience="operator",
        title=_t("A folder is nested too deeply", "Un dossier est trop imbriqué"),
        message=_t(
            "A file of the image is more than 7 folders below the CD-ROM's root.",
            "Un fichier de l'image est à plus de 7 dossiers sous la racine du CD-ROM.",
        ),
        cause=_t(
            "ISO 9660 allows 8 directory levels including the root.",
            "ISO 9660 autorise 8 niveaux de répertoires, racine comprise.",
        ),
        action=_t(
            "Flatten the folder named in the message, then build again.",
            "Aplatissez le dossier indiqué, puis relancez la construction.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES913",
        name="tool-failed",
        audience="operator",
        title=_t("A build tool failed", "Un outil de construction a échoué"),
        message=_t(
            "An external tool of the image build is missing or failed.",
            "Un outil externe de la construction de l'image est absent ou a échoué.",
        ),
        cause=_t(
            "PyInstaller, mkfs.fat, mtools or xorriso is not installed, or stopped with an "
            "error (its last output is shown).",
            "PyInstaller, mkfs.fat, mtools ou xorriso n'est pas installé, ou s'est arrêté sur "
            "une erreur (sa dernière sortie est affichée).",
        ),
        action=_t(
            "Run build_scripts/install-system-deps.sh, read the tool's output, and build again.",
            "Lancez build_scripts/install-system-deps.sh, lisez la sortie de l'outil, puis "
            "relancez la construction.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES914",
        name="image-signature-invalid",
        audience="operator",
        title=_t(
            "The image's signature is not the project's",
            "La signature de l'image n'est pas celle du projet",
        ),
        message=_t(
            "The image's manifest is not signed by the project's image-signing key.",
            "Le manifeste de l'image n'est pas signé par la clé de signature du projet.",
        ),
        cause=_t(
            "The image was signed by another key (another project, or re-signed after an "
            "edit), or its manifest or signature was altered.",
            "L'image a été signée par une autre clé (autre projet, ou re-signée après "
            "modification), ou son manifeste ou sa signature a été altéré.",
        ),
        action=_t(
            "Do not ship this image: rebuild it with `esecure build` from the project.",
            "Ne livrez pas cette image : reconstruisez-la avec `esecure build` depuis le projet.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES915",
        name="image-content-mismatch",
        audience="operator",
        title=_t(
            "The image's files do not match its manifest",
            "Les fichiers de l'image ne correspondent pas à son manifeste",
        ),
        message=_t(
            "Files of the image differ from the signed manifest.",
            "Des fichiers de l'image diffèrent du manifeste signé.",
        ),
        cause=_t(
            "A file was changed, removed or added after the image was signed.",
            "Un fichier a été modifié, supprimé ou ajouté après la signature de l'image.",
        ),
        action=_t(
            "Do not ship this image: rebuild it with `esecure build`.",
            "Ne livrez pas cette image : reconstruisez-la avec `esecure build`.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES916",
        name="launcher-dir-invalid",
        audience="operator",
        title=_t(
            "A frozen launcher is missing or incomplete",
            "Un lanceur figé manque ou est incomplet",
        ),
        message=_t(
            "A platform the key carries has no frozen launcher, or the directory given with "
            "--launcher-dir does not hold a complete one.",
            "Une plateforme que la clé porte n'a pas de lanceur figé, ou le répertoire donné "
            "avec --launcher-dir n'en contient pas un complet.",
        ),
        cause=_t(
            "This machine freezes only its own platform's launcher; any other platform of "
            "[image] platforms needs --launcher-dir PLATFORM=DIR. That directory must hold "
            "the bootstrap executable, its runtime-<platform>/ directory and lib/<platform>/ "
            "(see docs/architecture.md, The key image). Nothing is written: an image never "
            "plans a launcher (or an autorun.inf naming one) it does not hold.",
            "Cette machine ne fige que le lanceur de sa propre plateforme ; toute autre "
            "plateforme de [image] platforms demande --launcher-dir PLATEFORME=RÉP. Ce "
            "répertoire doit contenir l'exécutable d'amorçage, son répertoire "
            "runtime-<plateforme>/ et lib/<plateforme>/ (voir docs/architecture.md, The key "
            "image). Rien n'est écrit : une image ne prévoit jamais un lanceur (ni un "
            "autorun.inf qui le nomme) qu'elle ne contient pas.",
        ),
        action=_t(
            "Freeze the launcher on that platform with build_scripts/freeze-launcher.py and "
            "pass its output directory with --launcher-dir, or leave that platform out of "
            "[image] platforms.",
            "Figez le lanceur sur cette plateforme avec build_scripts/freeze-launcher.py et "
            "passez son répertoire de sortie avec --launcher-dir, ou retirez cette plateforme "
            "de [image] platforms.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES917",
        name="serials-invalid",
        audience="operator",
        title=_t("Serial numbers refused", "Numéros de série refusés"),
        message=_t(
            "Serial numbers given for personalisation are invalid or already used.",
            "Des numéros de série fournis pour la personnalisation sont invalides ou déjà "
            "utilisés.",
        ),
        cause=_t(
            "A serial has a wrong check character or alphabet, appears twice, or is already "
            "in the project's ledger (serials never repeat).",
            "Un numéro a un caractère de contrôle ou un alphabet incorrect, apparaît deux "
            "fois, ou figure déjà dans le registre du projet (les numéros ne se répètent "
            "jamais).",
        ),
        action=_t(
            "Correct or remove the serials named, or let `esecure personalize --count N` "
            "draw them.",
            "Corrigez ou retirez les numéros indiqués, ou laissez `esecure personalize "
            "--count N` les tirer.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES918",
        name="image-unreadable",
        audience="operator",
        title=_t("The image cannot be read", "L'image est illisible"),
        message=_t(
            "The file given is not a readable e-secure CD-ROM image.",
            "Le fichier donné n'est pas une image CD-ROM e-secure lisible.",
        ),
        cause=_t(
            "It is not an ISO 9660 image, is truncated, or has no MANIFEST.json.",
            "Ce n'est pas une image ISO 9660, elle est tronquée, ou elle n'a pas de MANIFEST.json.",
        ),
        action=_t(
            "Pass the cdrom.iso written by `esecure build` (or the directory it was extracted to).",
            "Passez le cdrom.iso écrit par `esecure build` (ou le répertoire où il a été extrait).",
        ),
        call_support=False,
    ),
    Entry(
        code="ES919",
        name="tool-missing",
        audience="operator",
        title=_t("An outside program is missing", "Un programme externe est absent"),
        message=_t(
            "A program e-secure runs (mkfs.fat, mtools, PyInstaller, certutil…) is not installed.",
            "Un programme qu'e-secure lance (mkfs.fat, mtools, PyInstaller, certutil…) n'est "
            "pas installé.",
        ),
        cause=_t(
            "It is not on the PATH (nor in /usr/sbin for mkfs.fat), not at the path configured "
            "for it, or, for PyInstaller, not installed in e-secure's Python environment; the "
            "message names it and what needs it.",
            "Il n'est pas dans le PATH (ni dans /usr/sbin pour mkfs.fat), ni au chemin "
            "configuré pour lui, ou, pour PyInstaller, pas installé dans l'environnement Python "
            "d'e-secure ; le message le nomme et dit ce qui en a besoin.",
        ),
        action=_t(
            "Run the install command the message gives (or "
            "build_scripts/install-system-deps.sh), then run the command again.",
            "Lancez la commande d'installation indiquée par le message (ou "
            "build_scripts/install-system-deps.sh), puis relancez la commande.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES927",
        name="firefox-libraries-unresolved",
        audience="operator",
        title=_t(
            "Firefox needs libraries the build cannot find",
            "Firefox a besoin de bibliothèques que la construction ne trouve pas",
        ),
        message=_t(
            "Firefox (or a library it needs) names a shared library that is neither part of "
            "Firefox, nor of the base a desktop Linux is assumed to have, nor installed on "
            "this build machine.",
            "Firefox (ou une bibliothèque dont il a besoin) nomme une bibliothèque partagée "
            "qui n'appartient ni à Firefox, ni à la base supposée présente sur un Linux de "
            "bureau, et qui n'est pas installée sur cette machine de construction.",
        ),
        cause=_t(
            "The build copies beside Firefox every library it needs that a host cannot be "
            "assumed to have (docs/architecture.md, Minimum host); the message names each "
            "library it could not find and which file needs it. Nothing is written.",
            "La construction copie à côté de Firefox chaque bibliothèque dont il a besoin et "
            "qu'un hôte n'a pas forcément (docs/architecture.md, Minimum host) ; le message "
            "nomme chaque bibliothèque introuvable et le fichier qui en a besoin. Rien n'est "
            "écrit.",
        ),
        action=_t(
            "Install the package that provides each library named (`apt-file search NAME` "
            "on Debian), or point [firefox] linux at a complete Firefox installation, then "
            "build again.",
            "Installez le paquet qui fournit chaque bibliothèque nommée (`apt-file search "
            "NOM` sous Debian), ou faites pointer [firefox] linux vers une installation "
            "complète de Firefox, puis relancez la construction.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES929",
        name="licence-missing",
        audience="operator",
        title=_t(
            "A licence text is missing for something the image ships",
            "Il manque le texte de licence d'un élément de l'image",
        ),
        message=_t(
            "The build found no licence text for a distribution, package or program it "
            "copies onto the image.",
            "La construction n'a trouvé aucun texte de licence pour une distribution, un "
            "paquet ou un programme qu'elle copie sur l'image.",
        ),
        cause=_t(
            "A Python distribution ships no licence file and is not in e-secure's list of "
            "declared-only licences, or a Debian package's /usr/share/doc/<package>/copyright "
            "is missing (documentation left out of the build machine); the message names it.",
            "Une distribution Python n'a pas de fichier de licence et n'est pas dans la liste "
            "des licences déclarées d'e-secure, ou le /usr/share/doc/<paquet>/copyright d'un "
            "paquet Debian manque (documentation absente de la machine de construction) ; le "
            "message le nomme.",
        ),
        action=_t(
            "Install the package's documentation (apt-get install --reinstall <package>), or "
            "add the distribution to esecure.bundle.sbom.DECLARED_ONLY with the licence its "
            "metadata names, or leave it out; then build again.",
            "Installez la documentation du paquet (apt-get install --reinstall <paquet>), ou "
            "ajoutez la distribution à esecure.bundle.sbom.DECLARED_ONLY avec la licence que "
            "ses métadonnées nomment, ou retirez-la ; puis relancez la construction.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES928",
        name="origin-unknown",
        audience="operator",
        title=_t(
            "The SBOM cannot say where a file comes from",
            "La nomenclature (SBOM) ne sait pas d'où vient un fichier",
        ),
        message=_t(
            "A file the build copies onto the image belongs to no Debian package or Python "
            "distribution the build can name.",
            "Un fichier que la construction copie sur l'image n'appartient à aucun paquet "
            "Debian ni distribution Python que la construction sache nommer.",
        ),
        cause=_t(
            "A library was copied from outside the package manager (dpkg -S does not know "
            "it), or a lib/ directory holds a file no distribution's RECORD names (a "
            "launcher directory edited by hand or made by an older e-secure); the message "
            "names each file.",
            "Une bibliothèque a été copiée hors du gestionnaire de paquets (dpkg -S ne la "
            "connaît pas), ou un répertoire lib/ contient un fichier qu'aucun RECORD de "
            "distribution ne nomme (répertoire de lanceur modifié à la main ou fait par un "
            "e-secure plus ancien) ; le message nomme chaque fichier.",
        ),
        action=_t(
            "Install the library with apt-get, or freeze the launcher directory again with "
            "this e-secure; then build again.",
            "Installez la bibliothèque avec apt-get, ou refaites le répertoire de lanceur "
            "avec cet e-secure ; puis relancez la construction.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES930",
        name="database-url-unsupported",
        audience="operator",
        title=_t("Unsupported database URL", "URL de base de données non prise en charge"),
        message=_t(
            "The registry database URL cannot be used.",
            "L'URL de la base de données du registre ne peut pas être utilisée.",
        ),
        cause=_t(
            "The URL is neither sqlite:///PATH, a file path, nor postgresql://…: the "
            "registry runs on SQLite or PostgreSQL only (mysql:// and others are not "
            "supported).",
            "L'URL n'est ni sqlite:///CHEMIN, ni un chemin de fichier, ni postgresql://… : le "
            "registre fonctionne uniquement sur SQLite ou PostgreSQL (mysql:// et les autres "
            "ne sont pas pris en charge).",
        ),
        action=_t(
            "Pass --db sqlite:///path/to/registry.db or "
            "--db postgresql://USER@HOST:PORT/DATABASE (or omit it for the project's "
            "SQLite default).",
            "Passez --db sqlite:///chemin/vers/registry.db ou "
            "--db postgresql://UTILISATEUR@HÔTE:PORT/BASE (ou omettez-la pour la base "
            "SQLite par défaut du projet).",
        ),
        call_support=False,
    ),
    Entry(
        code="ES931",
        name="key-registry-invalid",
        audience="operator",
        title=_t("Invalid key registry", "Registre de clés invalide"),
        message=_t(
            "The personalisation registry cannot be imported.",
            "Le registre de personnalisation ne peut pas être importé.",
        ),
        cause=_t(
            "The file is not CSV with the header serial,batch,created,product nor a JSON list "
            "of objects with those keys, a line names another product, or a serial is not a "
            "key serial (14 characters whose check character is right) or is repeated.",
            "Le fichier n'est ni un CSV d'en-tête serial,batch,created,product ni une liste "
            "JSON d'objets ayant ces clés, une ligne nomme un autre produit, ou un numéro de "
            "série n'en est pas un (14 caractères dont le caractère de contrôle est juste) ou "
            "est répété.",
        ),
        action=_t(
            "Import the registry written by `esecure personalize` unchanged; fix the line named.",
            "Importez sans le modifier le registre écrit par `esecure personalize` ; corrigez "
            "la ligne indiquée.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES932",
        name="registry-not-found",
        audience="operator",
        title=_t("Not in the registry", "Absent du registre"),
        message=_t(
            "The user, key serial or certificate named is not in the registry.",
            "L'utilisateur, le numéro de série ou le certificat indiqué n'est pas dans le "
            "registre.",
        ),
        cause=_t(
            "It was never added or imported, or it is mistyped.",
            "Il n'a jamais été ajouté ou importé, ou il est mal saisi.",
        ),
        action=_t(
            "Check with `esecure admin list`, then add the user or import the key registry.",
            "Vérifiez avec `esecure admin list`, puis ajoutez l'utilisateur ou importez le "
            "registre de clés.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES933",
        name="registry-conflict",
        audience="operator",
        title=_t("Registry conflict", "Conflit dans le registre"),
        message=_t(
            "The change conflicts with the registry's current state.",
            "La modification est en conflit avec l'état actuel du registre.",
        ),
        cause=_t(
            "The user already exists, the key is bound to another identifier, or it is "
            "blocked (reported lost).",
            "L'utilisateur existe déjà, la clé est liée à un autre identifiant, ou elle est "
            "bloquée (déclarée perdue).",
        ),
        action=_t(
            "Check with `esecure admin list`; a lost key stays blocked: assign a replacement.",
            "Vérifiez avec `esecure admin list` ; une clé perdue reste bloquée : attribuez "
            "une clé de remplacement.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES934",
        name="server-cannot-issue",
        audience="operator",
        title=_t("The server cannot start", "Le serveur ne peut pas démarrer"),
        message=_t(
            "The reference server lacks what it needs to issue certificates over HTTPS.",
            "Le serveur de référence n'a pas ce qu'il faut pour délivrer des certificats en HTTPS.",
        ),
        cause=_t(
            "The key project has no CA private key (ca_key) or no server TLS pair "
            "(server_certificate, server_key), or a further server worker failed to start.",
            "Le projet de clé n'a pas de clé privée d'AC (ca_key) ou pas de paire TLS serveur "
            "(server_certificate, server_key), ou un processus serveur supplémentaire n'a pas "
            "démarré.",
        ),
        action=_t(
            "Use a project made by `esecure init` (or pass --ca-key to it); for a worker, "
            "run again with --verbose and read its error.",
            "Utilisez un projet créé par `esecure init` (ou passez-lui --ca-key) ; pour un "
            "processus supplémentaire, relancez avec --verbose et lisez son erreur.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES935",
        name="registry-database-unavailable",
        audience="operator",
        title=_t(
            "The registry database is unavailable",
            "La base de données du registre est indisponible",
        ),
        message=_t(
            "The registry's database cannot be opened.",
            "La base de données du registre ne peut pas être ouverte.",
        ),
        cause=_t(
            "The PostgreSQL server is unreachable or refuses the user, password or database of "
            "the URL, the psycopg driver is missing, or the database was written by a newer "
            "e-secure (its schema version is higher than this one knows).",
            "Le serveur PostgreSQL est injoignable ou refuse l'utilisateur, le mot de passe ou "
            "la base de l'URL, le pilote psycopg est absent, ou la base a été écrite par une "
            "version plus récente d'e-secure (sa version de schéma dépasse celle que celle-ci "
            "connaît).",
        ),
        action=_t(
            "Check the server, the URL and the role's rights (CREATE on the database for the "
            "first connection, which makes the tables); upgrade e-secure for a newer schema.",
            "Vérifiez le serveur, l'URL et les droits du rôle (CREATE sur la base pour la "
            "première connexion, qui crée les tables) ; mettez e-secure à jour pour un schéma "
            "plus récent.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES936",
        name="server-cannot-listen",
        audience="operator",
        title=_t(
            "The server cannot listen on that address",
            "Le serveur ne peut pas écouter à cette adresse",
        ),
        message=_t(
            "The reference server cannot open its listening socket.",
            "Le serveur de référence ne peut pas ouvrir son port d'écoute.",
        ),
        cause=_t(
            "The port is already in use by another program (often another `esecure "
            "serve`), a port below 1024 needs privileges, or --host is not an address of "
            "this machine.",
            "Le port est déjà utilisé par un autre programme (souvent un autre `esecure "
            "serve`), un port inférieur à 1024 demande des privilèges, ou --host n'est pas une "
            "adresse de cette machine.",
        ),
        action=_t(
            "Stop the other program (`ss -ltnp 'sport = :PORT'` names it) or pass another "
            "--port (0: any free port); give --host an address of this machine.",
            "Arrêtez l'autre programme (`ss -ltnp 'sport = :PORT'` le nomme) ou passez un "
            "autre --port (0 : n'importe quel port libre) ; donnez à --host une adresse de "
            "cette machine.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES937",
        name="portal-pepper-unusable",
        audience="operator",
        title=_t("The portal's pepper is unusable", "Le poivre du portail est inutilisable"),
        message=_t(
            "The key that protects the portal's secret codes cannot be read or created.",
            "La clé qui protège les codes secrets du portail ne peut être ni lue ni créée.",
        ),
        cause=_t(
            "ESECURE_PORTAL_PEPPER is not 64 hex digits or more, or keys/portal-pepper cannot "
            "be read or written (permissions, damaged file).",
            "ESECURE_PORTAL_PEPPER n'a pas au moins 64 chiffres hexadécimaux, ou "
            "keys/portal-pepper ne peut être ni lu ni écrit (droits, fichier endommagé).",
        ),
        action=_t(
            "Restore keys/portal-pepper from the backup of the keys (a new pepper makes every "
            "secret code unusable: then issue new mail codes), or fix the variable.",
            "Restaurez keys/portal-pepper depuis la sauvegarde des clés (un nouveau poivre rend "
            "tous les codes secrets inutilisables : envoyez alors de nouveaux codes par "
            "courrier), ou corrigez la variable.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES938",
        name="key-registry-signature",
        audience="operator",
        title=_t(
            "The key registry's signature is missing or wrong",
            "La signature du registre de clés est absente ou fausse",
        ),
        message=_t(
            "The personalisation registry is not the one the project signed: nothing is imported.",
            "Le registre de personnalisation n'est pas celui que le projet a signé : rien "
            "n'est importé.",
        ),
        cause=_t(
            "The file's .sig is missing, or does not match the file's exact bytes under the "
            "project's image-signing public key: the file was changed (a serial, a line "
            "added), made before registries were signed, or signed by another project.",
            "Le .sig du fichier est absent, ou ne correspond pas aux octets exacts du fichier "
            "avec la clé publique de signature des images du projet : le fichier a été modifié "
            "(un numéro, une ligne ajoutée), fait avant la signature des registres, ou signé "
            "par un autre projet.",
        ),
        action=_t(
            "Import the registry and its .sig exactly as `esecure personalize` wrote them "
            "(re-run personalize for an old registry); give --public-key when the bank's "
            "server holds the key elsewhere.",
            "Importez le registre et son .sig tels que `esecure personalize` les a écrits "
            "(relancez personalize pour un ancien registre) ; donnez --public-key si le "
            "serveur de la banque range la clé ailleurs.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES950",
        name="tuf-keys-exist",
        audience="operator",
        title=_t("TUF keys already exist", "Les clés TUF existent déjà"),
        message=_t(
            "Refusing to make new TUF keys over existing ones.",
            "Refus de créer de nouvelles clés TUF par-dessus les existantes.",
        ),
        cause=_t(
            (
                "keys/tuf/ or repository/metadata/root.json already exists: new keys would "
                "orphan every key in the field."
            ),
            (
                "keys/tuf/ ou repository/metadata/root.json existe déjà : de nouvelles clés "
                "rendraient orphelines toutes les clés en service."
            ),
        ),
        action=_t(
            "To replace one key, run `esecure keys rotate PROJECT ROLE`.",
            "Pour remplacer une clé, lancez `esecure keys rotate PROJET ROLE`.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES951",
        name="tuf-keys-missing",
        audience="operator",
        title=_t("No TUF keys", "Aucune clé TUF"),
        message=_t(
            "The project has no TUF keys or no repository yet.",
            "Le projet n'a pas encore de clés TUF ni de dépôt.",
        ),
        cause=_t(
            "`esecure keys init` was never run for this project, or keys/tuf/ was moved.",
            (
                "`esecure keys init` n'a jamais été lancé pour ce projet, ou keys/tuf/ a été "
                "déplacé."
            ),
        ),
        action=_t("Run `esecure keys init PROJECT`.", "Lancez `esecure keys init PROJET`."),
        call_support=False,
    ),
    Entry(
        code="ES952",
        name="release-version-invalid",
        audience="operator",
        title=_t("Invalid release version", "Version de publication invalide"),
        message=_t(
            (
                "The version to publish is not a version number, or not newer than the latest "
                "release."
            ),
            (
                "La version à publier n'est pas un numéro de version, ou n'est pas plus "
                "récente que la dernière."
            ),
        ),
        cause=_t(
            "Clients only ever move forward: each release needs a higher version.",
            (
                "Les clients n'avancent que vers des versions plus récentes : chaque "
                "publication exige une version supérieure."
            ),
        ),
        action=_t(
            "Publish with a higher --version (see `esecure repo status PROJECT`).",
            "Publiez avec une --version supérieure (voir `esecure repo status PROJET`).",
        ),
        call_support=False,
    ),
    Entry(
        code="ES953",
        name="bundle-invalid",
        audience="operator",
        title=_t("Not an application root", "Pas une racine d'application"),
        message=_t(
            "The directory to publish is not an application root.",
            "Le répertoire à publier n'est pas une racine d'application.",
        ),
        cause=_t(
            "It lacks product.json or lib/ (see the layout in docs/updates.md), or a "
            "component of a platform the project ships (lib/<platform>/, "
            "firefox/<platform>/): nothing was published.",
            "Il lui manque product.json ou lib/ (voir la structure dans docs/updates.md), ou "
            "un composant d'une plateforme que le projet livre (lib/<plateforme>/, "
            "firefox/<plateforme>/) : rien n'a été publié.",
        ),
        action=_t(
            (
                "Pass --bundle the directory laid out as a slot: lib/<platform>/, firefox/, "
                "profile/, product.json, trust/."
            ),
            (
                "Passez à --bundle le répertoire structuré comme un emplacement : "
                "lib/<plateforme>/, firefox/, profile/, product.json, trust/."
            ),
        ),
        call_support=False,
    ),
    Entry(
        code="ES954",
        name="tuf-key-locked",
        audience="operator",
        title=_t("A TUF key cannot be opened", "Une clé TUF ne peut pas être ouverte"),
        message=_t(
            "A sealed TUF private key could not be decrypted.",
            "Une clé privée TUF scellée n'a pas pu être déchiffrée.",
        ),
        cause=_t(
            "The passphrase is wrong, or the key file was altered.",
            "La phrase secrète est fausse, ou le fichier de clé a été modifié.",
        ),
        action=_t(
            (
                "Check the passphrase (keyring, ESECURE_PASSPHRASE or prompt, in that order) "
                "and the key files."
            ),
            (
                "Vérifiez la phrase secrète (trousseau, ESECURE_PASSPHRASE ou saisie, dans cet "
                "ordre) et les fichiers de clés."
            ),
        ),
        call_support=False,
    ),
    Entry(
        code="ES955",
        name="tuf-role-unknown",
        audience="operator",
        title=_t("Unknown TUF role or key", "Rôle ou clé TUF inconnu"),
        message=_t(
            "The role or key named on the command line does not exist.",
            "Le rôle ou la clé indiqué en ligne de commande n'existe pas.",
        ),
        cause=_t(
            (
                "TUF roles are root, targets, snapshot and timestamp; keys are listed in "
                "keys/tuf/keymap.json."
            ),
            (
                "Les rôles TUF sont root, targets, snapshot et timestamp ; les clés sont "
                "listées dans keys/tuf/keymap.json."
            ),
        ),
        action=_t(
            "Name one of the roles, and a key of that role.",
            "Indiquez l'un des rôles, et une clé de ce rôle.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES956",
        name="publish-failed",
        audience="operator",
        title=_t("Publishing failed", "La publication a échoué"),
        message=_t(
            "The repository could not be signed or written.",
            "Le dépôt n'a pas pu être signé ou écrit.",
        ),
        cause=_t(
            (
                "A private key needed for a role is missing, or the repository directory is "
                "not writable."
            ),
            (
                "Une clé privée nécessaire à un rôle manque, ou le répertoire du dépôt n'est "
                "pas accessible en écriture."
            ),
        ),
        action=_t(
            "Restore the missing key files in keys/tuf/, then publish again.",
            ("Restaurez les fichiers de clés manquants dans keys/tuf/, puis publiez de nouveau."),
        ),
        call_support=False,
    ),
    Entry(
        code="ES957",
        name="data-partition-too-small",
        audience="operator",
        title=_t("The data partition is too small", "La partition de données est trop petite"),
        message=_t(
            "The key's data partition would be too small to hold its updates.",
            (
                "La partition de données de la clé serait trop petite pour contenir ses mises "
                "à jour."
            ),
        ),
        cause=_t(
            (
                "[image] data_size_mib is below the minimum of the data partition's budget: "
                "every component of every platform updated once, a new version being written "
                "and its download, the live profile, logs, reports, keys and update metadata, "
                "a 10 % margin and the FAT32 overhead (never below 257 MiB, the smallest "
                "FAT32 volume with 4 KiB clusters)."
            ),
            (
                "[image] data_size_mib est inférieur au minimum du budget de la partition de "
                "données : chaque composant de chaque plateforme mis à jour une fois, une "
                "nouvelle version en cours d'écriture et son téléchargement, le profil, les "
                "journaux, les rapports, les clés et les métadonnées de mise à jour, une marge "
                "de 10 % et le surcoût de FAT32 (jamais moins de 257 Mio, le plus petit volume "
                "FAT32 à grappes de 4 Kio)."
            ),
        ),
        action=_t(
            (
                "Remove [image] data_size_mib so that `esecure build` sizes the partition "
                "from the plan, or set it to at least the minimum the message gives."
            ),
            (
                "Supprimez [image] data_size_mib pour que `esecure build` dimensionne la "
                "partition d'après le plan, ou donnez-lui au moins le minimum indiqué par le "
                "message."
            ),
        ),
        call_support=False,
    ),
    Entry(
        code="ES960",
        name="key-readback-differs",
        audience="operator",
        title=_t(
            "The key's data partition is not its image",
            "La partition de données de la clé n'est pas son image",
        ),
        message=_t(
            "The data partition read back from the key differs from the data image it was "
            "programmed with.",
            "La partition de données relue sur la clé diffère de l'image de données avec "
            "laquelle elle a été programmée.",
        ),
        cause=_t(
            "The vendor's tool wrote another image or a truncated one, the partition is "
            "smaller than the image, an unpersonalised data.img went onto a key that should "
            "carry its data-<serial>.img, or the flash lost data.",
            "L'outil du fabricant a écrit une autre image ou une image tronquée, la partition "
            "est plus petite que l'image, un data.img non personnalisé a été écrit sur une clé "
            "qui devait porter son data-<serial>.img, ou la mémoire flash a perdu des données.",
        ),
        action=_t(
            "Program the key again with the image the message names and read it back; set "
            "the key aside if it differs again, and have the vendor check the partition size.",
            "Reprogrammez la clé avec l'image que nomme le message et relisez-la ; écartez la "
            "clé si elle diffère encore, et faites vérifier la taille de partition par le "
            "fabricant.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES961",
        name="key-readback-unreadable",
        audience="operator",
        title=_t(
            "The key's read-back cannot be checked",
            "La relecture de la clé ne peut pas être vérifiée",
        ),
        message=_t(
            "The data partition read back from the key is not a FAT volume, or its data "
            "image is not at hand.",
            "La partition de données relue sur la clé n'est pas un volume FAT, ou son image "
            "de données n'est pas disponible.",
        ),
        cause=_t(
            "The read-back is of the wrong partition or incomplete, or the personalisation "
            "output given is not the one that made this key.",
            "La relecture porte sur la mauvaise partition ou est incomplète, ou le dossier "
            "de personnalisation donné n'est pas celui qui a fait cette clé.",
        ),
        action=_t(
            "Read the key's second (data) partition back whole, and pass the `esecure "
            "personalize --data-images --out` directory of its batch.",
            "Relisez en entier la seconde partition (données) de la clé, et donnez le "
            "dossier `esecure personalize --data-images --out` de son lot.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES970",
        name="demo-step-failed",
        audience="operator",
        title=_t("A step of the demo failed", "Une étape de la démonstration a échoué"),
        message=_t(
            "`esecure demo` stopped at a step whose outcome was not the expected one.",
            "`esecure demo` s'est arrêté à une étape dont le résultat n'est pas celui attendu.",
        ),
        cause=_t(
            "A part of the key's life (build, server, update, enrolment, Firefox, portal) "
            "did not do what the demo checks; the message names the step and shows the end "
            "of the output concerned.",
            "Une partie de la vie de la clé (construction, serveur, mise à jour, "
            "enrôlement, Firefox, portail) n'a pas fait ce que la démonstration vérifie ; "
            "le message nomme l'étape et montre la fin de la sortie concernée.",
        ),
        action=_t(
            "Read the step and the output shown; run `make system-deps` if a tool is "
            "missing, then `esecure demo` again (it starts over in its work directory).",
            "Lisez l'étape et la sortie affichée ; lancez `make system-deps` si un outil "
            "manque, puis relancez `esecure demo` (il recommence dans son dossier de travail).",
        ),
        call_support=False,
    ),
    Entry(
        code="ES973",
        name="windows-freeze-failed",
        audience="operator",
        title=_t(
            "The Windows launcher could not be frozen",
            "Le lanceur Windows n'a pas pu être figé",
        ),
        message=_t(
            "A step of freezing the Windows launcher under Wine failed.",
            "Une étape de la congélation du lanceur Windows sous Wine a échoué.",
        ),
        cause=_t(
            "Wine could not make or run its prefix, PyPI could not be reached for the "
            "Windows wheels, or PyInstaller failed under Wine; the message names the step "
            "and gives its last output.",
            "Wine n'a pas pu créer ou lancer son préfixe, PyPI n'a pas pu être joint pour les "
            "wheels Windows, ou PyInstaller a échoué sous Wine ; le message nomme l'étape et "
            "donne sa dernière sortie.",
        ),
        action=_t(
            "Apply the fix the message gives for that step (often: run "
            "build_scripts/install-system-deps.sh, or delete the cached prefix it names), "
            "then build again.",
            "Appliquez la correction que le message donne pour cette étape (souvent : lancez "
            "build_scripts/install-system-deps.sh, ou supprimez le préfixe en cache qu'il "
            "nomme), puis relancez la construction.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES974",
        name="windows-python-untrusted",
        audience="operator",
        title=_t(
            "The Windows Python is not the one expected",
            "Le Python Windows n'est pas celui attendu",
        ),
        message=_t(
            "The Windows CPython downloaded for the freeze failed its checks.",
            "Le CPython Windows téléchargé pour la congélation a échoué à ses vérifications.",
        ),
        cause=_t(
            "Its distribution does not have the pinned sha256, or one of its binaries "
            "(python311.dll, python3.dll, python.exe, the .pyd and .dll of DLLs/) lacks a "
            "valid Authenticode signature of the Python Software Foundation. Nothing of it "
            "was run.",
            "Sa distribution n'a pas le sha256 épinglé, ou l'un de ses binaires "
            "(python311.dll, python3.dll, python.exe, les .pyd et .dll de DLLs/) n'a pas de "
            "signature Authenticode valide de la Python Software Foundation. Rien n'en a été "
            "lancé.",
        ),
        action=_t(
            "Delete the cached file or prefix the message names and build again; if the "
            "check fails again, do not build: report it.",
            "Supprimez le fichier ou le préfixe en cache que le message nomme et relancez la "
            "construction ; si la vérification échoue encore, ne construisez pas : "
            "signalez-le.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES975",
        name="authenticode-invalid",
        audience="operator",
        title=_t(
            "A Windows program is not signed by the project",
            "Un programme Windows n'est pas signé par le projet",
        ),
        message=_t(
            "A Windows program the project produces is unsigned, or its Authenticode "
            "signature is not the project's, or it could not be signed.",
            "Un programme Windows que le projet produit n'est pas signé, ou sa signature "
            "Authenticode n'est pas celle du projet, ou il n'a pas pu être signé.",
        ),
        cause=_t(
            "e-secure.exe was replaced or altered after signing, signed with another "
            "certificate, or never signed; or osslsigncode (or the timestamp authority of "
            "[signing] tsa_url) failed at build time. Checked on its own, whatever the "
            "manifest says.",
            "e-secure.exe a été remplacé ou modifié après signature, signé avec un autre "
            "certificat, ou jamais signé ; ou osslsigncode (ou l'autorité d'horodatage de "
            "[signing] tsa_url) a échoué à la construction. Vérifié à part, quoi que dise le "
            "manifeste.",
        ),
        action=_t(
            "Do not ship this image: rebuild it with `esecure build` from the project (check "
            "[signing] and that its timestamp authority answers).",
            "Ne livrez pas cette image : reconstruisez-la avec `esecure build` depuis le "
            "projet (vérifiez [signing] et que son autorité d'horodatage répond).",
        ),
        call_support=False,
    ),
    Entry(
        code="ES976",
        name="windows-firefox-unchecked",
        audience="operator",
        title=_t(
            "The Windows Firefox is not the one the project pinned",
            "Le Firefox Windows n'est pas celui que le projet a épinglé",
        ),
        message=_t(
            "The Firefox ESR for Windows named by [firefox] windows failed its checks.",
            "Le Firefox ESR pour Windows désigné par [firefox] windows a échoué à ses "
            "vérifications.",
        ),
        cause=_t(
            "A file the key needs is missing (firefox.exe, xul.dll, mozglue.dll, nss3.dll, "
            "freebl3.dll, softokn3.dll, omni.ja, browser/omni.ja, application.ini), a "
            "program is not a 64-bit Windows one, application.ini has no version, or the "
            "tree's hash differs from [firefox] windows_sha256 (a file changed, or the pin "
            "was never set). Nothing was built.",
            "Un fichier dont la clé a besoin manque (firefox.exe, xul.dll, mozglue.dll, "
            "nss3.dll, freebl3.dll, softokn3.dll, omni.ja, browser/omni.ja, "
            "application.ini), un programme n'est pas un programme Windows 64 bits, "
            "application.ini n'a pas de version, ou le hash de l'arborescence diffère de "
            "[firefox] windows_sha256 (un fichier a changé, ou l'empreinte n'a jamais été "
            "fixée). Rien n'a été construit.",
        ),
        action=_t(
            "Supply the 64-bit Firefox ESR for Windows, extracted; once you have checked it, "
            "set [firefox] windows_sha256 to the value the message (or `esecure firefox-hash "
            "DIR`) prints, then build again.",
            "Fournissez le Firefox ESR 64 bits pour Windows, extrait ; une fois vérifié, "
            "mettez dans [firefox] windows_sha256 la valeur que le message (ou `esecure "
            "firefox-hash DIR`) affiche, puis relancez la construction.",
        ),
        call_support=False,
    ),
    Entry(
        code="ES977",
        name="token-pin-missing",
        audience="operator",
        title=_t(
            "No PIN for the code-signing token",
            "Aucun code PIN pour le jeton de signature de code",
        ),
        message=_t(
            "e-secure.exe is signed with a key on a PKCS#11 token, and no PIN was given.",
            "e-secure.exe est signé avec une clé sur un jeton PKCS#11, et aucun code PIN "
            "n'a été fourni.",
        ),
        cause=_t(
            "[signing] key is a pkcs11: URI and ESECURE_PKCS11_PIN is not set. Nothing was "
            "signed or written.",
            "[signing] key est une URI pkcs11: et ESECURE_PKCS11_PIN n'est pas définie. Rien "
            "n'a été signé ni écrit.",
        ),
        action=_t(
            "Set ESECURE_PKCS11_PIN to the token's user PIN for this build (never in "
            "esecure.toml), then build again.",
            "Définissez ESECURE_PKCS11_PIN avec le code PIN utilisateur du jeton pour cette "
            "construction (jamais dans esecure.toml), puis relancez la construction.",
        ),
        call_support=False,
    ),
)

CATALOGUE: dict[str, Entry] = {e.code: e for e in _ENTRIES}
if len(CATALOGUE) != len(_ENTRIES):  # pragma: no cover - guards edits of the table above
    raise RuntimeError("duplicate code in the error catalogue")


def entry(code: str) -> Entry:
    """The catalogue entry for ``code``; a KeyError names the unknown code."""
    return CATALOGUE[code]


@dataclass(frozen=True)
class Problem:
    """One precise finding about an input: where, what was expected, what was found, the fix."""

    where: str
    expected: str
    found: str
    fix: str
    line: int | None = None

    def render(self) -> str:
        """``file:line: key: expected X, found Y. Fix: Z``."""
        return f"{self.where}: expected {self.expected}, found {self.found}. Fix: {self.fix}"


class EsecureError(Exception):
    """Base of every error e-secure raises on purpose.

    ``code`` selects the catalogue entry (what the user reads); ``detail`` says exactly
    what happened here (which file, which value). Subclasses set the exit code.
    """

    exit_code: ClassVar[int] = 1
    default_code: ClassVar[str] = "ES906"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        self.code = code or self.default_code
        self.entry = entry(self.code)
        self.detail = detail
        super().__init__(f"{self.code}: {detail}")

    def render(self, lang: str = "en", support_phone: str | None = None) -> str:
        """The full text for a terminal or a support report, in ``lang``."""
        e = self.entry
        lines = [f"error {e.code}: {e.message.get(lang)}", f"  {self.detail}"]
        fr = lang == "fr"
        lines.append(f"  cause: {e.cause.get(lang)}")
        lines.append(f"  {'que faire' if fr else 'action'}: {e.action.get(lang)}")
        if e.call_support and support_phone:
            lines.append(f"  {'assistance' if fr else 'support'}: {support_phone}")
        return "\n".join(lines)


class UsageError(EsecureError):
    """The command line or an input file is wrong: the user can fix it (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """The key project is wrong; carries every problem found, each with its fix."""

    default_code = "ES901"

    def __init__(self, problems: list[Problem] | Problem, *, code: str | None = None) -> None:
        self.problems = problems if isinstance(problems, list) else [problems]
        detail = "\n  ".join(p.render() for p in self.problems)
        super().__init__(detail, code=code)


class OperationError(EsecureError):
    """The operation was attempted and failed (exit 1)."""

    exit_code = 1


class ToolError(OperationError):
    """An external tool (xorriso, mtools, PyInstaller, NSS) is missing or failed."""


class StorageError(OperationError):
    """A file could not be read or written: disk full, read-only medium, permissions."""

    default_code = "ES905"


class IntegrityError(OperationError):
    """A signature, hash or manifest check failed: the data is not what was signed."""

    default_code = "ES101"


class NetworkError(OperationError):
    """A server could not be reached, or the exchange with it broke."""

    default_code = "ES301"


class EnrolmentError(OperationError):
    """The certificate service refused the key or its request."""

    default_code = "ES202"


class SessionError(OperationError):
    """The key is in use by another session, or the portal did not answer."""

    default_code = "ES401"


class UpdateError(OperationError):
    """An update could not be checked or applied; the current version keeps running."""


class UpdateSecurityError(UpdateError):
    """The update channel failed a security check (signature, version, hash, expiry)."""
