"""Write the portal's .po catalogs from the extracted template and the translations below.

    .venv/bin/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 -o /tmp/messages.pot .
    .venv/bin/python scripts/update_translations.py /tmp/messages.pot

A translation already in a catalog and not below is kept; a message translated nowhere stays
untranslated (shown in English), is listed on the console, and fails tests/portal/test_catalogs.py.
Messages used at run time but not visible to the extractor are listed in EXTRA.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po

# Run as a script, the repository's root is not on the path; imported by the tests, it is.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts._catalogs import existing, write_catalog

LOCALE = Path(__file__).resolve().parent.parent / "src" / "tabellion" / "portal" / "locale"

EXTRA = [
    "A code was sent less than a minute ago; check your inbox.",
    "Too many codes were asked for; try again in an hour.",
    "This code has expired or was replaced; ask for a new one.",
    "Too many wrong codes; ask for a new one.",
    "That code is not right. %(left)s tries left.",
    "Tick the box to confirm your choice.",
    "Enter a valid e-mail address.",
    "This letter was already answered",
    "The deadline to answer has passed",
    "This delivery is closed",
    "Confirm your identity first",
    "Write a reply or attach a file.",
    "A file is larger than the limit.",
    "Attach at most 10 files.",
    "The form expired; reload the page and retry.",
    "The form could not be read; retry.",
    "The reply form must be sent as multipart/form-data.",
    "Evidence", "Evidence of sending", "Evidence of notification", "Evidence of non-delivery",
    "Evidence of receipt", "Evidence of acceptance", "Evidence of refusal", "Evidence of expiry",
    "Evidence of download", "Evidence of reply",
    "pending", "notified", "received", "accepted", "refused", "expired", "undelivered",
    "This file was deleted at the end of its retention period. The proof of its delivery "
    "remains.",
    "That session was ended: its browser is signed out.",
    "Every other session was ended.",
]  # fmt: skip

T: dict[str, tuple[str, str, str]] = {
    # The second step at sign-in, and a user's own sessions (dashboard).
    "Your account asks for a second step: enter the 6-digit code your authenticator app shows now.": (
        "Votre compte demande une seconde étape : saisissez le code à 6 chiffres que votre application d’authentification affiche maintenant.",
        "Uw account vraagt een tweede stap: voer de code van 6 cijfers in die uw authenticator-app nu toont.",
        "Ihr Konto verlangt einen zweiten Schritt: Geben Sie den 6-stelligen Code ein, den Ihre Authenticator-App jetzt anzeigt.",
    ),
    "6-digit code": ("Code à 6 chiffres", "Code van 6 cijfers", "6-stelliger Code"),
    "No access to your authenticator app? Ask an admin of your organisation.": (
        "Plus d’accès à votre application d’authentification ? Demandez à un administrateur de votre organisation.",
        "Geen toegang tot uw authenticator-app? Vraag het aan een beheerder van uw organisatie.",
        "Kein Zugriff auf Ihre Authenticator-App? Wenden Sie sich an einen Administrator Ihrer Organisation.",
    ),
    "Settings": ("Paramètres", "Instellingen", "Einstellungen"),
    "Sessions": ("Sessions", "Sessies", "Sitzungen"),
    "Each browser signed in to your account. A session lasts 8 hours; ending one signs that browser out at once.": (
        "Chaque navigateur connecté à votre compte. Une session dure 8 heures ; y mettre fin déconnecte aussitôt ce navigateur.",
        "Elke browser die bij uw account is aangemeld. Een sessie duurt 8 uur; een sessie beëindigen meldt die browser meteen af.",
        "Jeder Browser, der bei Ihrem Konto angemeldet ist. Eine Sitzung dauert 8 Stunden; wer eine beendet, meldet diesen Browser sofort ab.",
    ),
    "This browser": ("Ce navigateur", "Deze browser", "Dieser Browser"),
    "Signed in": ("Connecté le", "Aangemeld op", "Angemeldet am"),
    "Ends": ("Fin", "Eindigt op", "Endet am"),
    "Sign out this session": (
        "Déconnecter cette session",
        "Deze sessie afmelden",
        "Diese Sitzung abmelden",
    ),
    "Sign out all other sessions": (
        "Déconnecter toutes les autres sessions",
        "Alle andere sessies afmelden",
        "Alle anderen Sitzungen abmelden",
    ),
    "Sign out everywhere": ("Se déconnecter partout", "Overal afmelden", "Überall abmelden"),
    "That session was ended: its browser is signed out.": (
        "Cette session a pris fin : son navigateur est déconnecté.",
        "Die sessie is beëindigd: die browser is afgemeld.",
        "Diese Sitzung wurde beendet: Ihr Browser ist abgemeldet.",
    ),
    "Every other session was ended.": (
        "Toutes les autres sessions ont pris fin.",
        "Alle andere sessies zijn beëindigd.",
        "Alle anderen Sitzungen wurden beendet.",
    ),
    "Signatures": ("Signatures", "Handtekeningen", "Signaturen"),
    "API keys": ("Clés d’API", "API-sleutels", "API-Schlüssel"),
    "Users": ("Utilisateurs", "Gebruikers", "Benutzer"),
    "This file was deleted at the end of its retention period. The proof of its delivery "
    "remains.": (
        "Ce fichier a été supprimé à la fin de sa durée de conservation. La preuve de sa "
        "remise demeure.",
        "Dit bestand is verwijderd aan het einde van de bewaartermijn. Het bewijs van de "
        "bezorging blijft bewaard.",
        "Diese Datei wurde am Ende ihrer Aufbewahrungsfrist gelöscht. Der Nachweis ihrer "
        "Zustellung bleibt erhalten.",
    ),
    "Signed documents": ("Documents signés", "Ondertekende documenten", "Unterzeichnete Dokumente"),
    "This is the service's record of the envelope, not a check of a file. To check that a PDF "
    "you hold is this signed document and unchanged, drop it above.": (
        "Voici ce que le service a enregistré de l’enveloppe, pas la vérification d’un fichier. "
        "Pour vérifier qu’un PDF que vous détenez est ce document signé, sans modification, "
        "déposez-le ci-dessus.",
        "Dit is wat de dienst van de envelop heeft vastgelegd, geen controle van een bestand. "
        "Zet een pdf die u hebt hierboven neer om te controleren dat het dit ondertekende "
        "document is, ongewijzigd.",
        "Dies ist die Aufzeichnung des Dienstes über den Umschlag, keine Prüfung einer Datei. "
        "Um zu prüfen, ob ein PDF in Ihrem Besitz dieses unterzeichnete Dokument ist und "
        "unverändert, legen Sie es oben ab.",
    ),
    "No completed envelope with this id here": (
        "Aucune enveloppe terminée avec cet identifiant ici",
        "Geen voltooide envelop met deze id hier",
        "Kein abgeschlossener Umschlag mit dieser Kennung hier",
    ),
    "Check the link, or drop the signed PDF itself above to check it.": (
        "Vérifiez le lien, ou déposez ci-dessus le PDF signé lui-même pour le vérifier.",
        "Controleer de link, of zet de ondertekende pdf zelf hierboven neer om die te controleren.",
        "Prüfen Sie den Link, oder legen Sie das unterzeichnete PDF selbst oben ab, um es zu "
        "prüfen.",
    ),
    "Signed through this service": (
        "Signé par ce service",
        "Ondertekend via deze dienst",
        "Über diesen Dienst unterzeichnet",
    ),
    "completed": ("terminé le", "voltooid op", "abgeschlossen am"),
    "The seal of this PDF is valid: it has not changed since it was sealed. It is a signed "
    "document, not a proof; the signatures are recorded as the evidence listed below.": (
        "Le cachet de ce PDF est valide : il n’a pas changé depuis qu’il a été scellé. C’est un "
        "document signé, pas une preuve ; les signatures sont enregistrées dans les preuves "
        "listées ci-dessous.",
        "Het zegel van deze pdf is geldig: het document is niet gewijzigd sinds het werd "
        "verzegeld. Het is een ondertekend document, geen bewijs; de handtekeningen zijn "
        "vastgelegd in de bewijzen hieronder.",
        "Das Siegel dieses PDF ist gültig: Es wurde seit der Versiegelung nicht verändert. Es ist "
        "ein unterzeichnetes Dokument, kein Nachweis; die Unterschriften sind in den unten "
        "aufgeführten Nachweisen festgehalten.",
    ),
    "Someone entered wrong codes for your address, so the sign-in code was locked. If it was "
    "not you, nothing was opened. This link signs you in once, within an hour.": (
        "Quelqu’un a saisi de mauvais codes pour votre adresse, le code de connexion a donc été "
        "bloqué. Si ce n’était pas vous, rien n’a été ouvert. Ce lien vous connecte une fois, "
        "dans l’heure.",
        "Iemand heeft verkeerde codes ingevoerd voor uw adres, daarom is de aanmeldcode "
        "geblokkeerd. Als u het niet was, is er niets geopend. Met deze link meldt u zich één "
        "keer aan, binnen een uur.",
        "Jemand hat für Ihre Adresse falsche Codes eingegeben, daher wurde der Anmeldecode "
        "gesperrt. Falls Sie es nicht waren, wurde nichts geöffnet. Mit diesem Link melden Sie "
        "sich einmal an, innerhalb einer Stunde.",
    ),
    "Sign in to the secure space of %(email)s with the link you received.": (
        "Connectez-vous à l’espace sécurisé de %(email)s avec le lien que vous avez reçu.",
        "Meld u aan bij de beveiligde ruimte van %(email)s met de link die u hebt ontvangen.",
        "Melden Sie sich mit dem erhaltenen Link im sicheren Bereich von %(email)s an.",
    ),
    # msgid: (fr, nl, de)
    # Evidence: PDF proofs and the verify page
    "Timestamps": ("Horodatages", "Tijdstempels", "Zeitstempel"),
    "The proof awaits its timestamp from the authority; it is valid meanwhile.": (
        "La preuve attend son horodatage de l'autorité ; elle est valable en attendant.",
        "Het bewijs wacht op zijn tijdstempel van de autoriteit; het is intussen geldig.",
        "Der Nachweis wartet auf seinen Zeitstempel der Zeitstempelstelle; er ist in der Zwischenzeit gültig.",
    ),
    "Timestamp of the proof: %(time)s, by %(authority)s": (
        "Horodatage de la preuve : %(time)s, par %(authority)s",
        "Tijdstempel van het bewijs: %(time)s, door %(authority)s",
        "Zeitstempel des Nachweises: %(time)s, von %(authority)s",
    ),
    "Timestamp of the PDF seal: %(time)s, by %(authority)s": (
        "Horodatage du cachet du PDF : %(time)s, par %(authority)s",
        "Tijdstempel van het PDF-zegel: %(time)s, door %(authority)s",
        "Zeitstempel des PDF-Siegels: %(time)s, von %(authority)s",
    ),
    "This document is sealed. Its signature and the embedded evidence.json can be checked with any PDF reader, with `tabellion verify`, or at %(url)s.": (
        "Ce document est scellé. Son cachet et le fichier evidence.json joint peuvent être vérifiés avec tout lecteur PDF, avec `tabellion verify` ou sur %(url)s.",
        "Dit document is verzegeld. De zegel en het ingesloten evidence.json kunnen worden gecontroleerd met elke PDF-lezer, met `tabellion verify` of op %(url)s.",
        "Dieses Dokument ist versiegelt. Das Siegel und die eingebettete evidence.json lassen sich mit jedem PDF-Reader, mit `tabellion verify` oder unter %(url)s prüfen.",
    ),
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
    "Message": ("Message", "Bericht", "Nachricht"),
    "Delivery": ("Remise", "Bezorging", "Zustellung"),
    "Subject (SHA-256)": ("Objet (SHA-256)", "Onderwerp (SHA-256)", "Betreff (SHA-256)"),
    "Body (SHA-256)": ("Corps (SHA-256)", "Inhoud (SHA-256)", "Text (SHA-256)"),
    "Reason": ("Motif", "Reden", "Grund"),
    "Recipient authentication": (
        "Authentification du destinataire",
        "Authenticatie van de ontvanger",
        "Authentifizierung des Empfängers",
    ),
    "Document": ("Document", "Document", "Dokument"),
    "Chain": ("Chaîne", "Keten", "Kette"),
    "previous": ("précédente", "vorige", "vorherige"),
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
    "Verify a proof or a document": (
        "Vérifier une preuve ou un document",
        "Een bewijs of document controleren",
        "Einen Nachweis oder ein Dokument prüfen",
    ),
    "Warning: this service seals its proofs with a self-issued certificate.": (
        "Attention : ce service scelle ses preuves avec un certificat auto-émis.",
        "Let op: deze dienst verzegelt zijn bewijzen met een zelf uitgegeven certificaat.",
        "Achtung: Dieser Dienst versiegelt seine Nachweise mit einem selbst ausgestellten Zertifikat.",
    ),
    "Drop a Tabellion proof (PDF or JSON) or a document you received, to check that it is authentic.": (
        "Déposez une preuve Tabellion (PDF ou JSON) ou un document reçu pour vérifier son authenticité.",
        "Zet hier een Tabellion-bewijs (PDF of JSON) of een ontvangen document neer om te controleren of het echt is.",
        "Legen Sie einen Tabellion-Nachweis (PDF oder JSON) oder ein erhaltenes Dokument ab, um seine Echtheit zu prüfen.",
    ),
    "File": ("Fichier", "Bestand", "Datei"),
    "Verify": ("Vérifier", "Controleren", "Prüfen"),
    "Authentic proof": ("Preuve authentique", "Echt bewijs", "Echter Nachweis"),
    "This file is NOT an authentic proof": (
        "Ce fichier n'est PAS une preuve authentique",
        "Dit bestand is GEEN echt bewijs",
        "Diese Datei ist KEIN echter Nachweis",
    ),
    "Delivered by this service": (
        "Remis par ce service",
        "Bezorgd door deze dienst",
        "Von diesem Dienst zugestellt",
    ),
    "Unknown file": ("Fichier inconnu", "Onbekend bestand", "Unbekannte Datei"),
    "This file is neither a Tabellion proof nor a document delivered by this service.": (
        "Ce fichier n'est ni une preuve Tabellion ni un document remis par ce service.",
        "Dit bestand is geen Tabellion-bewijs en geen document dat door deze dienst is bezorgd.",
        "Diese Datei ist weder ein Tabellion-Nachweis noch ein von diesem Dienst zugestelltes Dokument.",
    ),
    "Checks": ("Vérifications", "Controles", "Prüfungen"),
    "Problems": ("Problèmes", "Problemen", "Probleme"),
    # Notification e-mails
    "%(sender)s placed a document in your secure space": (
        "%(sender)s a déposé un document dans votre espace sécurisé",
        "%(sender)s heeft een document in uw beveiligde ruimte geplaatst",
        "%(sender)s hat ein Dokument in Ihrem sicheren Bereich abgelegt",
    ),
    "%(sender)s placed \u201c%(subject)s\u201d in your secure space.": (
        "%(sender)s a déposé « %(subject)s » dans votre espace sécurisé.",
        "%(sender)s heeft \u201c%(subject)s\u201d in uw beveiligde ruimte geplaatst.",
        "%(sender)s hat \u201e%(subject)s\u201c in Ihrem sicheren Bereich abgelegt.",
    ),
    "%(sender)s sent you a document: %(subject)s": (
        "%(sender)s vous a envoyé un document : %(subject)s",
        "%(sender)s heeft u een document gestuurd: %(subject)s",
        "%(sender)s hat Ihnen ein Dokument gesendet: %(subject)s",
    ),
    "%(sender)s sent you a secure message": (
        "%(sender)s vous a envoyé un message sécurisé",
        "%(sender)s heeft u een beveiligd bericht gestuurd",
        "%(sender)s hat Ihnen eine sichere Nachricht gesendet",
    ),
    "%(sender)s sent you a secure message: \u201c%(subject)s\u201d.": (
        "%(sender)s vous a envoyé un message sécurisé : « %(subject)s ».",
        "%(sender)s heeft u een beveiligd bericht gestuurd: \u201c%(subject)s\u201d.",
        "%(sender)s hat Ihnen eine sichere Nachricht gesendet: \u201e%(subject)s\u201c.",
    ),
    "%(sender)s sent you \u201c%(subject)s\u201d.": (
        "%(sender)s vous a envoyé « %(subject)s ».",
        "%(sender)s heeft u \u201c%(subject)s\u201d gestuurd.",
        "%(sender)s hat Ihnen \u201e%(subject)s\u201c gesendet.",
    ),
    "A registered electronic letter was sent to you. To read it, confirm your identity with a code sent to this address, then accept it.": (
        "Une lettre recommandée électronique vous a été envoyée. Pour la lire, confirmez votre identité avec un code envoyé à cette adresse, puis acceptez-la.",
        "Er is u een elektronische aangetekende brief gestuurd. Om hem te lezen, bevestigt u uw identiteit met een code die naar dit adres wordt gestuurd, en aanvaardt u hem.",
        "Ihnen wurde ein elektronisches Einschreiben gesendet. Um es zu lesen, bestätigen Sie Ihre Identität mit einem Code, der an diese Adresse gesendet wird, und nehmen es dann an.",
    ),
    "If the button does not work, copy this address into your browser:": (
        "Si le bouton ne fonctionne pas, copiez cette adresse dans votre navigateur :",
        "Werkt de knop niet, kopieer dan dit adres in uw browser:",
        "Falls die Schaltfläche nicht funktioniert, kopieren Sie diese Adresse in Ihren Browser:",
    ),
    "Open the document": ("Ouvrir le document", "Het document openen", "Dokument öffnen"),
    "Read the message": ("Lire le message", "Het bericht lezen", "Nachricht lesen"),
    "Sent by Tabellion, a registered electronic delivery service. Every step of this letter is recorded as evidence.": (
        "Envoyé par Tabellion, service d'envoi recommandé électronique. Chaque étape de cette lettre est enregistrée comme preuve.",
        "Verzonden door Tabellion, een dienst voor elektronische aangetekende zendingen. Elke stap van deze brief wordt als bewijs vastgelegd.",
        "Gesendet von Tabellion, einem Dienst für elektronische Einschreiben. Jeder Schritt dieses Briefes wird als Nachweis festgehalten.",
    ),
    "You can accept or refuse it until %(date)s. After that date it expires.": (
        "Vous pouvez l'accepter ou la refuser jusqu'au %(date)s. Passé ce délai, elle expire.",
        "U kunt hem aanvaarden of weigeren tot %(date)s. Na die datum vervalt hij.",
        "Sie können es bis zum %(date)s annehmen oder ablehnen. Danach verfällt es.",
    ),
    "You can read it and answer from the secure page.": (
        "Vous pouvez le lire et y répondre depuis la page sécurisée.",
        "U kunt het lezen en beantwoorden op de beveiligde pagina.",
        "Sie können sie auf der sicheren Seite lesen und beantworten.",
    ),
    "Your code: %(code)s": ("Votre code : %(code)s", "Uw code: %(code)s", "Ihr Code: %(code)s"),
    "%(sender)s answered you": (
        "%(sender)s vous a répondu",
        "%(sender)s heeft u geantwoord",
        "%(sender)s hat Ihnen geantwortet",
    ),
    "Hello,": ("Bonjour,", "Hallo,", "Guten Tag,"),
    "%(sender)s answered in your secure conversation “%(subject)s”.": (
        "%(sender)s a répondu dans votre conversation sécurisée « %(subject)s ».",
        "%(sender)s heeft geantwoord in uw beveiligde gesprek ‘%(subject)s’.",
        "%(sender)s hat in Ihrer sicheren Unterhaltung „%(subject)s“ geantwortet.",
    ),
    "Read the answer": ("Lire la réponse", "Het antwoord lezen", "Antwort lesen"),
    "Reminder: a registered electronic letter awaits you": (
        "Rappel : une lettre recommandée électronique vous attend",
        "Herinnering: er wacht een elektronische aangetekende brief op u",
        "Erinnerung: Ein elektronisches Einschreiben wartet auf Sie",
    ),
    "A registered electronic letter still awaits your answer. You can accept or refuse it until %(date)s.": (
        "Une lettre recommandée électronique attend toujours votre réponse. Vous pouvez l’accepter ou la refuser jusqu’au %(date)s.",
        "Een elektronische aangetekende brief wacht nog op uw antwoord. U kunt hem aanvaarden of weigeren tot %(date)s.",
        "Ein elektronisches Einschreiben wartet noch auf Ihre Antwort. Sie können es bis %(date)s annehmen oder ablehnen.",
    ),
    "See the letter": ("Voir la lettre", "De brief bekijken", "Brief ansehen"),
    "Skip to content": ("Aller au contenu", "Naar de inhoud", "Zum Inhalt"),
    "Language": ("Langue", "Taal", "Sprache"),
    "Sent with Tabellion: documents delivered with proof.": (
        "Envoyé avec Tabellion : des documents remis avec preuve.",
        "Verzonden met Tabellion: documenten bezorgd met bewijs.",
        "Gesendet mit Tabellion: Dokumente mit Nachweis zugestellt.",
    ),
    "Registered electronic letter": (
        "Lettre recommandée électronique",
        "Elektronische aangetekende brief",
        "Elektronisches Einschreiben",
    ),
    "A registered electronic letter awaits you": (
        "Une lettre recommandée électronique vous attend",
        "Er wacht een elektronische aangetekende brief op u",
        "Ein elektronisches Einschreiben wartet auf Sie",
    ),
    "Hello %(name)s,": ("Bonjour %(name)s,", "Hallo %(name)s,", "Guten Tag %(name)s,"),
    "You refused this letter on %(date)s.": (
        "Vous avez refusé cette lettre le %(date)s.",
        "U hebt deze brief geweigerd op %(date)s.",
        "Sie haben diesen Brief am %(date)s abgelehnt.",
    ),
    "The deadline to accept this letter passed on %(date)s. It was not accepted.": (
        "Le délai pour accepter cette lettre a expiré le %(date)s. Elle n’a pas été acceptée.",
        "De termijn om deze brief te aanvaarden is verstreken op %(date)s. Hij werd niet aanvaard.",
        "Die Frist zur Annahme dieses Briefes ist am %(date)s abgelaufen. Er wurde nicht angenommen.",
    ),
    "This letter could not be delivered.": (
        "Cette lettre n’a pas pu être distribuée.",
        "Deze brief kon niet worden bezorgd.",
        "Dieser Brief konnte nicht zugestellt werden.",
    ),
    "A registered electronic letter was sent to %(email)s.": (
        "Une lettre recommandée électronique a été envoyée à %(email)s.",
        "Er werd een elektronische aangetekende brief verzonden naar %(email)s.",
        "Ein elektronisches Einschreiben wurde an %(email)s gesendet.",
    ),
    "You can accept or refuse it until %(date)s.": (
        "Vous pouvez l’accepter ou la refuser jusqu’au %(date)s.",
        "U kunt hem aanvaarden of weigeren tot %(date)s.",
        "Sie können es bis %(date)s annehmen oder ablehnen.",
    ),
    "As the law on registered electronic letters requires, the sender and the content are shown only once you accept. Refusing is recorded too.": (
        "Comme l’exige la loi sur la lettre recommandée électronique, l’expéditeur et le contenu ne sont affichés qu’après votre acceptation. Un refus est également enregistré.",
        "Zoals de wet op de elektronische aangetekende brief vereist, worden de afzender en de inhoud pas getoond nadat u aanvaardt. Een weigering wordt ook vastgelegd.",
        "Wie es das Gesetz über das elektronische Einschreiben verlangt, werden Absender und Inhalt erst nach Ihrer Annahme angezeigt. Eine Ablehnung wird ebenfalls festgehalten.",
    ),
    "We sent a 6-digit code to %(email)s. It is valid for 10 minutes.": (
        "Nous avons envoyé un code à 6 chiffres à %(email)s. Il est valable 10 minutes.",
        "We hebben een code van 6 cijfers naar %(email)s gestuurd. Hij is 10 minuten geldig.",
        "Wir haben einen 6-stelligen Code an %(email)s gesendet. Er ist 10 Minuten gültig.",
    ),
    "Code received by e-mail": (
        "Code reçu par e-mail",
        "Code ontvangen per e-mail",
        "Per E-Mail erhaltener Code",
    ),
    "Confirm": ("Confirmer", "Bevestigen", "Bestätigen"),
    "To confirm that you are the recipient, we send a one-time code to your address.": (
        "Pour confirmer que vous êtes bien le destinataire, nous envoyons un code à usage unique à votre adresse.",
        "Om te bevestigen dat u de ontvanger bent, sturen we een eenmalige code naar uw adres.",
        "Um zu bestätigen, dass Sie der Empfänger sind, senden wir einen Einmalcode an Ihre Adresse.",
    ),
    "Send a new code": ("Envoyer un nouveau code", "Een nieuwe code sturen", "Neuen Code senden"),
    "Send me a code": ("M’envoyer un code", "Stuur mij een code", "Code zusenden"),
    "Your answer": ("Votre réponse", "Uw antwoord", "Ihre Antwort"),
    "I understand that my answer is final and will be recorded as evidence.": (
        "Je comprends que ma réponse est définitive et sera enregistrée comme preuve.",
        "Ik begrijp dat mijn antwoord definitief is en als bewijs wordt vastgelegd.",
        "Ich verstehe, dass meine Antwort endgültig ist und als Nachweis festgehalten wird.",
    ),
    "Accept the letter": ("Accepter la lettre", "De brief aanvaarden", "Brief annehmen"),
    "Refuse the letter": ("Refuser la lettre", "De brief weigeren", "Brief ablehnen"),
    "%(sender)s sent you a message": (
        "%(sender)s vous a envoyé un message",
        "%(sender)s heeft u een bericht gestuurd",
        "%(sender)s hat Ihnen eine Nachricht gesendet",
    ),
    "Documents were placed in your secure space.": (
        "Des documents ont été déposés dans votre espace sécurisé.",
        "Er werden documenten in uw beveiligde ruimte geplaatst.",
        "Dokumente wurden in Ihrem sicheren Bereich abgelegt.",
    ),
    "Open the message": ("Ouvrir le message", "Het bericht openen", "Nachricht öffnen"),
    "Opening the message is recorded as proof of receipt.": (
        "L’ouverture du message est enregistrée comme preuve de réception.",
        "Het openen van het bericht wordt vastgelegd als ontvangstbewijs.",
        "Das Öffnen der Nachricht wird als Empfangsnachweis festgehalten.",
    ),
    "You accepted this letter on %(date)s. Confirm a code to read it again.": (
        "Vous avez accepté cette lettre le %(date)s. Confirmez un code pour la relire.",
        "U hebt deze brief aanvaard op %(date)s. Bevestig een code om hem opnieuw te lezen.",
        "Sie haben diesen Brief am %(date)s angenommen. Bestätigen Sie einen Code, um ihn erneut zu lesen.",
    ),
    "From": ("De", "Van", "Von"),
    "You accepted this letter on %(date)s.": (
        "Vous avez accepté cette lettre le %(date)s.",
        "U hebt deze brief aanvaard op %(date)s.",
        "Sie haben diesen Brief am %(date)s angenommen.",
    ),
    "Documents": ("Documents", "Documenten", "Dokumente"),
    "View": ("Afficher", "Bekijken", "Ansehen"),
    "Conversation": ("Conversation", "Gesprek", "Unterhaltung"),
    "You": ("Vous", "U", "Sie"),
    "No reply yet.": ("Pas encore de réponse.", "Nog geen antwoord.", "Noch keine Antwort."),
    "Your reply": ("Votre réponse", "Uw antwoord", "Ihre Antwort"),
    "Attach files (optional)": (
        "Joindre des fichiers (facultatif)",
        "Bestanden bijvoegen (optioneel)",
        "Dateien anhängen (optional)",
    ),
    "Up to %(count)s files, at most %(size)s each.": (
        "Jusqu’à %(count)s fichiers, de %(size)s au plus chacun.",
        "Tot %(count)s bestanden, elk hoogstens %(size)s.",
        "Bis zu %(count)s Dateien, jeweils höchstens %(size)s.",
    ),
    "Your reply was sent.": (
        "Votre réponse a été envoyée.",
        "Uw antwoord werd verstuurd.",
        "Ihre Antwort wurde gesendet.",
    ),
    "Send the reply": ("Envoyer la réponse", "Het antwoord versturen", "Antwort senden"),
    "Link no longer valid": ("Lien expiré", "Link niet meer geldig", "Link nicht mehr gültig"),
    "This link is no longer valid": (
        "Ce lien n’est plus valable",
        "Deze link is niet meer geldig",
        "Dieser Link ist nicht mehr gültig",
    ),
    "It may have expired, been used already, or been replaced by a newer one.": (
        "Il a peut-être expiré, déjà été utilisé ou été remplacé par un lien plus récent.",
        "Hij is misschien verlopen, al gebruikt of vervangen door een nieuwere.",
        "Er ist möglicherweise abgelaufen, wurde bereits verwendet oder durch einen neueren ersetzt.",
    ),
    "You can find everything delivered to your address in your secure space.": (
        "Vous retrouverez tout ce qui a été remis à votre adresse dans votre espace sécurisé.",
        "U vindt alles wat naar uw adres werd bezorgd in uw beveiligde ruimte.",
        "Alles, was an Ihre Adresse zugestellt wurde, finden Sie in Ihrem sicheren Bereich.",
    ),
    "Open my secure space": (
        "Ouvrir mon espace sécurisé",
        "Mijn beveiligde ruimte openen",
        "Meinen sicheren Bereich öffnen",
    ),
    "Your secure space": ("Votre espace sécurisé", "Uw beveiligde ruimte", "Ihr sicherer Bereich"),
    "Nothing was delivered to this address yet.": (
        "Rien n’a encore été remis à cette adresse.",
        "Er werd nog niets naar dit adres bezorgd.",
        "An diese Adresse wurde noch nichts zugestellt.",
    ),
    "Sign out": ("Se déconnecter", "Afmelden", "Abmelden"),
    "Everything delivered to your e-mail address, in one place.": (
        "Tout ce qui a été remis à votre adresse e-mail, au même endroit.",
        "Alles wat naar uw e-mailadres werd bezorgd, op één plek.",
        "Alles, was an Ihre E-Mail-Adresse zugestellt wurde, an einem Ort.",
    ),
    "Your e-mail address": ("Votre adresse e-mail", "Uw e-mailadres", "Ihre E-Mail-Adresse"),
    "If something was delivered to %(email)s, a 6-digit code is on its way. It is valid for 10 minutes.": (
        "Si quelque chose a été remis à %(email)s, un code à 6 chiffres est en route. Il est valable 10 minutes.",
        "Als er iets naar %(email)s werd bezorgd, is er een code van 6 cijfers onderweg. Hij is 10 minuten geldig.",
        "Falls etwas an %(email)s zugestellt wurde, ist ein 6-stelliger Code unterwegs. Er ist 10 Minuten gültig.",
    ),
    "Sign in": ("Se connecter", "Aanmelden", "Anmelden"),
    "Use another address": (
        "Utiliser une autre adresse",
        "Een ander adres gebruiken",
        "Eine andere Adresse verwenden",
    ),
    "Your code is": ("Votre code est", "Uw code is", "Ihr Code lautet"),
    "Enter it on the page where you asked for it. It is valid for 10 minutes.": (
        "Saisissez-le sur la page où vous l’avez demandé. Il est valable 10 minutes.",
        "Voer hem in op de pagina waar u hem hebt aangevraagd. Hij is 10 minuten geldig.",
        "Geben Sie ihn auf der Seite ein, auf der Sie ihn angefordert haben. Er ist 10 Minuten gültig.",
    ),
    "If you did not ask for a code, ignore this e-mail: nobody can use it without your link.": (
        "Si vous n’avez pas demandé de code, ignorez cet e-mail : personne ne peut l’utiliser sans votre lien.",
        "Als u geen code hebt aangevraagd, negeer dan deze e-mail: niemand kan hem gebruiken zonder uw link.",
        "Wenn Sie keinen Code angefordert haben, ignorieren Sie diese E-Mail: Ohne Ihren Link kann ihn niemand verwenden.",
    ),
    "If you did not ask for a code, ignore this e-mail: it only works in the browser that asked for it.": (
        "Si vous n’avez pas demandé de code, ignorez cet e-mail : il ne fonctionne que dans le navigateur qui l’a demandé.",
        "Als u geen code hebt aangevraagd, negeer dan deze e-mail: hij werkt alleen in de browser waarin hij is aangevraagd.",
        "Wenn Sie keinen Code angefordert haben, ignorieren Sie diese E-Mail: Er funktioniert nur in dem Browser, in dem er angefordert wurde.",
    ),
    "Your code is %(code)s": (
        "Votre code est %(code)s",
        "Uw code is %(code)s",
        "Ihr Code lautet %(code)s",
    ),
    "This link is personal: do not forward this e-mail.": (
        "Ce lien est personnel : ne transférez pas cet e-mail.",
        "Deze link is persoonlijk: stuur deze e-mail niet door.",
        "Dieser Link ist persönlich: Leiten Sie diese E-Mail nicht weiter.",
    ),
    "A code was sent less than a minute ago; check your inbox.": (
        "Un code a été envoyé il y a moins d’une minute ; consultez votre boîte de réception.",
        "Er werd minder dan een minuut geleden een code verstuurd; kijk in uw inbox.",
        "Vor weniger als einer Minute wurde ein Code gesendet; sehen Sie in Ihrem Posteingang nach.",
    ),
    "Too many codes were asked for; try again in an hour.": (
        "Trop de codes ont été demandés ; réessayez dans une heure.",
        "Er werden te veel codes aangevraagd; probeer het over een uur opnieuw.",
        "Es wurden zu viele Codes angefordert; versuchen Sie es in einer Stunde erneut.",
    ),
    "This code has expired or was replaced; ask for a new one.": (
        "Ce code a expiré ou a été remplacé ; demandez-en un nouveau.",
        "Deze code is verlopen of vervangen; vraag een nieuwe aan.",
        "Dieser Code ist abgelaufen oder wurde ersetzt; fordern Sie einen neuen an.",
    ),
    "Too many wrong codes; ask for a new one.": (
        "Trop de codes erronés ; demandez-en un nouveau.",
        "Te veel foute codes; vraag een nieuwe aan.",
        "Zu viele falsche Codes; fordern Sie einen neuen an.",
    ),
    "That code is not right. %(left)s tries left.": (
        "Ce code n’est pas le bon. Encore %(left)s essais.",
        "Die code klopt niet. Nog %(left)s pogingen.",
        "Dieser Code ist nicht richtig. Noch %(left)s Versuche.",
    ),
    "Tick the box to confirm your choice.": (
        "Cochez la case pour confirmer votre choix.",
        "Vink het vakje aan om uw keuze te bevestigen.",
        "Kreuzen Sie das Kästchen an, um Ihre Wahl zu bestätigen.",
    ),
    "Enter a valid e-mail address.": (
        "Saisissez une adresse e-mail valide.",
        "Voer een geldig e-mailadres in.",
        "Geben Sie eine gültige E-Mail-Adresse ein.",
    ),
    "This letter was already answered": (
        "Cette lettre a déjà reçu une réponse",
        "Op deze brief werd al geantwoord",
        "Dieser Brief wurde bereits beantwortet",
    ),
    "The deadline to answer has passed": (
        "Le délai de réponse est dépassé",
        "De antwoordtermijn is verstreken",
        "Die Antwortfrist ist abgelaufen",
    ),
    "This delivery is closed": (
        "Cet envoi est clôturé",
        "Deze zending is afgesloten",
        "Diese Zustellung ist abgeschlossen",
    ),
    "Confirm your identity first": (
        "Confirmez d’abord votre identité",
        "Bevestig eerst uw identiteit",
        "Bestätigen Sie zuerst Ihre Identität",
    ),
    "Write a reply or attach a file.": (
        "Écrivez une réponse ou joignez un fichier.",
        "Schrijf een antwoord of voeg een bestand toe.",
        "Schreiben Sie eine Antwort oder hängen Sie eine Datei an.",
    ),
    "A file is larger than the limit.": (
        "Un fichier dépasse la taille autorisée.",
        "Een bestand is groter dan toegestaan.",
        "Eine Datei ist größer als erlaubt.",
    ),
    "Attach at most 10 files.": (
        "Joignez au plus 10 fichiers.",
        "Voeg maximaal 10 bestanden toe.",
        "Hängen Sie höchstens 10 Dateien an.",
    ),
    "The form expired; reload the page and retry.": (
        "Le formulaire a expiré ; rechargez la page et réessayez.",
        "Het formulier is verlopen; laad de pagina opnieuw en probeer het nog eens.",
        "Das Formular ist abgelaufen; laden Sie die Seite neu und versuchen Sie es erneut.",
    ),
    "The form could not be read; retry.": (
        "Le formulaire n’a pas pu être lu ; réessayez.",
        "Het formulier kon niet worden gelezen; probeer opnieuw.",
        "Das Formular konnte nicht gelesen werden; versuchen Sie es erneut.",
    ),
    "The reply form must be sent as multipart/form-data.": (
        "Le formulaire de réponse doit être envoyé en multipart/form-data.",
        "Het antwoordformulier moet als multipart/form-data worden verzonden.",
        "Das Antwortformular muss als multipart/form-data gesendet werden.",
    ),
    "Back to the message": ("Retour au message", "Terug naar het bericht", "Zurück zur Nachricht"),
    "Page %(number)s of %(total)s": (
        "Page %(number)s sur %(total)s",
        "Pagina %(number)s van %(total)s",
        "Seite %(number)s von %(total)s",
    ),
    "This document cannot be shown here.": (
        "Ce document ne peut pas être affiché ici.",
        "Dit document kan hier niet worden getoond.",
        "Dieses Dokument kann hier nicht angezeigt werden.",
    ),
    "Download": ("Télécharger", "Downloaden", "Herunterladen"),
    "pending": ("en attente", "in behandeling", "ausstehend"),
    "notified": ("notifiée", "gemeld", "benachrichtigt"),
    "received": ("reçue", "ontvangen", "empfangen"),
    "accepted": ("acceptée", "aanvaard", "angenommen"),
    "refused": ("refusée", "geweigerd", "abgelehnt"),
    "expired": ("expirée", "verlopen", "abgelaufen"),
    "undelivered": ("non distribuée", "niet bezorgd", "nicht zugestellt"),
    # Portal: a heading per state
    "You refused this registered letter": (
        "Vous avez refusé cette lettre recommandée",
        "U hebt deze aangetekende brief geweigerd",
        "Sie haben dieses Einschreiben abgelehnt",
    ),
    "This registered letter has expired": (
        "Cette lettre recommandée a expiré",
        "Deze aangetekende brief is verlopen",
        "Dieses Einschreiben ist abgelaufen",
    ),
    "This registered letter could not be delivered": (
        "Cette lettre recommandée n’a pas pu être distribuée",
        "Deze aangetekende brief kon niet worden bezorgd",
        "Dieses Einschreiben konnte nicht zugestellt werden",
    ),
    "Accept or refuse the registered letter": (
        "Acceptez ou refusez la lettre recommandée",
        "Aanvaard of weiger de aangetekende brief",
        "Nehmen Sie das Einschreiben an oder lehnen Sie es ab",
    ),
    "Enter the code we sent you": (
        "Saisissez le code que nous vous avons envoyé",
        "Voer de code in die we u hebben gestuurd",
        "Geben Sie den Code ein, den wir Ihnen gesendet haben",
    ),
    "Sign in to your secure space": (
        "Connectez-vous à votre espace sécurisé",
        "Meld u aan bij uw beveiligde ruimte",
        "Melden Sie sich in Ihrem sicheren Bereich an",
    ),
}


def main(template: str) -> None:
    with open(template, "rb") as fh:
        pot = read_po(fh)
    ids = [m.id for m in pot if isinstance(m.id, str) and m.id] + EXTRA
    for index, language in enumerate(("fr", "nl", "de")):
        target = LOCALE / language / "LC_MESSAGES" / "messages.po"
        # A translation added to the catalog by hand, and not yet here, is kept, and so is a
        # message the extractor does not see (pages outside babel.cfg, strings built at run time).
        kept = existing(target)
        entries = []
        for msgid in dict.fromkeys([*ids, *kept]):
            translated = T.get(msgid)
            text = translated[index] if translated else kept.get(msgid, "")
            if not text:
                print(f"{language}: missing {msgid!r}")
            entries.append((msgid, text))
        write_catalog(target, language, entries)


if __name__ == "__main__":
    main(sys.argv[1])
