"""Every dashboard page in the visitor's language: opened with ``?lang=fr`` and ``?lang=de``
(as an admin, a sender and a viewer where pages differ), each shows its own words in that
language, none of the English labels it translates, and its times as that language writes them.
English stays the default."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tabellion.auth.subjects import SCOPES
from tabellion.config import Settings
from tabellion.models.organization import Organization
from tabellion.portal import i18n
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.dashboard.helpers import signed_in_user
from tests.envelope.test_pages import _sent
from tests.organization.helpers import send

# English labels of the dashboard's pages, none of which may be left on a French or German
# page (unless that language writes the word alike, as German's "Dashboard" or "Status").
ENGLISH = [
    "Dashboard", "Home", "Letters", "Signatures", "Settings", "Sessions", "Sign out",
    "Last 30 days", "Sent per day", "Needs attention", "Expiring soon", "Undelivered",
    "No refused letter.", "Days in UTC.", "still open", "Deliveries",
    "Mode", "Any", "Delivery status", "Reference", "Campaign", "Recipient address", "Filter",
    "Clear", "Newer", "Older", "No letter matches.",
    "Timeline", "All proofs", "Resend the notice", "No event yet.", "Replies",
    "pending", "notified", "accepted", "refused", "expired", "received", "undelivered",
    "registered letter", "draft", "complete", "cancelled", "invited", "signed", "waiting",
    "Status", "Recipients", "Recipient", "Role", "Order", "Invited", "Opened", "Acted",
    "Documents", "Actions", "Remind who has not acted", "Cancel the envelope", "of 2 done",
    "Sequential signing", "Parallel signing", "sent", "created", "reference",
    "API keys", "Client keys", "Users", "Webhooks", "Customers", "Seal",
    "What an admin", "New key", "Create the key", "Starts with", "Last used", "Expires",
    "Scopes", "Invite someone", "Send the invitation", "Everyone", "Deactivate", "New link",
    "viewer", "sender", "admin", "activated",
    "Register a public key", "Register the key", "No client key yet.",
    "New endpoint", "Create the endpoint", "Endpoints", "every event", "enabled", "disabled",
    "Send a test ping", "Disable", "Delete", "Attempts, newest first", "No attempt yet",
    "Register a customer", "Paying customer", "Your customers", "Show", "No customer.",
    "Seal certificate", "Valid from", "Valid until", "Serial number", "Algorithm",
    "Public verification", "Download the certificate chain",
    "Not allowed", "Not found", "No such", "cannot",
]  # fmt: skip

# Words each page shows in French and in German (the admin's pages).
WORDS = {
    "/app": (["Tableau de bord", "30 derniers jours", "À surveiller", "Envois par jour"],
             ["Letzte 30 Tage", "Erfordert Aufmerksamkeit", "Versand pro Tag"]),
    "/app/letters": (["Statut de distribution", "Filtrer", "Adresse du destinataire"],
                     ["Zustellstatus", "Filtern", "Adresse des Empfängers"]),
    "letter": (["Toutes les preuves", "référence LEASE-7", "envoyée le", "lettre recommandée"],
               ["Alle Nachweise", "Referenz LEASE-7", "versendet am", "Einschreiben"]),
    "/app/signatures": (["Nouvelle enveloppe", "Filtrer", "0 sur 2 terminé(s)"],
                        ["Filtern", "0 von 2 erledigt"]),
    "envelope": (["Relancer ceux qui n’ont pas agi", "Annuler l’enveloppe", "Signataire"],
                 ["Erinnern, wer noch nicht gehandelt hat", "Den Umschlag stornieren"]),
    "/app/settings": (["Ce que gère un administrateur de Acme", "Clés client"],
                      ["Was ein Administrator von Acme verwaltet", "Client-Schlüssel"]),
    "/app/settings/keys": (["Créer la clé", "Commence par", "Portées"],
                           ["Den Schlüssel erstellen", "Beginnt mit", "Berechtigungen"]),
    "/app/settings/users": (["Inviter quelqu’un", "Envoyer l’invitation", "administrateur"],
                            ["Jemanden einladen", "Die Einladung senden", "Administrator"]),
    "/app/settings/client-keys": (["Enregistrer une clé publique", "Aucune clé client"],
                                  ["Einen öffentlichen Schlüssel registrieren"]),
    "/app/settings/webhooks": (["Nouveau point de terminaison", "tous les événements (*)"],
                               ["Neuer Endpunkt", "alle Ereignisse (*)"]),
    "webhook": (["Envoyer un ping de test", "Tentatives, les plus récentes d’abord", "activé"],
                ["Einen Test-Ping senden", "Versuche, neueste zuerst", "aktiviert"]),
    "/app/settings/customers": (["Enregistrer un client", "Vos clients"],
                                ["Einen Kunden registrieren", "Ihre Kunden"]),
    "/app/settings/seal": (["Certificat du sceau", "Valide jusqu’au", "Vérification publique"],
                           ["Siegelzertifikat", "Gültig bis", "Öffentliche Prüfung"]),
    "missing": (["Introuvable", "Cette lettre n’existe pas chez Acme."],
                ["Nicht gefunden", "Diesen Brief gibt es bei Acme nicht."]),
}  # fmt: skip
# Pages translated before (compose, the envelope editor, sessions, the authenticator): one of
# their own sentences, as the catalog has it.
OTHERS = {
    "/app/letters/new": "Review before sending",
    "/app/signatures/new": "Continue: place the fields",
    "/app/sessions": "This browser",
    "/app/authenticator": "Authenticator app",
}


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    # A webhook endpoint on loopback, which the SSRF guard refuses unless allowed.
    return make_settings(data_dir, database_url, webhook_allowed_hosts="127.0.0.1")


def visible(page: httpx.Response) -> str:
    """The page's text as read: no tags (nor their attributes), no addresses."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page.text, flags=re.S)
    # The API's scopes are named as the API spells them (a checkbox's label is the scope).
    text = re.sub(rf">\s*(?:{'|'.join(map(re.escape, SCOPES))})\s*<", "><", text)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return re.sub(r"\s+", " ", re.sub(r"\S+@\S+", " ", text))


def english_left(text: str, language: str) -> list[str]:
    """The English labels still on a page in ``language`` (not those it writes alike, nor
    the API's names such as ``delivery.notified``)."""
    catalog = i18n.translations(language)
    return [
        word
        for word in ENGLISH
        if catalog.gettext(word) != word
        and re.search(rf"(?<![\w.:_]){re.escape(word)}(?!\w)", text)
    ]


async def _world(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, str]:
    """A letter, an envelope sent for signing and a webhook endpoint; their pages' paths."""
    letter = await send(client, auth, subject="Lease renewal", reference="LEASE-7")
    envelope, _ = await _sent(client, auth)
    hook = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/tabellion", "events": ["delivery.accepted"]},
        headers=auth,
    )
    assert hook.status_code == 201, hook.text
    return {
        "letter": f"/app/letters/{letter['id']}",
        "envelope": f"/app/signatures/{envelope['id']}",
        "webhook": f"/app/settings/webhooks/{hook.json()['id']}",
        "missing": "/app/letters/msg_00000000000000000000000000",
        "dispatched_at": letter["dispatched_at"],
    }


async def _zone(runtime: Runtime) -> str:
    async with runtime.sessions() as session:
        return str(await session.scalar(select(Organization.timezone).limit(1)))


@pytest.mark.parametrize("language", ["fr", "de"])
async def test_every_admin_page_speaks_the_chosen_language(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, language: str
) -> None:
    world = await _world(client, auth)
    await signed_in_user(client, auth, runtime, "admin")
    index = 0 if language == "fr" else 1
    catalog = i18n.translations(language)
    for name, words in WORDS.items():
        path = world.get(name, name)
        page = await client.get(f"{path}?lang={language}")
        assert page.status_code == (404 if name == "missing" else 200), path
        assert f'<html lang="{language}">' in page.text, path
        text = visible(page)
        for word in words[index]:
            assert word in text, (path, word)
        assert english_left(text, language) == [], path
    for path, sentence in OTHERS.items():
        page = await client.get(f"{path}?lang={language}")
        assert page.status_code == 200, path
        assert catalog.gettext(sentence) in visible(page) and sentence not in visible(page), path
        assert english_left(visible(page), language) == [], path

    # Times as the language writes them, in the organisation's time zone.
    letter = visible(await client.get(f"{world['letter']}?lang={language}"))
    shown = i18n.human_time(world["dispatched_at"], language, await _zone(runtime))
    assert shown in letter
    assert i18n.human_time(world["dispatched_at"], "en", await _zone(runtime)) not in letter


async def test_the_language_is_remembered_and_english_is_the_default(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "sender")
    assert "Last 30 days" in visible(await client.get("/app"))
    chosen = await client.get("/app/letters?lang=de")
    assert "Zustellstatus" in visible(chosen)
    # The cookie the choice set: the next page is German too, with no ?lang=.
    assert "Letzte 30 Tage" in visible(await client.get("/app"))
    # Else the browser's language.
    client.cookies.delete(i18n.LANG_COOKIE)
    french = await client.get("/app", headers={"Accept-Language": "fr-BE,fr;q=0.9"})
    assert "30 derniers jours" in visible(french)


@pytest.mark.parametrize("language", ["fr", "de"])
async def test_sender_and_viewer_pages_and_refusals_in_the_chosen_language(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, language: str
) -> None:
    world = await _world(client, auth)
    for role in ("sender", "viewer"):
        client.cookies.clear()
        await signed_in_user(client, auth, runtime, role)
        label = {"fr": {"sender": "expéditeur", "viewer": "lecteur"},
                 "de": {"sender": "Absender", "viewer": "Leser"}}[language][role]  # fmt: skip
        for path in ("/app", "/app/letters", world["letter"], "/app/signatures"):
            page = await client.get(f"{path}?lang={language}")
            assert page.status_code == 200, path
            text = visible(page)
            assert f"· {label} · Acme" in text, path  # the role, in the bar
            assert english_left(text, language) == [], path
        envelope = await client.get(f"{world['envelope']}?lang={language}")
        actions = ["Relancer ceux qui n’ont pas agi", "Erinnern, wer noch nicht gehandelt hat"]
        assert (actions[0 if language == "fr" else 1] in visible(envelope)) == (role == "sender")
        assert english_left(visible(envelope), language) == []
        # Refused: the settings (both), sending (a viewer); the reason names the role.
        refused = await client.get(f"/app/settings/keys?lang={language}")
        assert refused.status_code == 403
        reason = {
            "fr": f"Le rôle {label} ne permet pas de gérer les clés d’API",
            "de": f"Die Rolle {label} kann keine API-Schlüssel verwalten",
        }[language]
        assert reason in visible(refused)
        assert english_left(visible(refused), language) == []
        if role == "viewer":
            compose = await client.get(f"/app/letters/new?lang={language}")
            assert compose.status_code == 403
            assert english_left(visible(compose), language) == []
