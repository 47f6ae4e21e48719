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
    # ---- dashboard: the envelope editor (dashboard/envelopes.py) ----
    "Signature": ("Signature", "Handtekening", "Unterschrift"),
    "Initials": ("Initiales", "Initialen", "Initialen"),
    "Name": ("Nom", "Naam", "Name"),
    "E-mail": ("E-mail", "E-mail", "E-Mail"),
    "Date": ("Date", "Datum", "Datum"),
    "Text": ("Texte", "Tekst", "Text"),
    "Number": ("Nombre", "Getal", "Zahl"),
    "Checkbox": ("Case à cocher", "Selectievakje", "Kontrollkästchen"),
    "Choice": ("Choix", "Keuze", "Auswahl"),
    "List": ("Liste", "Lijst", "Liste"),
    "Signer": ("Signataire", "Ondertekenaar", "Unterzeichner"),
    "Approver": ("Approbateur", "Goedkeurder", "Genehmiger"),
    "Viewer": ("Lecteur", "Lezer", "Leser"),
    "Copy (cc)": ("Copie (cc)", "Kopie (cc)", "Kopie (cc)"),
    "Assistant": ("Assistant", "Assistent", "Assistent"),
    "Your role reads envelopes; a sender or an admin creates and sends them.": (
        "Votre rôle permet de consulter les enveloppes ; un expéditeur ou un administrateur les crée et les envoie.",
        "Uw rol kan enveloppen bekijken; een verzender of een beheerder maakt en verstuurt ze.",
        "Ihre Rolle kann Umschläge ansehen; ein Absender oder ein Administrator erstellt und versendet sie.",
    ),
    "The form has too many parts.": (
        "Le formulaire a trop de parties.",
        "Het formulier heeft te veel onderdelen.",
        "Das Formular hat zu viele Teile.",
    ),
    "An envelope holds at most 20 PDFs.": (
        "Une enveloppe contient au plus 20 PDF.",
        "Een envelop bevat hoogstens 20 pdf’s.",
        "Ein Umschlag enthält höchstens 20 PDFs.",
    ),
    "%(file)s is not a PDF.": (
        "%(file)s n’est pas un PDF.",
        "%(file)s is geen pdf.",
        "%(file)s ist keine PDF-Datei.",
    ),
    "%(file)s is protected by a password; upload it without one.": (
        "%(file)s est protégé par un mot de passe ; envoyez-le sans mot de passe.",
        "%(file)s is beveiligd met een wachtwoord; upload het zonder wachtwoord.",
        "%(file)s ist mit einem Passwort geschützt; laden Sie die Datei ohne Passwort hoch.",
    ),
    "%(file)s cannot be read as a PDF.": (
        "%(file)s ne peut pas être lu comme un PDF.",
        "%(file)s kan niet als pdf worden gelezen.",
        "%(file)s kann nicht als PDF gelesen werden.",
    ),
    "%(file)s is empty.": ("%(file)s est vide.", "%(file)s is leeg.", "%(file)s ist leer."),
    "%(file)s has a text tag that cannot become a field: %(detail)s": (
        "%(file)s contient une balise de texte qui ne peut pas devenir un champ : %(detail)s",
        "%(file)s bevat een teksttag die geen veld kan worden: %(detail)s",
        "%(file)s enthält ein Text-Tag, das kein Feld werden kann: %(detail)s",
    ),
    "A PDF is larger than the limit.": (
        "Un PDF dépasse la taille autorisée.",
        "Een pdf is groter dan toegestaan.",
        "Eine PDF-Datei ist größer als erlaubt.",
    ),
    "A PDF is empty.": ("Un PDF est vide.", "Een pdf is leeg.", "Eine PDF-Datei ist leer."),
    "This envelope was already sent; its fields can no longer change.": (
        "Cette enveloppe a déjà été envoyée ; ses champs ne peuvent plus changer.",
        "Deze envelop is al verstuurd; de velden kunnen niet meer worden gewijzigd.",
        "Dieser Umschlag wurde bereits versendet; seine Felder können nicht mehr geändert werden.",
    ),
    "A name of 1 to 255 characters.": (
        "Un nom de 1 à 255 caractères.",
        "Een naam van 1 tot 255 tekens.",
        "Ein Name mit 1 bis 255 Zeichen.",
    ),
    "An e-mail address such as ann@example.com.": (
        "Une adresse e-mail comme ann@example.com.",
        "Een e-mailadres zoals ann@example.com.",
        "Eine E-Mail-Adresse wie ann@example.com.",
    ),
    "One of the roles listed.": (
        "L’un des rôles proposés.",
        "Een van de getoonde rollen.",
        "Eine der angebotenen Rollen.",
    ),
    "A whole number from 1 to 1000.": (
        "Un nombre entier de 1 à 1000.",
        "Een geheel getal van 1 tot 1000.",
        "Eine ganze Zahl von 1 bis 1000.",
    ),
    "A title of 1 to 255 characters.": (
        "Un titre de 1 à 255 caractères.",
        "Een titel van 1 tot 255 tekens.",
        "Ein Titel mit 1 bis 255 Zeichen.",
    ),
    "At most 10,000 characters.": (
        "10 000 caractères au plus.",
        "Hoogstens 10.000 tekens.",
        "Höchstens 10.000 Zeichen.",
    ),
    "At most 255 characters.": (
        "255 caractères au plus.",
        "Hoogstens 255 tekens.",
        "Höchstens 255 Zeichen.",
    ),
    "One of the languages listed.": (
        "L’une des langues proposées.",
        "Een van de getoonde talen.",
        "Eine der angebotenen Sprachen.",
    ),
    "One of the orders listed.": (
        "L’un des ordres proposés.",
        "Een van de getoonde volgordes.",
        "Eine der angebotenen Reihenfolgen.",
    ),
    "Add at least one recipient.": (
        "Ajoutez au moins un destinataire.",
        "Voeg minstens één ontvanger toe.",
        "Fügen Sie mindestens einen Empfänger hinzu.",
    ),
    "Not valid.": ("Non valide.", "Niet geldig.", "Ungültig."),
    "Choose at least one PDF to sign.": (
        "Choisissez au moins un PDF à signer.",
        "Kies minstens één pdf om te ondertekenen.",
        "Wählen Sie mindestens eine PDF-Datei zum Unterschreiben.",
    ),
    "The fields were saved.": (
        "Les champs ont été enregistrés.",
        "De velden zijn opgeslagen.",
        "Die Felder wurden gespeichert.",
    ),
    "The PDF was added.": (
        "Le PDF a été ajouté.",
        "De pdf is toegevoegd.",
        "Die PDF-Datei wurde hinzugefügt.",
    ),
    "Choose a signer or an approver of this envelope.": (
        "Choisissez un signataire ou un approbateur de cette enveloppe.",
        "Kies een ondertekenaar of goedkeurder van deze envelop.",
        "Wählen Sie einen Unterzeichner oder Genehmiger dieses Umschlags.",
    ),
    "Choose a document of this envelope.": (
        "Choisissez un document de cette enveloppe.",
        "Kies een document van deze envelop.",
        "Wählen Sie ein Dokument dieses Umschlags.",
    ),
    "Choose one of the field types listed.": (
        "Choisissez l’un des types de champ proposés.",
        "Kies een van de getoonde veldtypes.",
        "Wählen Sie einen der angebotenen Feldtypen.",
    ),
    "A page number from 1.": (
        "Un numéro de page à partir de 1.",
        "Een paginanummer vanaf 1.",
        "Eine Seitenzahl ab 1.",
    ),
    "A number from 0 to 100 (percent of the page width).": (
        "Un nombre de 0 à 100 (pourcentage de la largeur de la page).",
        "Een getal van 0 tot 100 (procent van de paginabreedte).",
        "Eine Zahl von 0 bis 100 (Prozent der Seitenbreite).",
    ),
    "A number from 0 to 100 (percent of the page height).": (
        "Un nombre de 0 à 100 (pourcentage de la hauteur de la page).",
        "Een getal van 0 tot 100 (procent van de paginahoogte).",
        "Eine Zahl von 0 bis 100 (Prozent der Seitenhöhe).",
    ),
    "More than 0, at most 100 (percent of the page width).": (
        "Plus de 0 et au plus 100 (pourcentage de la largeur de la page).",
        "Meer dan 0, hoogstens 100 (procent van de paginabreedte).",
        "Mehr als 0, höchstens 100 (Prozent der Seitenbreite).",
    ),
    "More than 0, at most 100 (percent of the page height).": (
        "Plus de 0 et au plus 100 (pourcentage de la hauteur de la page).",
        "Meer dan 0, hoogstens 100 (procent van de paginahoogte).",
        "Mehr als 0, höchstens 100 (Prozent der Seitenhöhe).",
    ),
    "This document has pages 1 to %(pages)s.": (
        "Ce document a les pages 1 à %(pages)s.",
        "Dit document heeft de pagina’s 1 tot en met %(pages)s.",
        "Dieses Dokument hat die Seiten 1 bis %(pages)s.",
    ),
    "The field reaches outside its page: x + width and y + height must stay within 100.": (
        "Le champ dépasse de sa page : x + largeur et y + hauteur doivent rester dans 100.",
        "Het veld steekt buiten de pagina: x + breedte en y + hoogte moeten binnen 100 blijven.",
        "Das Feld ragt über die Seite hinaus: x + Breite und y + Höhe müssen innerhalb von 100 bleiben.",
    ),
    "An approver cannot own a signature or initials field; a signer can.": (
        "Un approbateur ne peut pas avoir de champ de signature ou d’initiales ; un signataire le peut.",
        "Een goedkeurder kan geen handtekening- of initialenveld hebben; een ondertekenaar wel.",
        "Ein Genehmiger kann kein Unterschrifts- oder Initialenfeld haben; ein Unterzeichner schon.",
    ),
    "Upload at least one PDF before sending.": (
        "Ajoutez au moins un PDF avant l’envoi.",
        "Upload minstens één pdf voordat u verstuurt.",
        "Laden Sie vor dem Versand mindestens eine PDF-Datei hoch.",
    ),
    "Add at least one signer or approver.": (
        "Ajoutez au moins un signataire ou un approbateur.",
        "Voeg minstens één ondertekenaar of goedkeurder toe.",
        "Fügen Sie mindestens einen Unterzeichner oder Genehmiger hinzu.",
    ),
    "%(name)s signs, but has no signature field yet: place one on a page.": (
        "%(name)s signe, mais n’a pas encore de champ de signature : placez-en un sur une page.",
        "%(name)s ondertekent, maar heeft nog geen handtekeningveld: plaats er een op een pagina.",
        "%(name)s unterschreibt, hat aber noch kein Unterschriftsfeld: Platzieren Sie eines auf einer Seite.",
    ),
    "At most 500 fields can be saved at once.": (
        "500 champs au plus peuvent être enregistrés à la fois.",
        "Er kunnen hoogstens 500 velden tegelijk worden opgeslagen.",
        "Höchstens 500 Felder können auf einmal gespeichert werden.",
    ),
    "This field no longer exists.": (
        "Ce champ n’existe plus.",
        "Dit veld bestaat niet meer.",
        "Dieses Feld existiert nicht mehr.",
    ),
    "Some fields are not right; see the messages next to them.": (
        "Certains champs ne sont pas corrects ; voyez les messages à côté.",
        "Sommige velden kloppen niet; zie de berichten ernaast.",
        "Einige Felder sind nicht richtig; siehe die Hinweise daneben.",
    ),
    "Fields": ("Champs", "Velden", "Felder"),
    "Field %(number)s": ("Champ %(number)s", "Veld %(number)s", "Feld %(number)s"),
    "New field": ("Nouveau champ", "Nieuw veld", "Neues Feld"),
    "For": ("Pour", "Voor", "Für"),
    "Type": ("Type", "Type", "Typ"),
    "Page": ("Page", "Pagina", "Seite"),
    "Left (%%)": ("Gauche (%%)", "Links (%%)", "Links (%%)"),
    "Top (%%)": ("Haut (%%)", "Boven (%%)", "Oben (%%)"),
    "Width (%%)": ("Largeur (%%)", "Breedte (%%)", "Breite (%%)"),
    "Height (%%)": ("Hauteur (%%)", "Hoogte (%%)", "Höhe (%%)"),
    "Required": ("Obligatoire", "Verplicht", "Pflichtfeld"),
    "Remove": ("Retirer", "Verwijderen", "Entfernen"),
    "This envelope has no signer or approver: nobody can own a field.": (
        "Cette enveloppe n’a ni signataire ni approbateur : personne ne peut avoir de champ.",
        "Deze envelop heeft geen ondertekenaar of goedkeurder: niemand kan een veld hebben.",
        "Dieser Umschlag hat weder Unterzeichner noch Genehmiger: Niemand kann ein Feld haben.",
    ),
    "Drag a field onto a page (or tap it to put it on the page in view), then drag it to move it and its corner to resize it.": (
        "Faites glisser un champ sur une page (ou touchez-le pour le poser sur la page affichée), puis faites-le glisser pour le déplacer et tirez son coin pour le redimensionner.",
        "Sleep een veld naar een pagina (of tik erop om het op de zichtbare pagina te zetten), sleep het daarna om het te verplaatsen en sleep de hoek om het groter of kleiner te maken.",
        "Ziehen Sie ein Feld auf eine Seite (oder tippen Sie darauf, um es auf die sichtbare Seite zu setzen), ziehen Sie es dann zum Verschieben und an seiner Ecke zum Ändern der Größe.",
    ),
    "Place fields for": ("Placer des champs pour", "Velden plaatsen voor", "Felder platzieren für"),
    "Fields to drag onto a page": (
        "Champs à faire glisser sur une page",
        "Velden om naar een pagina te slepen",
        "Felder zum Ziehen auf eine Seite",
    ),
    "Fields by position": ("Champs par position", "Velden per positie", "Felder nach Position"),
    "Positions and sizes are percentages of the page, from its top-left corner. Fill in a new field's page and box to add it.": (
        "Positions et tailles sont des pourcentages de la page, depuis son coin supérieur gauche. Remplissez la page et le cadre d’un nouveau champ pour l’ajouter.",
        "Posities en afmetingen zijn percentages van de pagina, vanaf de linkerbovenhoek. Vul de pagina en het kader van een nieuw veld in om het toe te voegen.",
        "Positionen und Größen sind Prozent der Seite, von ihrer linken oberen Ecke aus. Füllen Sie Seite und Rahmen eines neuen Felds aus, um es hinzuzufügen.",
    ),
    "Save": ("Enregistrer", "Opslaan", "Speichern"),
    "Save and send": ("Enregistrer et envoyer", "Opslaan en versturen", "Speichern und versenden"),
    "Add a PDF": ("Ajouter un PDF", "Een pdf toevoegen", "Eine PDF-Datei hinzufügen"),
    "PDFs to sign (one or more)": (
        "PDF à signer (un ou plusieurs)",
        "Pdf’s om te ondertekenen (een of meer)",
        "PDF-Dateien zum Unterschreiben (eine oder mehrere)",
    ),
    "Unsaved changes to the fields are lost: save them first.": (
        "Les modifications non enregistrées des champs sont perdues : enregistrez-les d’abord.",
        "Niet-opgeslagen wijzigingen aan de velden gaan verloren: sla ze eerst op.",
        "Nicht gespeicherte Änderungen an den Feldern gehen verloren: Speichern Sie sie zuerst.",
    ),
    "Add": ("Ajouter", "Toevoegen", "Hinzufügen"),
    "New envelope": ("Nouvelle enveloppe", "Nieuwe envelop", "Neuer Umschlag"),
    "Name the envelope, add the people who sign or receive it and the PDFs to sign. Then you place the fields on the pages and send it.": (
        "Nommez l’enveloppe, ajoutez les personnes qui la signent ou la reçoivent et les PDF à signer. Vous placerez ensuite les champs sur les pages avant de l’envoyer.",
        "Geef de envelop een naam, voeg de mensen toe die ondertekenen of een kopie krijgen en de pdf’s om te ondertekenen. Daarna plaatst u de velden op de pagina’s en verstuurt u de envelop.",
        "Benennen Sie den Umschlag, fügen Sie die Personen hinzu, die unterschreiben oder ihn erhalten, und die PDF-Dateien zum Unterschreiben. Danach platzieren Sie die Felder auf den Seiten und versenden ihn.",
    ),
    "Some entries are not right; see the messages next to them.": (
        "Certaines saisies ne sont pas correctes ; voyez les messages à côté.",
        "Sommige invoer klopt niet; zie de berichten ernaast.",
        "Einige Eingaben sind nicht richtig; siehe die Hinweise daneben.",
    ),
    "Title": ("Titre", "Titel", "Titel"),
    "Message to the recipients (optional)": (
        "Message aux destinataires (facultatif)",
        "Bericht aan de ontvangers (optioneel)",
        "Nachricht an die Empfänger (optional)",
    ),
    "Your reference (optional)": (
        "Votre référence (facultatif)",
        "Uw referentie (optioneel)",
        "Ihre Referenz (optional)",
    ),
    "Language of the e-mails and pages": (
        "Langue des e-mails et des pages",
        "Taal van de e-mails en pagina’s",
        "Sprache der E-Mails und Seiten",
    ),
    "Signing order": (
        "Ordre de signature",
        "Volgorde van ondertekening",
        "Reihenfolge der Unterschriften",
    ),
    "Everyone at once": ("Tout le monde en même temps", "Iedereen tegelijk", "Alle gleichzeitig"),
    "One after another, by their order number (equal numbers act together)": (
        "L’un après l’autre, selon leur numéro d’ordre (les numéros égaux agissent ensemble)",
        "Na elkaar, volgens hun volgnummer (gelijke nummers zijn tegelijk aan de beurt)",
        "Nacheinander, nach ihrer Ordnungszahl (gleiche Zahlen sind gemeinsam an der Reihe)",
    ),
    "Recipients": ("Destinataires", "Ontvangers", "Empfänger"),
    "Recipient %(number)s": (
        "Destinataire %(number)s",
        "Ontvanger %(number)s",
        "Empfänger %(number)s",
    ),
    "Role": ("Rôle", "Rol", "Rolle"),
    "Order": ("Ordre", "Volgorde", "Reihenfolge"),
    "Leave a row empty to skip it. A signer signs; an approver approves; a viewer only reads; a copy (cc) receives the signed PDF at the end.": (
        "Laissez une ligne vide pour l’ignorer. Un signataire signe ; un approbateur approuve ; un lecteur lit seulement ; une copie (cc) reçoit le PDF signé à la fin.",
        "Laat een rij leeg om ze over te slaan. Een ondertekenaar ondertekent; een goedkeurder keurt goed; een lezer leest alleen; een kopie (cc) krijgt aan het einde de ondertekende pdf.",
        "Lassen Sie eine Zeile leer, um sie auszulassen. Ein Unterzeichner unterschreibt; ein Genehmiger genehmigt; ein Leser liest nur; eine Kopie (cc) erhält am Ende die unterschriebene PDF-Datei.",
    ),
    "Add a recipient": (
        "Ajouter un destinataire",
        "Een ontvanger toevoegen",
        "Einen Empfänger hinzufügen",
    ),
    "For your safety, choose the files again.": (
        "Pour votre sécurité, choisissez à nouveau les fichiers.",
        "Kies voor uw veiligheid de bestanden opnieuw.",
        "Wählen Sie zu Ihrer Sicherheit die Dateien erneut aus.",
    ),
    "Continue: place the fields": (
        "Continuer : placer les champs",
        "Verder: de velden plaatsen",
        "Weiter: die Felder platzieren",
    ),
    "Cancel": ("Annuler", "Annuleren", "Abbrechen"),
    "Place the fields and send": (
        "Placer les champs et envoyer",
        "De velden plaatsen en versturen",
        "Die Felder platzieren und versenden",
    ),
    # ---- end of the envelope editor ----
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
    "The documents of this envelope were deleted at the end of their retention period. The "
    "proof of their signature remains.": (
        "Les documents de cette enveloppe ont été supprimés à la fin de leur durée de "
        "conservation. La preuve de leur signature demeure.",
        "De documenten van deze envelop zijn verwijderd aan het einde van hun bewaartermijn. "
        "Het bewijs van hun ondertekening blijft bewaard.",
        "Die Dokumente dieses Umschlags wurden am Ende ihrer Aufbewahrungsfrist gelöscht. Der "
        "Nachweis ihrer Unterzeichnung bleibt erhalten.",
    ),
    # Dashboard: writing and sending a letter (dashboard/compose.py)
    "Registered: the recipient confirms who they are, then accepts or refuses the letter "
    "before reading it. Name each recipient.": (
        "Recommandée : le destinataire confirme son identité, puis accepte ou refuse la lettre "
        "avant de la lire. Nommez chaque destinataire.",
        "Aangetekend: de ontvanger bevestigt wie hij is en aanvaardt of weigert de brief "
        "voordat hij hem leest. Geef elke ontvanger een naam.",
        "Einschreiben: Der Empfänger bestätigt seine Identität und nimmt den Brief an oder "
        "lehnt ihn ab, bevor er ihn liest. Nennen Sie jeden Empfänger mit Namen.",
    ),
    "Simple: a notice with a link; opening it is the proof of receipt. Name each recipient.": (
        "Simple : un avis avec un lien ; son ouverture prouve la réception. Nommez chaque "
        "destinataire.",
        "Eenvoudig: een bericht met een link; het openen ervan bewijst de ontvangst. Geef elke "
        "ontvanger een naam.",
        "Einfach: eine Benachrichtigung mit einem Link; das Öffnen belegt den Empfang. Nennen "
        "Sie jeden Empfänger mit Namen.",
    ),
    "Deliver: the documents are placed in the recipient's secure space. An address is enough.": (
        "Dépôt : les documents sont déposés dans l’espace sécurisé du destinataire. Une adresse "
        "suffit.",
        "Bezorgen: de documenten worden in de beveiligde ruimte van de ontvanger geplaatst. "
        "Een adres volstaat.",
        "Zustellen: Die Dokumente werden im sicheren Bereich des Empfängers abgelegt. Eine "
        "Adresse genügt.",
    ),
    "Secure message: read on a secure page, where the recipient can reply. An address is enough.": (
        "Message sécurisé : lu sur une page sécurisée, où le destinataire peut répondre. Une "
        "adresse suffit.",
        "Beveiligd bericht: gelezen op een beveiligde pagina, waar de ontvanger kan "
        "antwoorden. Een adres volstaat.",
        "Sichere Nachricht: wird auf einer sicheren Seite gelesen, auf der der Empfänger "
        "antworten kann. Eine Adresse genügt.",
    ),
    "Choose how the letter is sent.": (
        "Choisissez comment la lettre est envoyée.",
        "Kies hoe de brief wordt verzonden.",
        "Wählen Sie, wie der Brief versendet wird.",
    ),
    "A subject of 1 to 255 characters.": (
        "Un objet de 1 à 255 caractères.",
        "Een onderwerp van 1 tot 255 tekens.",
        "Ein Betreff mit 1 bis 255 Zeichen.",
    ),
    "The text may be at most 1 MiB.": (
        "Le texte peut faire au plus 1 Mio.",
        "De tekst mag hoogstens 1 MiB zijn.",
        "Der Text darf höchstens 1 MiB groß sein.",
    ),
    "A whole number of days from 1 to 365, for registered letters only.": (
        "Un nombre entier de jours de 1 à 365, pour les lettres recommandées uniquement.",
        "Een geheel aantal dagen van 1 tot 365, alleen voor aangetekende brieven.",
        "Eine ganze Zahl von Tagen zwischen 1 und 365, nur für Einschreiben.",
    ),
    "Only registered letters are copied to the mailbox once accepted.": (
        "Seules les lettres recommandées sont copiées dans la boîte mail une fois acceptées.",
        "Alleen aangetekende brieven worden na aanvaarding naar de mailbox gekopieerd.",
        "Nur Einschreiben werden nach der Annahme in das Postfach kopiert.",
    ),
    "This option needs a sender to notify.": (
        "Cette option demande un expéditeur à prévenir.",
        "Deze optie vereist een afzender om te verwittigen.",
        "Diese Option erfordert einen zu benachrichtigenden Absender.",
    ),
    "Add at least one recipient: type them, or upload a CSV file.": (
        "Ajoutez au moins un destinataire : saisissez-les, ou envoyez un fichier CSV.",
        "Voeg minstens één ontvanger toe: typ ze, of upload een CSV-bestand.",
        "Fügen Sie mindestens einen Empfänger hinzu: tippen Sie sie ein oder laden Sie eine "
        "CSV-Datei hoch.",
    ),
    "Type the recipients or upload a CSV file, not both.": (
        "Saisissez les destinataires ou envoyez un fichier CSV, pas les deux.",
        "Typ de ontvangers of upload een CSV-bestand, niet allebei.",
        "Tippen Sie die Empfänger ein oder laden Sie eine CSV-Datei hoch, nicht beides.",
    ),
    "No line of the file can be sent; each line's error is listed.": (
        "Aucune ligne du fichier ne peut être envoyée ; l’erreur de chaque ligne est indiquée.",
        "Geen enkele regel van het bestand kan worden verzonden; de fout van elke regel staat "
        "vermeld.",
        "Keine Zeile der Datei kann versendet werden; der Fehler jeder Zeile ist aufgeführt.",
    ),
    "Some lines are not recipients yet; each line's error is listed.": (
        "Certaines lignes ne sont pas encore des destinataires ; l’erreur de chaque ligne est "
        "indiquée.",
        "Sommige regels zijn nog geen ontvangers; de fout van elke regel staat vermeld.",
        "Einige Zeilen sind noch keine Empfänger; der Fehler jeder Zeile ist aufgeführt.",
    ),
    "The form could not be read; reload the page and retry.": (
        "Le formulaire n’a pas pu être lu ; rechargez la page et réessayez.",
        "Het formulier kon niet worden gelezen; laad de pagina opnieuw en probeer het nog eens.",
        "Das Formular konnte nicht gelesen werden; laden Sie die Seite neu und versuchen Sie "
        "es erneut.",
    ),
    "The draft was discarded; nothing was sent.": (
        "Le brouillon a été supprimé ; rien n’a été envoyé.",
        "Het concept is verwijderd; er is niets verzonden.",
        "Der Entwurf wurde verworfen; es wurde nichts versendet.",
    ),
    "A %(role)s reads letters; a sender or an admin sends them.": (
        "Un rôle %(role)s lit les lettres ; un expéditeur ou un administrateur les envoie.",
        "Een %(role)s leest brieven; een afzender of een beheerder verzendt ze.",
        "Die Rolle %(role)s liest Briefe; ein Absender oder ein Administrator versendet sie.",
    ),
    "New letter": ("Nouvelle lettre", "Nieuwe brief", "Neuer Brief"),
    "{name} is larger than the limit of %(size)s.": (
        "{name} dépasse la limite de %(size)s.",
        "{name} is groter dan de limiet van %(size)s.",
        "{name} ist größer als die Grenze von %(size)s.",
    ),
    "The letter could not be sent to the server; check your connection and retry.": (
        "La lettre n’a pas pu être envoyée au serveur ; vérifiez votre connexion et réessayez.",
        "De brief kon niet naar de server worden gestuurd; controleer uw verbinding en probeer "
        "het opnieuw.",
        "Der Brief konnte nicht an den Server gesendet werden; prüfen Sie Ihre Verbindung und "
        "versuchen Sie es erneut.",
    ),
    "How it is sent": ("Mode d’envoi", "Verzendwijze", "Versandart"),
    "Subject": ("Objet", "Onderwerp", "Betreff"),
    "Text of the letter": ("Texte de la lettre", "Tekst van de brief", "Text des Briefes"),
    "Type them, one per line": (
        "Saisissez-les, un par ligne",
        "Typ ze, één per regel",
        "Tippen Sie sie ein, einen pro Zeile",
    ),
    "An address, then a first and a last name (or a company and its SIREN), separated by "
    "commas; add en, fr, nl or de for the language. Deliver and secure letters need only the "
    "address.": (
        "Une adresse, puis un prénom et un nom (ou une société et son SIREN), séparés par des "
        "virgules ; ajoutez en, fr, nl ou de pour la langue. Les dépôts et les messages "
        "sécurisés n’ont besoin que de l’adresse.",
        "Een adres, dan een voornaam en een achternaam (of een bedrijf en zijn SIREN), "
        "gescheiden door komma’s; voeg en, fr, nl of de toe voor de taal. Bezorgingen en "
        "beveiligde berichten hebben alleen het adres nodig.",
        "Eine Adresse, dann Vor- und Nachname (oder eine Firma und ihre SIREN), durch Kommas "
        "getrennt; fügen Sie en, fr, nl oder de für die Sprache hinzu. Zustellungen und "
        "sichere Nachrichten brauchen nur die Adresse.",
    ),
    "Or upload a CSV file": (
        "Ou envoyez un fichier CSV",
        "Of upload een CSV-bestand",
        "Oder laden Sie eine CSV-Datei hoch",
    ),
    "Its first line names the columns: email, first_name, last_name, company, siren, "
    "language, phone. You will see what will be sent, and any line with an error, before "
    "anything is sent.": (
        "Sa première ligne nomme les colonnes : email, first_name, last_name, company, siren, "
        "language, phone. Vous verrez ce qui sera envoyé, et chaque ligne en erreur, avant "
        "tout envoi.",
        "De eerste regel noemt de kolommen: email, first_name, last_name, company, siren, "
        "language, phone. U ziet wat er verzonden wordt, en elke regel met een fout, voordat "
        "er iets verzonden wordt.",
        "Die erste Zeile nennt die Spalten: email, first_name, last_name, company, siren, "
        "language, phone. Sie sehen, was versendet wird, und jede fehlerhafte Zeile, bevor "
        "etwas versendet wird.",
    ),
    "Line %(number)s": ("Ligne %(number)s", "Regel %(number)s", "Zeile %(number)s"),
    "Up to %(count)s files, each at most %(size)s. Choose them again if the form comes back "
    "with an error.": (
        "Jusqu’à %(count)s fichiers, chacun d’au plus %(size)s. Choisissez-les de nouveau si "
        "le formulaire revient avec une erreur.",
        "Tot %(count)s bestanden, elk hoogstens %(size)s. Kies ze opnieuw als het formulier "
        "met een fout terugkomt.",
        "Bis zu %(count)s Dateien, jede höchstens %(size)s. Wählen Sie sie erneut aus, wenn "
        "das Formular mit einem Fehler zurückkommt.",
    ),
    "Reference (optional)": (
        "Référence (facultatif)",
        "Referentie (optioneel)",
        "Referenz (optional)",
    ),
    "Campaign (optional)": ("Campagne (facultatif)", "Campagne (optioneel)", "Kampagne (optional)"),
    "Registered letters only": (
        "Lettres recommandées uniquement",
        "Alleen aangetekende brieven",
        "Nur Einschreiben",
    ),
    "Days to accept or refuse (15 if left empty)": (
        "Jours pour accepter ou refuser (15 si vide)",
        "Dagen om te aanvaarden of te weigeren (15 indien leeg)",
        "Tage zum Annehmen oder Ablehnen (15, wenn leer)",
    ),
    "Once a recipient accepts, e-mail them a copy of the letter": (
        "Une fois la lettre acceptée, en envoyer une copie par e-mail au destinataire",
        "Zodra een ontvanger aanvaardt, hem een kopie van de brief e-mailen",
        "Sobald ein Empfänger annimmt, ihm eine Kopie des Briefes per E-Mail senden",
    ),
    "E-mail me when a recipient answers, or when a letter cannot be delivered": (
        "Me prévenir par e-mail quand un destinataire répond, ou quand une lettre ne peut être "
        "distribuée",
        "Mij e-mailen wanneer een ontvanger antwoordt, of wanneer een brief niet kan worden "
        "bezorgd",
        "Mich per E-Mail benachrichtigen, wenn ein Empfänger antwortet oder ein Brief nicht "
        "zugestellt werden kann",
    ),
    "Sending the letter and its files": (
        "Envoi de la lettre et de ses fichiers",
        "De brief en zijn bestanden worden verzonden",
        "Der Brief und seine Dateien werden gesendet",
    ),
    "Review before sending": (
        "Vérifier avant d’envoyer",
        "Controleren voor verzending",
        "Vor dem Versand prüfen",
    ),
    "Resend the notice": (
        "Renvoyer l’avis",
        "Het bericht opnieuw verzenden",
        "Die Benachrichtigung erneut senden",
    ),
    "Nothing has been sent yet. This is what each recipient will receive.": (
        "Rien n’a encore été envoyé. Voici ce que chaque destinataire recevra.",
        "Er is nog niets verzonden. Dit is wat elke ontvanger zal ontvangen.",
        "Es wurde noch nichts versendet. Das erhält jeder Empfänger.",
    ),
    "No attachment.": ("Aucune pièce jointe.", "Geen bijlage.", "Kein Anhang."),
    "And %(count)s more.": ("Et %(count)s de plus.", "En nog %(count)s.", "Und %(count)s weitere."),
    "Recipients: %(count)s": (
        "Destinataires : %(count)s",
        "Ontvangers: %(count)s",
        "Empfänger: %(count)s",
    ),
    "Lines of the file that will not be sent: %(count)s": (
        "Lignes du fichier qui ne seront pas envoyées : %(count)s",
        "Regels van het bestand die niet worden verzonden: %(count)s",
        "Zeilen der Datei, die nicht versendet werden: %(count)s",
    ),
    "These lines have an error and are left out: sending sends the recipients above only. "
    "Correct them and send them in another letter.": (
        "Ces lignes comportent une erreur et sont écartées : l’envoi ne concerne que les "
        "destinataires ci-dessus. Corrigez-les et envoyez-les dans une autre lettre.",
        "Deze regels bevatten een fout en worden weggelaten: alleen de ontvangers hierboven "
        "krijgen de brief. Verbeter ze en verzend ze in een andere brief.",
        "Diese Zeilen enthalten einen Fehler und werden ausgelassen: Versendet wird nur an die "
        "Empfänger oben. Korrigieren Sie sie und versenden Sie sie in einem anderen Brief.",
    ),
    "Send the letter": ("Envoyer la lettre", "De brief verzenden", "Den Brief versenden"),
    "Discard": ("Supprimer le brouillon", "Concept verwijderen", "Entwurf verwerfen"),
    # ---- dashboard: every page in the visitor's language (home, letters, signatures, settings) ----
    "your organisation": ("votre organisation", "uw organisatie", "Ihrer Organisation"),
    "No such letter in %(organization)s.": (
        "Cette lettre n’existe pas chez %(organization)s.",
        "Deze brief bestaat niet bij %(organization)s.",
        "Diesen Brief gibt es bei %(organization)s nicht.",
    ),
    "No such proof in %(organization)s.": (
        "Cette preuve n’existe pas chez %(organization)s.",
        "Dit bewijs bestaat niet bij %(organization)s.",
        "Diesen Nachweis gibt es bei %(organization)s nicht.",
    ),
    "No such delivery in %(organization)s.": (
        "Cette distribution n’existe pas chez %(organization)s.",
        "Deze bezorging bestaat niet bij %(organization)s.",
        "Diese Zustellung gibt es bei %(organization)s nicht.",
    ),
    "No such envelope in %(organization)s.": (
        "Cette enveloppe n’existe pas chez %(organization)s.",
        "Deze envelop bestaat niet bij %(organization)s.",
        "Diesen Umschlag gibt es bei %(organization)s nicht.",
    ),
    "No such action in %(organization)s.": (
        "Cette action n’existe pas chez %(organization)s.",
        "Deze actie bestaat niet bij %(organization)s.",
        "Diese Aktion gibt es bei %(organization)s nicht.",
    ),
    "No such API key in %(organization)s.": (
        "Cette clé d’API n’existe pas chez %(organization)s.",
        "Deze API-sleutel bestaat niet bij %(organization)s.",
        "Diesen API-Schlüssel gibt es bei %(organization)s nicht.",
    ),
    "No such user in %(organization)s.": (
        "Cet utilisateur n’existe pas chez %(organization)s.",
        "Deze gebruiker bestaat niet bij %(organization)s.",
        "Diesen Benutzer gibt es bei %(organization)s nicht.",
    ),
    "No such client key in %(organization)s.": (
        "Cette clé client n’existe pas chez %(organization)s.",
        "Deze clientsleutel bestaat niet bij %(organization)s.",
        "Diesen Client-Schlüssel gibt es bei %(organization)s nicht.",
    ),
    "No such webhook endpoint in %(organization)s.": (
        "Ce point de terminaison de webhook n’existe pas chez %(organization)s.",
        "Dit webhook-eindpunt bestaat niet bij %(organization)s.",
        "Diesen Webhook-Endpunkt gibt es bei %(organization)s nicht.",
    ),
    "No such customer in %(organization)s.": (
        "Ce client n’existe pas chez %(organization)s.",
        "Deze klant bestaat niet bij %(organization)s.",
        "Diesen Kunden gibt es bei %(organization)s nicht.",
    ),
    "No such draft in %(organization)s.": (
        "Ce brouillon n’existe pas chez %(organization)s.",
        "Dit concept bestaat niet bij %(organization)s.",
        "Diesen Entwurf gibt es bei %(organization)s nicht.",
    ),
    "This page does not exist in %(organization)s.": (
        "Cette page n’existe pas chez %(organization)s.",
        "Deze pagina bestaat niet bij %(organization)s.",
        "Diese Seite gibt es bei %(organization)s nicht.",
    ),
    "No such session in %(organization)s.": (
        "Cette session n’existe pas chez %(organization)s.",
        "Deze sessie bestaat niet bij %(organization)s.",
        "Diese Sitzung gibt es bei %(organization)s nicht.",
    ),
    "registered letter": ("lettre recommandée", "aangetekende brief", "Einschreiben"),
    "simple letter": ("lettre simple", "gewone brief", "einfacher Brief"),
    "document delivery": ("dépôt de documents", "documentbezorging", "Dokumentzustellung"),
    "secure message": ("message sécurisé", "beveiligd bericht", "sichere Nachricht"),
    "draft": ("brouillon", "concept", "Entwurf"),
    "complete": ("terminée", "voltooid", "abgeschlossen"),
    "rejected": ("refusée", "geweigerd", "abgelehnt"),
    "cancelled": ("annulée", "geannuleerd", "storniert"),
    "waiting for their turn": (
        "attend son tour",
        "wacht op zijn beurt",
        "wartet, bis er an der Reihe ist",
    ),
    "invited": ("invité", "uitgenodigd", "eingeladen"),
    "opened": ("a ouvert", "geopend", "geöffnet"),
    "signed": ("a signé", "ondertekend", "unterschrieben"),
    "approved": ("a approuvé", "goedgekeurd", "genehmigt"),
    "viewed": ("a consulté", "bekeken", "angesehen"),
    "assisted": ("a assisté", "geassisteerd", "unterstützt"),
    "declined": ("a refusé", "geweigerd", "abgelehnt"),
    "viewer": ("lecteur", "lezer", "Leser"),
    "sender": ("expéditeur", "verzender", "Absender"),
    "admin": ("administrateur", "beheerder", "Administrator"),
    "activated": ("activé", "geactiveerd", "aktiviert"),
    "deactivated": ("désactivé", "gedeactiveerd", "deaktiviert"),
    "Parallel signing": (
        "Signature en parallèle",
        "Gelijktijdig ondertekenen",
        "Parallele Unterzeichnung",
    ),
    "Sequential signing": (
        "Signature dans l’ordre",
        "Ondertekenen in volgorde",
        "Unterzeichnung nacheinander",
    ),
    "Reply by the sender": (
        "Réponse de l’expéditeur",
        "Antwoord van de afzender",
        "Antwort des Absenders",
    ),
    "Recipient's data erased": (
        "Données du destinataire effacées",
        "Gegevens van de ontvanger gewist",
        "Daten des Empfängers gelöscht",
    ),
    "succeeded": ("réussie", "geslaagd", "erfolgreich"),
    "failed": ("échouée", "mislukt", "fehlgeschlagen"),
    "failed, retried later": (
        "échouée, nouvel essai plus tard",
        "mislukt, later opnieuw geprobeerd",
        "fehlgeschlagen, später neuer Versuch",
    ),
    "failed for good": ("échouée définitivement", "definitief mislukt", "endgültig fehlgeschlagen"),
    "skipped": ("ignorée", "overgeslagen", "übersprungen"),
    "awaiting consent": ("consentement attendu", "wacht op toestemming", "Zustimmung ausstehend"),
    "consent given": ("consentement donné", "toestemming gegeven", "Zustimmung erteilt"),
    "consent refused": ("consentement refusé", "toestemming geweigerd", "Zustimmung verweigert"),
    "consent revoked": ("consentement révoqué", "toestemming ingetrokken", "Zustimmung widerrufen"),
    "no longer managed": ("plus géré", "niet meer beheerd", "nicht mehr verwaltet"),
    "A date such as %(example)s.": (
        "Une date comme %(example)s.",
        "Een datum zoals %(example)s.",
        "Ein Datum wie %(example)s.",
    ),
    "Unknown mode; one of %(choices)s.": (
        "Mode inconnu ; l’un de %(choices)s.",
        "Onbekende modus; een van %(choices)s.",
        "Unbekannter Modus; einer von %(choices)s.",
    ),
    "Unknown status; one of %(choices)s.": (
        "Statut inconnu ; l’un de %(choices)s.",
        "Onbekende status; een van %(choices)s.",
        "Unbekannter Status; einer von %(choices)s.",
    ),
    "The page is a whole number from 1.": (
        "La page est un nombre entier à partir de 1.",
        "De pagina is een geheel getal vanaf 1.",
        "Die Seite ist eine ganze Zahl ab 1.",
    ),
    "The letter was sent: each recipient's notice is on its way.": (
        "La lettre a été envoyée : l’avis de chaque destinataire est en route.",
        "De brief is verzonden: het bericht aan elke ontvanger is onderweg.",
        "Der Brief wurde versendet: Die Benachrichtigung jedes Empfängers ist unterwegs.",
    ),
    "The notice was sent again.": (
        "L’avis a été renvoyé.",
        "Het bericht is opnieuw verzonden.",
        "Die Benachrichtigung wurde erneut gesendet.",
    ),
    "A %(role)s reads envelopes; a sender or an admin acts on them.": (
        "Le rôle %(role)s permet de consulter les enveloppes ; un expéditeur ou un administrateur "
        "agit sur elles.",
        "De rol %(role)s kan enveloppen lezen; een verzender of een beheerder voert er acties op "
        "uit.",
        "Die Rolle %(role)s liest Umschläge; ein Absender oder ein Administrator bearbeitet sie.",
    ),
    "This page link is not valid; start from the first page.": (
        "Ce lien de page n’est pas valide ; repartez de la première page.",
        "Deze paginalink is niet geldig; begin bij de eerste pagina.",
        "Dieser Seitenlink ist ungültig; beginnen Sie auf der ersten Seite.",
    ),
    "The recipients who have not acted yet were e-mailed again.": (
        "Les destinataires qui n’ont pas encore agi ont reçu un nouvel e-mail.",
        "De ontvangers die nog niet hebben gereageerd, zijn opnieuw gemaild.",
        "Die Empfänger, die noch nicht gehandelt haben, wurden erneut per E-Mail benachrichtigt.",
    ),
    "The envelope was cancelled.": (
        "L’enveloppe a été annulée.",
        "De envelop is geannuleerd.",
        "Der Umschlag wurde storniert.",
    ),
    "The envelope was sent: the recipients whose turn it is were e-mailed.": (
        "L’enveloppe a été envoyée : les destinataires dont c’est le tour ont reçu un e-mail.",
        "De envelop is verzonden: de ontvangers die aan de beurt zijn, zijn gemaild.",
        "Der Umschlag wurde versendet: Die Empfänger, die an der Reihe sind, wurden per E-Mail "
        "benachrichtigt.",
    ),
    "A %(role)s cannot manage API keys; an admin of the organisation can.": (
        "Le rôle %(role)s ne permet pas de gérer les clés d’API ; un administrateur de "
        "l’organisation le peut.",
        "De rol %(role)s kan geen API-sleutels beheren; een beheerder van de organisatie wel.",
        "Die Rolle %(role)s kann keine API-Schlüssel verwalten; ein Administrator der "
        "Organisation kann es.",
    ),
    "A %(role)s cannot change the organisation's settings; an admin of the organisation can.": (
        "Le rôle %(role)s ne permet pas de modifier les paramètres de l’organisation ; un "
        "administrateur de l’organisation le peut.",
        "De rol %(role)s kan de instellingen van de organisatie niet wijzigen; een beheerder van "
        "de organisatie wel.",
        "Die Rolle %(role)s kann die Einstellungen der Organisation nicht ändern; ein "
        "Administrator der Organisation kann es.",
    ),
    "A %(role)s cannot manage users; an admin of the organisation can.": (
        "Le rôle %(role)s ne permet pas de gérer les utilisateurs ; un administrateur de "
        "l’organisation le peut.",
        "De rol %(role)s kan geen gebruikers beheren; een beheerder van de organisatie wel.",
        "Die Rolle %(role)s kann keine Benutzer verwalten; ein Administrator der Organisation "
        "kann es.",
    ),
    "A %(role)s cannot manage client keys; an admin of the organisation can.": (
        "Le rôle %(role)s ne permet pas de gérer les clés client ; un administrateur de "
        "l’organisation le peut.",
        "De rol %(role)s kan geen clientsleutels beheren; een beheerder van de organisatie wel.",
        "Die Rolle %(role)s kann keine Client-Schlüssel verwalten; ein Administrator der "
        "Organisation kann es.",
    ),
    "A %(role)s cannot manage webhooks; an admin of the organisation can.": (
        "Le rôle %(role)s ne permet pas de gérer les webhooks ; un administrateur de "
        "l’organisation le peut.",
        "De rol %(role)s kan geen webhooks beheren; een beheerder van de organisatie wel.",
        "Die Rolle %(role)s kann keine Webhooks verwalten; ein Administrator der Organisation "
        "kann es.",
    ),
    "A %(role)s cannot manage customers; an admin of the organisation can.": (
        "Le rôle %(role)s ne permet pas de gérer les clients ; un administrateur de "
        "l’organisation le peut.",
        "De rol %(role)s kan geen klanten beheren; een beheerder van de organisatie wel.",
        "Die Rolle %(role)s kann keine Kunden verwalten; ein Administrator der Organisation kann "
        "es.",
    ),
    "A %(role)s cannot read the seal's settings; an admin of the organisation can.": (
        "Le rôle %(role)s ne permet pas de consulter les paramètres du sceau ; un administrateur "
        "de l’organisation le peut.",
        "De rol %(role)s kan de instellingen van het zegel niet inzien; een beheerder van de "
        "organisatie wel.",
        "Die Rolle %(role)s kann die Einstellungen des Siegels nicht einsehen; ein Administrator "
        "der Organisation kann es.",
    ),
    "A name of 1 to 255 characters, to recognise the key by.": (
        "Un nom de 1 à 255 caractères, pour reconnaître la clé.",
        "Een naam van 1 tot 255 tekens, om de sleutel te herkennen.",
        "Ein Name mit 1 bis 255 Zeichen, an dem Sie den Schlüssel erkennen.",
    ),
    "Scopes are among %(scopes)s.": (
        "Les portées sont parmi %(scopes)s.",
        "De bereiken zijn een van %(scopes)s.",
        "Die Berechtigungen sind aus %(scopes)s.",
    ),
    "The key was revoked.": (
        "La clé a été révoquée.",
        "De sleutel is ingetrokken.",
        "Der Schlüssel wurde widerrufen.",
    ),
    "Choose at least one scope.": (
        "Choisissez au moins une portée.",
        "Kies ten minste één bereik.",
        "Wählen Sie mindestens eine Berechtigung.",
    ),
    "A day after today.": (
        "Un jour après aujourd’hui.",
        "Een dag na vandaag.",
        "Ein Tag nach heute.",
    ),
    "The invitation was sent: the activation link is valid 7 days.": (
        "L’invitation a été envoyée : le lien d’activation est valable 7 jours.",
        "De uitnodiging is verzonden: de activeringslink is 7 dagen geldig.",
        "Die Einladung wurde gesendet: Der Aktivierungslink ist 7 Tage gültig.",
    ),
    "The role was changed.": (
        "Le rôle a été modifié.",
        "De rol is gewijzigd.",
        "Die Rolle wurde geändert.",
    ),
    "The user was deactivated: they can no longer sign in.": (
        "L’utilisateur a été désactivé : il ne peut plus se connecter.",
        "De gebruiker is gedeactiveerd: hij kan zich niet meer aanmelden.",
        "Der Benutzer wurde deaktiviert: Er kann sich nicht mehr anmelden.",
    ),
    "A new activation link was sent (the previous one no longer works).": (
        "Un nouveau lien d’activation a été envoyé (le précédent ne fonctionne plus).",
        "Er is een nieuwe activeringslink verzonden (de vorige werkt niet meer).",
        "Ein neuer Aktivierungslink wurde gesendet (der vorherige funktioniert nicht mehr).",
    ),
    "At most 255 characters, without control characters.": (
        "255 caractères au plus, sans caractères de contrôle.",
        "Hoogstens 255 tekens, zonder stuurtekens.",
        "Höchstens 255 Zeichen, ohne Steuerzeichen.",
    ),
    "One of %(roles)s.": ("L’un de %(roles)s.", "Een van %(roles)s.", "Einer von %(roles)s."),
    "You cannot change your own role or deactivate yourself: another admin can.": (
        "Vous ne pouvez ni modifier votre propre rôle ni vous désactiver : un autre "
        "administrateur le peut.",
        "U kunt uw eigen rol niet wijzigen en uzelf niet deactiveren: een andere beheerder wel.",
        "Sie können weder Ihre eigene Rolle ändern noch sich selbst deaktivieren: Ein anderer "
        "Administrator kann es.",
    ),
    "The role is one of %(roles)s.": (
        "Le rôle est l’un de %(roles)s.",
        "De rol is een van %(roles)s.",
        "Die Rolle ist eine von %(roles)s.",
    ),
    "A PEM public key (-----BEGIN PUBLIC KEY-----), at most 16384 characters.": (
        "Une clé publique PEM (-----BEGIN PUBLIC KEY-----), de 16384 caractères au plus.",
        "Een openbare PEM-sleutel (-----BEGIN PUBLIC KEY-----), hoogstens 16384 tekens.",
        "Ein öffentlicher PEM-Schlüssel (-----BEGIN PUBLIC KEY-----), höchstens 16384 Zeichen.",
    ),
    "Choose at least one scope, among %(scopes)s.": (
        "Choisissez au moins une portée, parmi %(scopes)s.",
        "Kies ten minste één bereik, uit %(scopes)s.",
        "Wählen Sie mindestens eine Berechtigung aus %(scopes)s.",
    ),
    "The client key was revoked: its JWTs are refused.": (
        "La clé client a été révoquée : ses JWT sont refusés.",
        "De clientsleutel is ingetrokken: zijn JWT’s worden geweigerd.",
        "Der Client-Schlüssel wurde widerrufen: Seine JWTs werden abgelehnt.",
    ),
    "An http(s) URL of 8 to 2048 characters, such as https://crm.example/hooks.": (
        "Une URL http(s) de 8 à 2048 caractères, comme https://crm.example/hooks.",
        "Een http(s)-URL van 8 tot 2048 tekens, zoals https://crm.example/hooks.",
        "Eine http(s)-URL mit 8 bis 2048 Zeichen, etwa https://crm.example/hooks.",
    ),
    "Choose at least one event, or every event (*).": (
        "Choisissez au moins un événement, ou tous les événements (*).",
        "Kies ten minste één gebeurtenis, of alle gebeurtenissen (*).",
        "Wählen Sie mindestens ein Ereignis oder alle Ereignisse (*).",
    ),
    "One of %(formats)s.": (
        "L’un de %(formats)s.",
        "Een van %(formats)s.",
        "Eines von %(formats)s.",
    ),
    "At most 500 characters.": (
        "500 caractères au plus.",
        "Hoogstens 500 tekens.",
        "Höchstens 500 Zeichen.",
    ),
    "A webhook.test ping is on its way; its attempt appears below once sent (reload the page).": (
        "Un ping webhook.test est en route ; sa tentative apparaît ci-dessous une fois envoyée "
        "(rechargez la page).",
        "Een webhook.test-ping is onderweg; de poging verschijnt hieronder zodra hij is verzonden "
        "(laad de pagina opnieuw).",
        "Ein webhook.test-Ping ist unterwegs; der Versuch erscheint unten, sobald er gesendet "
        "wurde (laden Sie die Seite neu).",
    ),
    "The event will be sent again (same webhook-id); its attempt appears below once sent.": (
        "L’événement sera renvoyé (même webhook-id) ; sa tentative apparaît ci-dessous une fois "
        "envoyée.",
        "De gebeurtenis wordt opnieuw verzonden (zelfde webhook-id); de poging verschijnt "
        "hieronder zodra hij is verzonden.",
        "Das Ereignis wird erneut gesendet (gleiche webhook-id); der Versuch erscheint unten, "
        "sobald er gesendet wurde.",
    ),
    "The endpoint is disabled: events are still recorded, not sent.": (
        "Le point de terminaison est désactivé : les événements sont toujours enregistrés, mais "
        "pas envoyés.",
        "Het eindpunt is uitgeschakeld: gebeurtenissen worden nog vastgelegd, niet verzonden.",
        "Der Endpunkt ist deaktiviert: Ereignisse werden weiter erfasst, aber nicht gesendet.",
    ),
    "The endpoint is enabled again.": (
        "Le point de terminaison est de nouveau activé.",
        "Het eindpunt is weer ingeschakeld.",
        "Der Endpunkt ist wieder aktiviert.",
    ),
    "The endpoint answered 410 Gone.": (
        "Le point de terminaison a répondu 410 Gone.",
        "Het eindpunt antwoordde 410 Gone.",
        "Der Endpunkt hat mit 410 Gone geantwortet.",
    ),
    "Every attempt failed for three days.": (
        "Toutes les tentatives ont échoué pendant trois jours.",
        "Alle pogingen zijn drie dagen lang mislukt.",
        "Alle Versuche sind drei Tage lang fehlgeschlagen.",
    ),
    "disabled through the API": (
        "désactivé par l’API",
        "uitgeschakeld via de API",
        "über die API deaktiviert",
    ),
    "disabled in the dashboard": (
        "désactivé dans le tableau de bord",
        "uitgeschakeld in het dashboard",
        "im Dashboard deaktiviert",
    ),
    "The endpoint was deleted.": (
        "Le point de terminaison a été supprimé.",
        "Het eindpunt is verwijderd.",
        "Der Endpunkt wurde gelöscht.",
    ),
    "This page link is not valid; start from the newest attempts.": (
        "Ce lien de page n’est pas valide ; repartez des tentatives les plus récentes.",
        "Deze paginalink is niet geldig; begin bij de nieuwste pogingen.",
        "Dieser Seitenlink ist ungültig; beginnen Sie bei den neuesten Versuchen.",
    ),
    "The endpoint is disabled: enable it, then send a test.": (
        "Le point de terminaison est désactivé : activez-le, puis envoyez un test.",
        "Het eindpunt is uitgeschakeld: schakel het in en verstuur dan een test.",
        "Der Endpunkt ist deaktiviert: Aktivieren Sie ihn und senden Sie dann einen Test.",
    ),
    "No attempt %(id)s to this endpoint.": (
        "Aucune tentative %(id)s vers ce point de terminaison.",
        "Geen poging %(id)s naar dit eindpunt.",
        "Kein Versuch %(id)s an diesen Endpunkt.",
    ),
    "A name of 1 to 255 characters, without control characters.": (
        "Un nom de 1 à 255 caractères, sans caractères de contrôle.",
        "Een naam van 1 tot 255 tekens, zonder stuurtekens.",
        "Ein Name mit 1 bis 255 Zeichen, ohne Steuerzeichen.",
    ),
    "An e-mail address such as contact@customer.example.": (
        "Une adresse e-mail comme contact@customer.example.",
        "Een e-mailadres zoals contact@customer.example.",
        "Eine E-Mail-Adresse wie contact@customer.example.",
    ),
    "The customer was registered: its contact is asked by e-mail to accept being managed (PENDING "
    "until they answer).": (
        "Le client a été enregistré : son contact est invité par e-mail à accepter d’être géré "
        "(PENDING jusqu’à sa réponse).",
        "De klant is geregistreerd: zijn contactpersoon wordt per e-mail gevraagd in te stemmen "
        "met het beheer (PENDING tot hij antwoordt).",
        "Der Kunde wurde registriert: Sein Ansprechpartner wird per E-Mail gebeten, der "
        "Verwaltung zuzustimmen (PENDING bis zur Antwort).",
    ),
    "You no longer manage this customer (CANCELLED).": (
        "Vous ne gérez plus ce client (CANCELLED).",
        "U beheert deze klant niet meer (CANCELLED).",
        "Sie verwalten diesen Kunden nicht mehr (CANCELLED).",
    ),
    "Unknown state; one of %(choices)s.": (
        "État inconnu ; l’un de %(choices)s.",
        "Onbekende status; een van %(choices)s.",
        "Unbekannter Zustand; einer von %(choices)s.",
    ),
    "%(name)s is %(state)s: only a PENDING or ACCEPTED customer can be cancelled.": (
        "%(name)s est %(state)s : seul un client PENDING ou ACCEPTED peut être annulé.",
        "%(name)s is %(state)s: alleen een klant die PENDING of ACCEPTED is, kan worden "
        "geannuleerd.",
        "%(name)s ist %(state)s: Nur ein Kunde im Zustand PENDING oder ACCEPTED kann storniert "
        "werden.",
    ),
    "Client keys": ("Clés client", "Clientsleutels", "Client-Schlüssel"),
    "A client signs short-lived JWTs (<code>exp</code> at most one hour ahead) with its private "
    "key, its <code>iss</code> being the key's issuer, and calls the API with "
    "<code>Authorization: Bearer &lt;JWT&gt;</code>. For the Documentd dialect the issuer is the "
    "company API id (<code>SP-Company-Api-Id</code>).": (
        "Un client signe avec sa clé privée des JWT de courte durée (<code>exp</code> au plus une "
        "heure plus tard), dont le <code>iss</code> est l’émetteur de la clé, et appelle l’API "
        "avec <code>Authorization: Bearer &lt;JWT&gt;</code>. Pour le dialecte Documentd, "
        "l’émetteur est l’identifiant d’API de la société (<code>SP-Company-Api-Id</code>).",
        "Een client ondertekent kortlevende JWT’s (<code>exp</code> hoogstens een uur vooruit) "
        "met zijn privésleutel, met als <code>iss</code> de uitgever van de sleutel, en roept de "
        "API aan met <code>Authorization: Bearer &lt;JWT&gt;</code>. Voor het Documentd-dialect "
        "is de uitgever het API-id van het bedrijf (<code>SP-Company-Api-Id</code>).",
        "Ein Client signiert kurzlebige JWTs (<code>exp</code> höchstens eine Stunde in der "
        "Zukunft) mit seinem privaten Schlüssel, wobei <code>iss</code> der Aussteller des "
        "Schlüssels ist, und ruft die API mit <code>Authorization: Bearer &lt;JWT&gt;</code> auf. "
        "Für den Documentd-Dialekt ist der Aussteller die API-ID des Unternehmens "
        "(<code>SP-Company-Api-Id</code>).",
    ),
    "Client key “%(name)s” registered": (
        "Clé client « %(name)s » enregistrée",
        "Clientsleutel ‘%(name)s’ geregistreerd",
        "Client-Schlüssel „%(name)s“ registriert",
    ),
    "Issuer (the JWTs' <code>iss</code>)": (
        "Émetteur (le <code>iss</code> des JWT)",
        "Uitgever (de <code>iss</code> van de JWT’s)",
        "Aussteller (das <code>iss</code> der JWTs)",
    ),
    "%(type)s key; algorithms %(algorithms)s; scopes %(scopes)s.": (
        "Clé %(type)s ; algorithmes %(algorithms)s ; portées %(scopes)s.",
        "%(type)s-sleutel; algoritmen %(algorithms)s; bereiken %(scopes)s.",
        "%(type)s-Schlüssel; Algorithmen %(algorithms)s; Berechtigungen %(scopes)s.",
    ),
    "Register a public key": (
        "Enregistrer une clé publique",
        "Een openbare sleutel registreren",
        "Einen öffentlichen Schlüssel registrieren",
    ),
    "Public key (PEM): RSA of at least 2048 bits, or EC P-256": (
        "Clé publique (PEM) : RSA d’au moins 2048 bits, ou EC P-256",
        "Openbare sleutel (PEM): RSA van ten minste 2048 bits, of EC P-256",
        "Öffentlicher Schlüssel (PEM): RSA mit mindestens 2048 Bit oder EC P-256",
    ),
    "Scopes of its JWTs": (
        "Portées de ses JWT",
        "Bereiken van zijn JWT’s",
        "Berechtigungen seiner JWTs",
    ),
    "Register the key": (
        "Enregistrer la clé",
        "De sleutel registreren",
        "Den Schlüssel registrieren",
    ),
    "Keys": ("Clés", "Sleutels", "Schlüssel"),
    "No client key yet.": (
        "Aucune clé client pour l’instant.",
        "Nog geen clientsleutel.",
        "Noch kein Client-Schlüssel.",
    ),
    "revoked %(date)s": (
        "révoquée le %(date)s",
        "ingetrokken op %(date)s",
        "widerrufen am %(date)s",
    ),
    "Thumbprint (RFC 7638)": (
        "Empreinte (RFC 7638)",
        "Vingerafdruk (RFC 7638)",
        "Fingerabdruck (RFC 7638)",
    ),
    "algorithms %(algorithms)s; scopes %(scopes)s; registered %(date)s; last used %(used)s": (
        "algorithmes %(algorithms)s ; portées %(scopes)s ; enregistrée le %(date)s ; dernière "
        "utilisation : %(used)s",
        "algoritmen %(algorithms)s; bereiken %(scopes)s; geregistreerd op %(date)s; laatst "
        "gebruikt: %(used)s",
        "Algorithmen %(algorithms)s; Berechtigungen %(scopes)s; registriert am %(date)s; zuletzt "
        "verwendet: %(used)s",
    ),
    "never": ("jamais", "nooit", "nie"),
    "Revoke %(name)s": ("Révoquer %(name)s", "%(name)s intrekken", "%(name)s widerrufen"),
    "Revoke": ("Révoquer", "Intrekken", "Widerrufen"),
    "Customers": ("Clients", "Klanten", "Kunden"),
    "As a reseller, you send for your customers once their contact accepted (the delegation): "
    "PENDING until they answer the e-mail, then ACCEPTED or REFUSED; they may later revoke it "
    "(REVOKED), and you may stop managing them (CANCELLED).": (
        "En tant que revendeur, vous envoyez pour vos clients une fois que leur contact a accepté "
        "(la délégation) : PENDING jusqu’à sa réponse à l’e-mail, puis ACCEPTED ou REFUSED ; il "
        "peut ensuite la révoquer (REVOKED), et vous pouvez cesser de le gérer (CANCELLED).",
        "Als wederverkoper verzendt u voor uw klanten zodra hun contactpersoon heeft ingestemd "
        "(de delegatie): PENDING tot hij de e-mail beantwoordt, daarna ACCEPTED of REFUSED; hij "
        "kan die later intrekken (REVOKED), en u kunt stoppen met het beheer (CANCELLED).",
        "Als Wiederverkäufer versenden Sie für Ihre Kunden, sobald deren Ansprechpartner "
        "zugestimmt hat (die Delegation): PENDING bis zur Antwort auf die E-Mail, dann ACCEPTED "
        "oder REFUSED; er kann sie später widerrufen (REVOKED), und Sie können die Verwaltung "
        "beenden (CANCELLED).",
    ),
    "Register a customer": (
        "Enregistrer un client",
        "Een klant registreren",
        "Einen Kunden registrieren",
    ),
    "Contact's e-mail address (asked to accept)": (
        "Adresse e-mail du contact (invité à accepter)",
        "E-mailadres van de contactpersoon (gevraagd om in te stemmen)",
        "E-Mail-Adresse des Ansprechpartners (wird um Zustimmung gebeten)",
    ),
    "Paying customer": ("Client payant", "Betalende klant", "Zahlender Kunde"),
    "Will send registered letters": (
        "Enverra des lettres recommandées",
        "Zal aangetekende brieven verzenden",
        "Wird Einschreiben versenden",
    ),
    "Register and ask for consent": (
        "Enregistrer et demander le consentement",
        "Registreren en om toestemming vragen",
        "Registrieren und um Zustimmung bitten",
    ),
    "Your customers": ("Vos clients", "Uw klanten", "Ihre Kunden"),
    "State": ("État", "Status", "Zustand"),
    "Any": ("Tous", "Alle", "Alle"),
    "Show": ("Afficher", "Tonen", "Anzeigen"),
    "No customer in state %(state)s.": (
        "Aucun client dans l’état %(state)s.",
        "Geen klant met status %(state)s.",
        "Kein Kunde im Zustand %(state)s.",
    ),
    "No customer.": ("Aucun client.", "Geen klant.", "Kein Kunde."),
    "since %(date)s": ("depuis le %(date)s", "sinds %(date)s", "seit %(date)s"),
    "registered %(date)s": (
        "enregistré le %(date)s",
        "geregistreerd op %(date)s",
        "registriert am %(date)s",
    ),
    "paying": ("payant", "betalend", "zahlend"),
    "sends registered letters": (
        "envoie des lettres recommandées",
        "verzendt aangetekende brieven",
        "versendet Einschreiben",
    ),
    "Stop managing %(name)s": (
        "Cesser de gérer %(name)s",
        "Stoppen met het beheer van %(name)s",
        "Verwaltung von %(name)s beenden",
    ),
    "Stop managing": ("Cesser de gérer", "Stoppen met beheer", "Verwaltung beenden"),
    "Not allowed": ("Non autorisé", "Niet toegestaan", "Nicht erlaubt"),
    "Dashboard": ("Tableau de bord", "Dashboard", "Dashboard"),
    "until %(date)s": ("jusqu’au %(date)s", "tot %(date)s", "bis %(date)s"),
    "Last 30 days": ("30 derniers jours", "Laatste 30 dagen", "Letzte 30 Tage"),
    "Deliveries: %(count)s.": (
        "Distributions : %(count)s.",
        "Bezorgingen: %(count)s.",
        "Zustellungen: %(count)s.",
    ),
    "Sent per day": ("Envois par jour", "Verzonden per dag", "Versand pro Tag"),
    "Deliveries of the last 30 days by the day they were sent: %(delivered)s delivered, "
    "%(failed)s failed, %(open)s still open.": (
        "Distributions des 30 derniers jours par jour d’envoi : %(delivered)s distribuées, "
        "%(failed)s en échec, %(open)s encore ouvertes.",
        "Bezorgingen van de laatste 30 dagen per verzenddag: %(delivered)s bezorgd, %(failed)s "
        "mislukt, %(open)s nog open.",
        "Zustellungen der letzten 30 Tage nach Versandtag: %(delivered)s zugestellt, %(failed)s "
        "fehlgeschlagen, %(open)s noch offen.",
    ),
    "%(day)s: %(delivered)s delivered, %(failed)s failed, %(open)s open": (
        "%(day)s : %(delivered)s distribuées, %(failed)s en échec, %(open)s ouvertes",
        "%(day)s: %(delivered)s bezorgd, %(failed)s mislukt, %(open)s open",
        "%(day)s: %(delivered)s zugestellt, %(failed)s fehlgeschlagen, %(open)s offen",
    ),
    "Highest day: %(count)s.": (
        "Jour le plus chargé : %(count)s.",
        "Drukste dag: %(count)s.",
        "Stärkster Tag: %(count)s.",
    ),
    "delivered (accepted or received)": (
        "distribuées (acceptées ou reçues)",
        "bezorgd (aanvaard of ontvangen)",
        "zugestellt (angenommen oder empfangen)",
    ),
    "failed (refused, expired or undelivered)": (
        "en échec (refusées, expirées ou non distribuées)",
        "mislukt (geweigerd, verlopen of niet bezorgd)",
        "fehlgeschlagen (abgelehnt, abgelaufen oder nicht zugestellt)",
    ),
    "still open": ("encore ouvertes", "nog open", "noch offen"),
    "Days in UTC.": ("Jours en UTC.", "Dagen in UTC.", "Tage in UTC."),
    "Needs attention": ("À surveiller", "Vraagt aandacht", "Erfordert Aufmerksamkeit"),
    "Undelivered": ("Non distribuées", "Niet bezorgd", "Nicht zugestellt"),
    "No undelivered letter.": (
        "Aucune lettre non distribuée.",
        "Geen onbezorgde brief.",
        "Kein nicht zugestellter Brief.",
    ),
    "Expiring soon": ("Bientôt expirées", "Verlopen binnenkort", "Laufen bald ab"),
    "No letter expires in the next 3 days.": (
        "Aucune lettre n’expire dans les 3 prochains jours.",
        "Geen brief verloopt in de komende 3 dagen.",
        "Kein Brief läuft in den nächsten 3 Tagen ab.",
    ),
    "Refused": ("Refusées", "Geweigerd", "Abgelehnt"),
    "No refused letter.": (
        "Aucune lettre refusée.",
        "Geen geweigerde brief.",
        "Kein abgelehnter Brief.",
    ),
    "Key “%(name)s” created": (
        "Clé « %(name)s » créée",
        "Sleutel ‘%(name)s’ aangemaakt",
        "Schlüssel „%(name)s“ erstellt",
    ),
    "Copy it now: it is shown once and never stored (only its hash is).": (
        "Copiez-la maintenant : elle n’est affichée qu’une fois et n’est jamais conservée (seule "
        "son empreinte l’est).",
        "Kopieer hem nu: hij wordt één keer getoond en nooit bewaard (alleen zijn hash).",
        "Kopieren Sie ihn jetzt: Er wird nur einmal angezeigt und nie gespeichert (nur sein Hash).",
    ),
    "API key": ("Clé d’API", "API-sleutel", "API-Schlüssel"),
    "Use it as <code>Authorization: Bearer %(prefix)s…</code>.": (
        "Utilisez-la ainsi : <code>Authorization: Bearer %(prefix)s…</code>.",
        "Gebruik hem als <code>Authorization: Bearer %(prefix)s…</code>.",
        "Verwenden Sie ihn als <code>Authorization: Bearer %(prefix)s…</code>.",
    ),
    "Scopes: %(scopes)s": (
        "Portées : %(scopes)s",
        "Bereiken: %(scopes)s",
        "Berechtigungen: %(scopes)s",
    ),
    "expires %(date)s": ("expire le %(date)s", "verloopt op %(date)s", "läuft am %(date)s ab"),
    "New key": ("Nouvelle clé", "Nieuwe sleutel", "Neuer Schlüssel"),
    "Scopes": ("Portées", "Bereiken", "Berechtigungen"),
    "Expires (day, UTC; empty: never)": (
        "Expiration (jour, UTC ; vide : jamais)",
        "Verloopt (dag, UTC; leeg: nooit)",
        "Läuft ab (Tag, UTC; leer: nie)",
    ),
    "Create the key": ("Créer la clé", "De sleutel aanmaken", "Den Schlüssel erstellen"),
    "Starts with": ("Commence par", "Begint met", "Beginnt mit"),
    "Created": ("Création", "Aangemaakt", "Erstellt"),
    "Last used": ("Dernière utilisation", "Laatst gebruikt", "Zuletzt verwendet"),
    "Expires": ("Expiration", "Verloopt", "Läuft ab"),
    "Action": ("Action", "Actie", "Aktion"),
    "reference %(reference)s": (
        "référence %(reference)s",
        "referentie %(reference)s",
        "Referenz %(reference)s",
    ),
    "sent %(date)s by %(sender)s": (
        "envoyée le %(date)s par %(sender)s",
        "verzonden op %(date)s door %(sender)s",
        "versendet am %(date)s von %(sender)s",
    ),
    "sent %(date)s": ("envoyée le %(date)s", "verzonden op %(date)s", "versendet am %(date)s"),
    "Can be accepted until %(date)s.": (
        "Peut être acceptée jusqu’au %(date)s.",
        "Kan worden aanvaard tot %(date)s.",
        "Kann bis %(date)s angenommen werden.",
    ),
    "proof deleted at the end of its retention period": (
        "preuve supprimée à la fin de sa durée de conservation",
        "bewijs verwijderd aan het einde van de bewaartermijn",
        "Nachweis am Ende seiner Aufbewahrungsfrist gelöscht",
    ),
    "All proofs (evidence.zip)": (
        "Toutes les preuves (evidence.zip)",
        "Alle bewijzen (evidence.zip)",
        "Alle Nachweise (evidence.zip)",
    ),
    "No event yet.": (
        "Aucun événement pour l’instant.",
        "Nog geen gebeurtenis.",
        "Noch kein Ereignis.",
    ),
    "Replies": ("Réponses", "Antwoorden", "Antworten"),
    "Attachments: %(count)s": (
        "Pièces jointes : %(count)s",
        "Bijlagen: %(count)s",
        "Anhänge: %(count)s",
    ),
    "Mode": ("Mode", "Modus", "Modus"),
    "Delivery status": ("Statut de distribution", "Bezorgstatus", "Zustellstatus"),
    "Reference": ("Référence", "Referentie", "Referenz"),
    "Campaign": ("Campagne", "Campagne", "Kampagne"),
    "Sent from (day, UTC)": (
        "Envoyées à partir du (jour, UTC)",
        "Verzonden vanaf (dag, UTC)",
        "Versendet ab (Tag, UTC)",
    ),
    "Sent until (day, UTC, included)": (
        "Envoyées jusqu’au (jour, UTC, inclus)",
        "Verzonden tot en met (dag, UTC)",
        "Versendet bis (Tag, UTC, einschließlich)",
    ),
    "Recipient address": (
        "Adresse du destinataire",
        "Adres van de ontvanger",
        "Adresse des Empfängers",
    ),
    "Filter": ("Filtrer", "Filteren", "Filtern"),
    "No letter matches.": (
        "Aucune lettre ne correspond.",
        "Geen enkele brief komt overeen.",
        "Kein Brief entspricht den Kriterien.",
    ),
    "Pages": ("Pages", "Pagina’s", "Seiten"),
    "Newer": ("Plus récentes", "Nieuwer", "Neuere"),
    "Older": ("Plus anciennes", "Ouder", "Ältere"),
    "Not found": ("Introuvable", "Niet gevonden", "Nicht gefunden"),
    "Seal": ("Sceau", "Zegel", "Siegel"),
    "Certificate subject": (
        "Sujet du certificat",
        "Onderwerp van het certificaat",
        "Inhaber des Zertifikats",
    ),
    "Valid from": ("Valide à partir du", "Geldig vanaf", "Gültig ab"),
    "Valid until": ("Valide jusqu’au", "Geldig tot", "Gültig bis"),
    "Serial number": ("Numéro de série", "Serienummer", "Seriennummer"),
    "SHA-256 fingerprint": ("Empreinte SHA-256", "SHA-256-vingerafdruk", "SHA-256-Fingerabdruck"),
    "Every proof of %(organization)s (evidence JSON and PDF, signed documents, certificates) is "
    "sealed with this certificate. It is the service's, set by its operator "
    "(<code>TABELLION_SEAL_KEY_FILE</code>, <code>TABELLION_SEAL_CERT_FILE</code>); it cannot be "
    "changed here.": (
        "Chaque preuve de %(organization)s (preuves JSON et PDF, documents signés, certificats) "
        "est scellée avec ce certificat. C’est celui du service, défini par son opérateur "
        "(<code>TABELLION_SEAL_KEY_FILE</code>, <code>TABELLION_SEAL_CERT_FILE</code>) ; il ne "
        "peut pas être modifié ici.",
        "Elk bewijs van %(organization)s (bewijs in JSON en PDF, ondertekende documenten, "
        "certificaten) wordt met dit certificaat verzegeld. Het is dat van de dienst, ingesteld "
        "door de beheerder ervan (<code>TABELLION_SEAL_KEY_FILE</code>, "
        "<code>TABELLION_SEAL_CERT_FILE</code>); het kan hier niet worden gewijzigd.",
        "Jeder Nachweis von %(organization)s (Nachweise als JSON und PDF, signierte Dokumente, "
        "Zertifikate) wird mit diesem Zertifikat versiegelt. Es gehört dem Dienst und wird von "
        "dessen Betreiber festgelegt (<code>TABELLION_SEAL_KEY_FILE</code>, "
        "<code>TABELLION_SEAL_CERT_FILE</code>); es kann hier nicht geändert werden.",
    ),
    "the organisation": ("l’organisation", "de organisatie", "der Organisation"),
    "Self-issued seal: the operator configured no seal, so proofs are sealed with a locally "
    "generated certificate that relying parties do not trust by default. Give them its root "
    "(below) to verify with <code>tabellion verify --trust</code>.": (
        "Sceau auto-émis : l’opérateur n’a configuré aucun sceau, les preuves sont donc scellées "
        "avec un certificat généré localement auquel les tiers ne font pas confiance par défaut. "
        "Donnez-leur sa racine (ci-dessous) pour vérifier avec <code>tabellion verify "
        "--trust</code>.",
        "Zelf uitgegeven zegel: de beheerder heeft geen zegel ingesteld, dus worden bewijzen "
        "verzegeld met een lokaal aangemaakt certificaat dat derden standaard niet vertrouwen. "
        "Geef hun de root (hieronder) om te verifiëren met <code>tabellion verify --trust</code>.",
        "Selbst ausgestelltes Siegel: Der Betreiber hat kein Siegel eingerichtet, daher werden "
        "Nachweise mit einem lokal erzeugten Zertifikat versiegelt, dem Dritte standardmäßig "
        "nicht vertrauen. Geben Sie ihnen sein Stammzertifikat (unten), um mit <code>tabellion "
        "verify --trust</code> zu prüfen.",
    ),
    "The seal certificate is not valid now.": (
        "Le certificat du sceau n’est pas valide actuellement.",
        "Het zegelcertificaat is momenteel niet geldig.",
        "Das Siegelzertifikat ist derzeit nicht gültig.",
    ),
    "Seal certificate": ("Certificat du sceau", "Zegelcertificaat", "Siegelzertifikat"),
    "Algorithm": ("Algorithme", "Algoritme", "Algorithmus"),
    "Root certificate": ("Certificat racine", "Rootcertificaat", "Stammzertifikat"),
    "Download the certificate chain (PEM)": (
        "Télécharger la chaîne de certificats (PEM)",
        "De certificaatketen downloaden (PEM)",
        "Die Zertifikatskette herunterladen (PEM)",
    ),
    "Public verification": ("Vérification publique", "Openbare verificatie", "Öffentliche Prüfung"),
    "Anyone can check a proof or a document delivered through Tabellion, without an account, at "
    "%(link)s (or <code>POST /v1/verify</code>). Each PDF proof carries this link and a QR code "
    "to it.": (
        "Chacun peut vérifier une preuve ou un document distribué par Tabellion, sans compte, sur "
        "%(link)s (ou <code>POST /v1/verify</code>). Chaque preuve PDF porte ce lien et un code "
        "QR qui y mène.",
        "Iedereen kan een bewijs of een via Tabellion bezorgd document zonder account controleren "
        "op %(link)s (of <code>POST /v1/verify</code>). Elk PDF-bewijs bevat deze link en een "
        "QR-code ernaartoe.",
        "Jeder kann einen Nachweis oder ein über Tabellion zugestelltes Dokument ohne Konto unter "
        "%(link)s prüfen (oder <code>POST /v1/verify</code>). Jeder PDF-Nachweis enthält diesen "
        "Link und einen QR-Code dazu.",
    ),
    "What an admin of %(organization)s manages.": (
        "Ce que gère un administrateur de %(organization)s.",
        "Wat een beheerder van %(organization)s beheert.",
        "Was ein Administrator von %(organization)s verwaltet.",
    ),
    "What an admin of the organisation manages.": (
        "Ce que gère un administrateur de l’organisation.",
        "Wat een beheerder van de organisatie beheert.",
        "Was ein Administrator der Organisation verwaltet.",
    ),
    "Keys for programs calling the API (<code>Authorization: Bearer tbl_…</code>), each with its "
    "scopes and expiry.": (
        "Les clés des programmes qui appellent l’API (<code>Authorization: Bearer tbl_…</code>), "
        "chacune avec ses portées et son expiration.",
        "Sleutels voor programma’s die de API aanroepen (<code>Authorization: Bearer "
        "tbl_…</code>), elk met zijn bereiken en vervaldatum.",
        "Schlüssel für Programme, die die API aufrufen (<code>Authorization: Bearer "
        "tbl_…</code>), jeweils mit Berechtigungen und Ablauf.",
    ),
    "Public keys whose signed JWTs authenticate a client (the Documentd dialect's company API id "
    "is the key's issuer).": (
        "Les clés publiques dont les JWT signés authentifient un client (l’identifiant d’API de "
        "société du dialecte Documentd est l’émetteur de la clé).",
        "Openbare sleutels waarvan de ondertekende JWT’s een client authenticeren (het "
        "bedrijfs-API-id van het Documentd-dialect is de uitgever van de sleutel).",
        "Öffentliche Schlüssel, deren signierte JWTs einen Client authentifizieren (die "
        "Unternehmens-API-ID des Documentd-Dialekts ist der Aussteller des Schlüssels).",
    ),
    "Who signs in to this dashboard, and their role: viewer, sender or admin.": (
        "Qui se connecte à ce tableau de bord, et avec quel rôle : lecteur, expéditeur ou "
        "administrateur.",
        "Wie zich aanmeldt bij dit dashboard, en met welke rol: lezer, verzender of beheerder.",
        "Wer sich an diesem Dashboard anmeldet, und mit welcher Rolle: Leser, Absender oder "
        "Administrator.",
    ),
    "Webhooks": ("Webhooks", "Webhooks", "Webhooks"),
    "Where Tabellion sends events (deliveries, envelopes, customers), signed with each endpoint's "
    "secret; test pings, every attempt, redelivery.": (
        "Où Tabellion envoie les événements (distributions, enveloppes, clients), signés avec le "
        "secret de chaque point de terminaison ; pings de test, chaque tentative, renvoi.",
        "Waarheen Tabellion gebeurtenissen verzendt (bezorgingen, enveloppen, klanten), "
        "ondertekend met het geheim van elk eindpunt; testpings, elke poging, opnieuw verzenden.",
        "Wohin Tabellion Ereignisse sendet (Zustellungen, Umschläge, Kunden), signiert mit dem "
        "Geheimnis jedes Endpunkts; Test-Pings, jeder Versuch, erneute Zustellung.",
    ),
    "Organisations you send for as a reseller, and whether each accepted to be managed.": (
        "Les organisations pour lesquelles vous envoyez en tant que revendeur, et si chacune a "
        "accepté d’être gérée.",
        "Organisaties waarvoor u als wederverkoper verzendt, en of elk heeft ingestemd met het "
        "beheer.",
        "Organisationen, für die Sie als Wiederverkäufer versenden, und ob jede der Verwaltung "
        "zugestimmt hat.",
    ),
    "The certificate that seals every proof, and the public page where anyone checks a proof.": (
        "Le certificat qui scelle chaque preuve, et la page publique où chacun vérifie une preuve.",
        "Het certificaat dat elk bewijs verzegelt, en de openbare pagina waar iedereen een bewijs "
        "controleert.",
        "Das Zertifikat, das jeden Nachweis versiegelt, und die öffentliche Seite, auf der jeder "
        "einen Nachweis prüft.",
    ),
    "created %(date)s": ("créée le %(date)s", "aangemaakt op %(date)s", "erstellt am %(date)s"),
    "completed %(date)s": (
        "terminée le %(date)s",
        "voltooid op %(date)s",
        "abgeschlossen am %(date)s",
    ),
    "cancelled %(date)s": (
        "annulée le %(date)s",
        "geannuleerd op %(date)s",
        "storniert am %(date)s",
    ),
    "expired %(date)s": ("expirée le %(date)s", "verlopen op %(date)s", "abgelaufen am %(date)s"),
    "Status": ("Statut", "Status", "Status"),
    "Invited": ("Invitation", "Uitgenodigd", "Eingeladen"),
    "Opened": ("Ouverture", "Geopend", "Geöffnet"),
    "Acted": ("Réponse", "Gereageerd", "Gehandelt"),
    "Pages: %(count)s": ("Pages : %(count)s", "Pagina’s: %(count)s", "Seiten: %(count)s"),
    "Signed PDF": ("PDF signé", "Ondertekende pdf", "Signiertes PDF"),
    "Audit certificate": ("Certificat d’audit", "Auditcertificaat", "Prüfzertifikat"),
    "Everyone has signed; the signed PDF is being sealed. Reload in a few seconds.": (
        "Tout le monde a signé ; le PDF signé est en cours de scellement. Rechargez dans quelques "
        "secondes.",
        "Iedereen heeft ondertekend; de ondertekende pdf wordt verzegeld. Laad over enkele "
        "seconden opnieuw.",
        "Alle haben unterschrieben; das signierte PDF wird versiegelt. Laden Sie in einigen "
        "Sekunden neu.",
    ),
    "Actions": ("Actions", "Acties", "Aktionen"),
    "Remind who has not acted": (
        "Relancer ceux qui n’ont pas agi",
        "Herinner wie nog niet heeft gereageerd",
        "Erinnern, wer noch nicht gehandelt hat",
    ),
    "Cancel the envelope": (
        "Annuler l’enveloppe",
        "De envelop annuleren",
        "Den Umschlag stornieren",
    ),
    "%(done)s of %(count)s done": (
        "%(done)s sur %(count)s terminé(s)",
        "%(done)s van %(count)s klaar",
        "%(done)s von %(count)s erledigt",
    ),
    "No envelope is %(status)s.": (
        "Aucune enveloppe à l’état « %(status)s ».",
        "Geen envelop met status ‘%(status)s’.",
        "Kein Umschlag im Status „%(status)s“.",
    ),
    "No envelope.": ("Aucune enveloppe.", "Geen envelop.", "Kein Umschlag."),
    "Invite someone": ("Inviter quelqu’un", "Iemand uitnodigen", "Jemanden einladen"),
    "Name (optional)": ("Nom (facultatif)", "Naam (optioneel)", "Name (optional)"),
    "A viewer reads; a sender also sends; an admin also manages keys and users.": (
        "Un lecteur consulte ; un expéditeur envoie aussi ; un administrateur gère aussi les clés "
        "et les utilisateurs.",
        "Een lezer leest; een verzender verzendt ook; een beheerder beheert ook sleutels en "
        "gebruikers.",
        "Ein Leser liest; ein Absender versendet auch; ein Administrator verwaltet auch Schlüssel "
        "und Benutzer.",
    ),
    "Send the invitation": (
        "Envoyer l’invitation",
        "De uitnodiging verzenden",
        "Die Einladung senden",
    ),
    "Everyone": ("Tout le monde", "Iedereen", "Alle"),
    "User": ("Utilisateur", "Gebruiker", "Benutzer"),
    "(you)": ("(vous)", "(u)", "(Sie)"),
    "Role of %(email)s": ("Rôle de %(email)s", "Rol van %(email)s", "Rolle von %(email)s"),
    "Change": ("Modifier", "Wijzigen", "Ändern"),
    "Send %(email)s a new activation link": (
        "Envoyer un nouveau lien d’activation à %(email)s",
        "%(email)s een nieuwe activeringslink sturen",
        "%(email)s einen neuen Aktivierungslink senden",
    ),
    "New link": ("Nouveau lien", "Nieuwe link", "Neuer Link"),
    "Deactivate %(email)s": (
        "Désactiver %(email)s",
        "%(email)s deactiveren",
        "%(email)s deaktivieren",
    ),
    "Deactivate": ("Désactiver", "Deactiveren", "Deaktivieren"),
    "Webhook endpoint": ("Point de terminaison de webhook", "Webhook-eindpunt", "Webhook-Endpunkt"),
    "All endpoints": ("Tous les points de terminaison", "Alle eindpunten", "Alle Endpunkte"),
    "URL": ("URL", "URL", "URL"),
    "enabled": ("activé", "ingeschakeld", "aktiviert"),
    "disabled": ("désactivé", "uitgeschakeld", "deaktiviert"),
    "failing since %(date)s": (
        "en échec depuis le %(date)s",
        "mislukt sinds %(date)s",
        "fehlerhaft seit %(date)s",
    ),
    "Format": ("Format", "Formaat", "Format"),
    "Events": ("Événements", "Gebeurtenissen", "Ereignisse"),
    "Description": ("Description", "Beschrijving", "Beschreibung"),
    "Send a test ping": (
        "Envoyer un ping de test",
        "Een testping verzenden",
        "Einen Test-Ping senden",
    ),
    "Disable": ("Désactiver", "Uitschakelen", "Deaktivieren"),
    "Enable": ("Activer", "Inschakelen", "Aktivieren"),
    "Delete": ("Supprimer", "Verwijderen", "Löschen"),
    "Attempts, newest first": (
        "Tentatives, les plus récentes d’abord",
        "Pogingen, nieuwste eerst",
        "Versuche, neueste zuerst",
    ),
    "No attempt yet. A test ping or an event sent here appears once the worker sent it.": (
        "Aucune tentative pour l’instant. Un ping de test ou un événement envoyé ici apparaît une "
        "fois que le worker l’a envoyé.",
        "Nog geen poging. Een testping of een hierheen verzonden gebeurtenis verschijnt zodra de "
        "worker hem heeft verzonden.",
        "Noch kein Versuch. Ein Test-Ping oder ein hierher gesendetes Ereignis erscheint, sobald "
        "der Worker es gesendet hat.",
    ),
    "try %(number)s": ("essai %(number)s", "poging %(number)s", "Versuch %(number)s"),
    "next try %(date)s": (
        "prochain essai le %(date)s",
        "volgende poging op %(date)s",
        "nächster Versuch am %(date)s",
    ),
    "Redeliver %(event)s %(id)s": (
        "Renvoyer %(event)s %(id)s",
        "%(event)s %(id)s opnieuw verzenden",
        "%(event)s %(id)s erneut zustellen",
    ),
    "Redeliver": ("Renvoyer", "Opnieuw verzenden", "Erneut zustellen"),
    "Older attempts": ("Tentatives plus anciennes", "Oudere pogingen", "Ältere Versuche"),
    "Tabellion posts each event to the endpoints subscribed to it, signed with the endpoint's "
    "secret (Standard Webhooks: <code>webhook-id</code>, <code>webhook-timestamp</code>, "
    "<code>webhook-signature</code>), and retries for about three days until the receiver answers "
    "2xx.": (
        "Tabellion envoie chaque événement aux points de terminaison qui y sont abonnés, signé "
        "avec le secret du point de terminaison (Standard Webhooks : <code>webhook-id</code>, "
        "<code>webhook-timestamp</code>, <code>webhook-signature</code>), et réessaie pendant "
        "environ trois jours jusqu’à ce que le destinataire réponde 2xx.",
        "Tabellion verzendt elke gebeurtenis naar de eindpunten die erop zijn geabonneerd, "
        "ondertekend met het geheim van het eindpunt (Standard Webhooks: <code>webhook-id</code>, "
        "<code>webhook-timestamp</code>, <code>webhook-signature</code>), en probeert het "
        "ongeveer drie dagen opnieuw tot de ontvanger 2xx antwoordt.",
        "Tabellion sendet jedes Ereignis an die Endpunkte, die es abonniert haben, signiert mit "
        "dem Geheimnis des Endpunkts (Standard Webhooks: <code>webhook-id</code>, "
        "<code>webhook-timestamp</code>, <code>webhook-signature</code>), und versucht es etwa "
        "drei Tage lang erneut, bis der Empfänger mit 2xx antwortet.",
    ),
    "Endpoint created": ("Point de terminaison créé", "Eindpunt aangemaakt", "Endpunkt erstellt"),
    "Copy its signing secret now: it is shown once (it is stored encrypted, and never shown "
    "again).": (
        "Copiez son secret de signature maintenant : il n’est affiché qu’une fois (il est "
        "conservé chiffré et n’est plus jamais affiché).",
        "Kopieer het ondertekeningsgeheim nu: het wordt één keer getoond (het wordt versleuteld "
        "bewaard en nooit meer getoond).",
        "Kopieren Sie sein Signaturgeheimnis jetzt: Es wird nur einmal angezeigt (es wird "
        "verschlüsselt gespeichert und nie wieder angezeigt).",
    ),
    "Signing secret": ("Secret de signature", "Ondertekeningsgeheim", "Signaturgeheimnis"),
    "send it a test ping from its page.": (
        "envoyez-lui un ping de test depuis sa page.",
        "stuur het een testping vanaf de pagina ervan.",
        "senden Sie ihm einen Test-Ping von seiner Seite.",
    ),
    "New endpoint": ("Nouveau point de terminaison", "Nieuw eindpunt", "Neuer Endpunkt"),
    "Description (optional)": (
        "Description (facultatif)",
        "Beschrijving (optioneel)",
        "Beschreibung (optional)",
    ),
    "every event (*)": (
        "tous les événements (*)",
        "alle gebeurtenissen (*)",
        "alle Ereignisse (*)",
    ),
    "Create the endpoint": (
        "Créer le point de terminaison",
        "Het eindpunt aanmaken",
        "Den Endpunkt erstellen",
    ),
    "Endpoints": ("Points de terminaison", "Eindpunten", "Endpunkte"),
    "No endpoint yet.": (
        "Aucun point de terminaison pour l’instant.",
        "Nog geen eindpunt.",
        "Noch kein Endpunkt.",
    ),
    "active": ("active", "actief", "aktiv"),
    # ---- dashboard: a bad line of a recipient list, by the field at fault ----
    "Give either a first and a last name, or a company and its SIREN.": (
        "Indiquez soit un prénom et un nom, soit une entreprise et son SIREN.",
        "Geef een voornaam en een achternaam, of een bedrijf en zijn SIREN-nummer.",
        "Geben Sie einen Vor- und Nachnamen an oder ein Unternehmen und seine SIREN.",
    ),
    "The e-mail address is not valid.": (
        "L’adresse e-mail n’est pas valide.",
        "Het e-mailadres is niet geldig.",
        "Die E-Mail-Adresse ist nicht gültig.",
    ),
    "The first name is missing or too long.": (
        "Le prénom manque ou est trop long.",
        "De voornaam ontbreekt of is te lang.",
        "Der Vorname fehlt oder ist zu lang.",
    ),
    "The last name is missing or too long.": (
        "Le nom manque ou est trop long.",
        "De achternaam ontbreekt of is te lang.",
        "Der Nachname fehlt oder ist zu lang.",
    ),
    "The company name is missing or too long.": (
        "Le nom de l’entreprise manque ou est trop long.",
        "De bedrijfsnaam ontbreekt of is te lang.",
        "Der Firmenname fehlt oder ist zu lang.",
    ),
    "The SIREN is not valid: 9 digits that pass their check.": (
        "Le SIREN n’est pas valide : 9 chiffres dont la clé doit être juste.",
        "Het SIREN-nummer is niet geldig: 9 cijfers met een kloppend controlecijfer.",
        "Die SIREN ist ungültig: 9 Ziffern mit korrekter Prüfziffer.",
    ),
    "The language must be en, fr, nl or de.": (
        "La langue doit être en, fr, nl ou de.",
        "De taal moet en, fr, nl of de zijn.",
        "Die Sprache muss en, fr, nl oder de sein.",
    ),
    "The phone number is not valid (international form, e.g. +33612345678).": (
        "Le numéro de téléphone n’est pas valide (forme internationale, par exemple +33612345678).",
        "Het telefoonnummer is niet geldig (internationale notatie, bijvoorbeeld +33612345678).",
        "Die Telefonnummer ist ungültig (internationale Form, z. B. +33612345678).",
    ),
    "This address is already on line %(line)s.": (
        "Cette adresse figure déjà à la ligne %(line)s.",
        "Dit adres staat al op regel %(line)s.",
        "Diese Adresse steht bereits in Zeile %(line)s.",
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
