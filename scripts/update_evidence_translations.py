"""Write the PDF proof's catalogs (src/tabellion/evidence/rendering/locale) from its strings.

    .venv/bin/python scripts/update_evidence_translations.py

The strings are extracted from ``src/tabellion/evidence/rendering/*.py`` (``_()`` and ``N_()``);
their translations are below. A string missing here makes the script fail, and
``tests/evidence/test_pdf_languages.py`` too.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir

# Run as a script, the repository's root is not on the path; imported by the tests, it is.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts._catalogs import write_catalog

SOURCE = Path(__file__).resolve().parent.parent / "src" / "tabellion" / "evidence" / "rendering"
LOCALE = SOURCE / "locale"
LANGUAGES = ("fr", "nl", "de")

T: dict[str, tuple[str, str, str]] = {
    # msgid: (fr, nl, de)
    "Evidence": ("Preuve", "Bewijs", "Nachweis"),
    "Evidence of sending": ("Preuve de dépôt", "Bewijs van verzending", "Nachweis der Absendung"),
    "Evidence of notification": (
        "Preuve de notification",
        "Bewijs van kennisgeving",
        "Nachweis der Benachrichtigung",
    ),
    "Evidence of non-delivery": (
        "Preuve de non-distribution",
        "Bewijs van niet-bezorging",
        "Nachweis der Nichtzustellung",
    ),
    "Evidence of receipt": ("Preuve de réception", "Bewijs van ontvangst", "Nachweis des Empfangs"),
    "Evidence of acceptance": (
        "Preuve d'acceptation",
        "Bewijs van aanvaarding",
        "Nachweis der Annahme",
    ),
    "Evidence of refusal": ("Preuve de refus", "Bewijs van weigering", "Nachweis der Ablehnung"),
    "Evidence of expiry": ("Preuve d'expiration", "Bewijs van verval", "Nachweis des Fristablaufs"),
    "Evidence of download": (
        "Preuve de téléchargement",
        "Bewijs van download",
        "Nachweis des Herunterladens",
    ),
    "Evidence of reply": ("Preuve de réponse", "Bewijs van antwoord", "Nachweis der Antwort"),
    "Evidence of the sender's reply": (
        "Preuve de la réponse de l'expéditeur",
        "Bewijs van het antwoord van de afzender",
        "Nachweis der Antwort des Absenders",
    ),
    "Sending": ("Dépôt", "Verzending", "Absendung"),
    "Notification": ("Notification", "Kennisgeving", "Benachrichtigung"),
    "Non-delivery": ("Non-distribution", "Niet-bezorging", "Nichtzustellung"),
    "Receipt": ("Réception", "Ontvangst", "Empfang"),
    "Acceptance": ("Acceptation", "Aanvaarding", "Annahme"),
    "Refusal": ("Refus", "Weigering", "Ablehnung"),
    "Expiry of the acceptance period": (
        "Expiration du délai d'acceptation",
        "Verstrijken van de aanvaardingstermijn",
        "Ablauf der Annahmefrist",
    ),
    "Download of a document": (
        "Téléchargement d'un document",
        "Download van een document",
        "Herunterladen eines Dokuments",
    ),
    "Reply": ("Réponse", "Antwoord", "Antwort"),
    "Reply by the sender": (
        "Réponse de l'expéditeur",
        "Antwoord van de afzender",
        "Antwort des Absenders",
    ),
    "Reply file": ("Fichier de la réponse", "Bestand van het antwoord", "Datei der Antwort"),
    "Refused by the recipient": (
        "Refus du destinataire",
        "Geweigerd door de ontvanger",
        "Vom Empfänger abgelehnt",
    ),
    "Acceptance period expired": (
        "Délai d'acceptation expiré",
        "Aanvaardingstermijn verstreken",
        "Annahmefrist abgelaufen",
    ),
    "Notification refused by the recipient's mail server": (
        "Notification refusée par le serveur de messagerie du destinataire",
        "Kennisgeving geweigerd door de mailserver van de ontvanger",
        "Benachrichtigung vom Mailserver des Empfängers abgelehnt",
    ),
    "Notification bounced by the recipient's mail server": (
        "Notification retournée en échec par le serveur de messagerie du destinataire",
        "Kennisgeving teruggestuurd door de mailserver van de ontvanger",
        "Benachrichtigung vom Mailserver des Empfängers zurückgesandt",
    ),
    "Notification could not be delivered": (
        "Notification impossible à distribuer",
        "Kennisgeving kon niet worden bezorgd",
        "Benachrichtigung konnte nicht zugestellt werden",
    ),
    "personal link in the notification": (
        "lien personnel de la notification",
        "persoonlijke link in de kennisgeving",
        "persönlicher Link in der Benachrichtigung",
    ),
    "recipient page": ("page du destinataire", "ontvangerspagina", "Empfängerseite"),
    "recipient page session": (
        "session sur la page du destinataire",
        "sessie op de ontvangerspagina",
        "Sitzung auf der Empfängerseite",
    ),
    "vault session": ("session du coffre", "kluissessie", "Tresor-Sitzung"),
    "one-time code sent to the address": (
        "code à usage unique envoyé à l'adresse",
        "eenmalige code verzonden naar het adres",
        "Einmalcode an die Adresse gesendet",
    ),
    "SIREN": ("SIREN", "SIREN", "SIREN"),
    "KvK": ("KvK", "KvK", "KvK"),
    "VAT": ("TVA", "btw", "USt-IdNr."),
    "This document is sealed. Its signature and the embedded evidence.json can be checked "
    "with any PDF reader, with `tabellion verify`, or at %(url)s.": (
        "Ce document est scellé. Son cachet et le fichier evidence.json joint peuvent être "
        "vérifiés avec tout lecteur PDF, avec `tabellion verify` ou sur %(url)s.",
        "Dit document is verzegeld. Het zegel en het ingesloten evidence.json kunnen worden "
        "gecontroleerd met elke pdf-lezer, met `tabellion verify` of op %(url)s.",
        "Dieses Dokument ist versiegelt. Das Siegel und die eingebettete evidence.json lassen "
        "sich mit jedem PDF-Reader, mit `tabellion verify` oder unter %(url)s prüfen.",
    ),
    "Scan to verify": ("Scanner pour vérifier", "Scan om te controleren", "Zum Prüfen scannen"),
    "Event": ("Événement", "Gebeurtenis", "Ereignis"),
    "Date and time": ("Date et heure", "Datum en tijd", "Datum und Uhrzeit"),
    "Issuer": ("Émetteur", "Uitgever", "Aussteller"),
    "Sender": ("Expéditeur", "Afzender", "Absender"),
    "Sender authentication": (
        "Authentification de l'expéditeur",
        "Authenticatie van de afzender",
        "Authentifizierung des Absenders",
    ),
    "Recipient": ("Destinataire", "Ontvanger", "Empfänger"),
    "Recipient authentication": (
        "Authentification du destinataire",
        "Authenticatie van de ontvanger",
        "Authentifizierung des Empfängers",
    ),
    "Action by the recipient": (
        "Action du destinataire",
        "Handeling van de ontvanger",
        "Handlung des Empfängers",
    ),
    "Message": ("Message", "Bericht", "Nachricht"),
    "Delivery": ("Remise", "Bezorging", "Zustellung"),
    "Reason": ("Motif", "Reden", "Grund"),
    "Subject": ("Objet", "Onderwerp", "Betreff"),
    "Body as submitted": ("Corps tel que soumis", "Inhoud zoals ingediend", "Text wie eingereicht"),
    "Body as shown": ("Corps tel que présenté", "Inhoud zoals getoond", "Text wie angezeigt"),
    "Plain-text body": ("Corps en texte brut", "Inhoud als platte tekst", "Text als Klartext"),
    "Document": ("Document", "Document", "Dokument"),
    "Chain": ("Chaîne", "Keten", "Kette"),
    "client key %(key)s (signed JWT)": (
        "clé client %(key)s (JWT signé)",
        "clientsleutel %(key)s (ondertekende JWT)",
        "Client-Schlüssel %(key)s (signiertes JWT)",
    ),
    "API key %(key)s": ("clé d'API %(key)s", "API-sleutel %(key)s", "API-Schlüssel %(key)s"),
    "sent on its behalf by %(organization)s": (
        "envoyé pour son compte par %(organization)s",
        "namens haar verzonden door %(organization)s",
        "in ihrem Auftrag gesendet von %(organization)s",
    ),
    "one-time code sent to %(address)s, confirmed on %(time)s": (
        "code à usage unique envoyé à %(address)s, confirmé le %(time)s",
        "eenmalige code verzonden naar %(address)s, bevestigd op %(time)s",
        "Einmalcode an %(address)s gesendet, bestätigt am %(time)s",
    ),
    "from IP %(ip)s": (
        "depuis l'adresse IP %(ip)s",
        "vanaf IP-adres %(ip)s",
        "von IP-Adresse %(ip)s",
    ),
    "browser: %(agent)s": ("navigateur : %(agent)s", "browser: %(agent)s", "Browser: %(agent)s"),
    "as recorded: %(text)s": (
        "texte enregistré : %(text)s",
        "zoals vastgelegd: %(text)s",
        "wie aufgezeichnet: %(text)s",
    ),
    "SMTP reply %(code)s": (
        "réponse SMTP %(code)s",
        "SMTP-antwoord %(code)s",
        "SMTP-Antwort %(code)s",
    ),
    "no. %(sequence)s, the organisation's first proof": (
        "n° %(sequence)s, première preuve de l'organisation",
        "nr. %(sequence)s, eerste bewijs van de organisatie",
        "Nr. %(sequence)s, erster Nachweis der Organisation",
    ),
    "no. %(sequence)s, after the proof %(hash)s": (
        "n° %(sequence)s, après la preuve %(hash)s",
        "nr. %(sequence)s, na het bewijs %(hash)s",
        "Nr. %(sequence)s, nach dem Nachweis %(hash)s",
    ),
}


def extracted() -> list[str]:
    found: list[str] = []
    for _, _, message, _, _ in extract_from_dir(
        SOURCE, method_map=[("**.py", "python")], keywords={"_": None, "N_": None}
    ):
        if isinstance(message, str) and message not in found:
            found.append(message)
    return found


def main() -> int:
    messages = extracted()
    missing = [m for m in messages if m not in T]
    if missing:
        print("No translation for:", *missing, sep="\n  ")
        return 1
    for index, language in enumerate(LANGUAGES):
        target = LOCALE / language / "LC_MESSAGES" / "messages.po"
        write_catalog(target, language, [(message, T[message][index]) for message in messages])
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
