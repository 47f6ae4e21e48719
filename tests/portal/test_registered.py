"""Registered letters on the portal: notice, identity code, accept or refuse, expiry."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tabellion.db import transaction
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.message.service.lifecycle import expire
from tabellion.models.message import Delivery
from tabellion.runtime import Runtime
from tests.fixtures.server import client_from
from tests.portal.helpers import (
    age_codes,
    attachment_ids,
    code_sent,
    csrf,
    dispatch,
    latest_code,
    notify,
    outbox_codes,
    proof_content,
    ready_to_answer,
    signed_in,
    status_of,
    vault_sign_in,
)

UA = {"User-Agent": "TestBrowser/1.0"}
PDF = b"%PDF-1.4\n%%EOF\n"  # what ``dispatch`` attaches


async def confirm_identity(
    client: httpx.AsyncClient, runtime: Runtime, link: str, delivery_id: str
) -> str:
    page = await client.get(link)
    sent = await client.post(f"{link}/code", data={"csrf_token": csrf(page.text)})
    assert sent.status_code == 303 and sent.headers["location"].endswith("?sent=1")
    form = await client.get(f"{link}?sent=1")
    code = await latest_code(runtime, delivery_id)
    verified = await client.post(
        f"{link}/verify", data={"code": code, "csrf_token": csrf(form.text)}, headers=UA
    )
    assert verified.status_code == 303, verified.text
    return (await client.get(link)).text


async def test_notice_hides_sender_subject_and_content(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth)
    link = await notify(runtime, delivery["id"])
    page = await client.get(link)
    assert page.status_code == 200
    assert "registered electronic letter awaits you" in page.text
    for secret in ("Secret subject", "Secret body", "Acme", "contract.pdf"):
        assert secret not in page.text
    assert "Send me a code" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    deadline = (await status_of(client, auth, delivery["id"]))["deadline_at"]
    assert deadline is not None


async def test_accept_reveals_content_and_records_evidence(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth)
    link = await notify(runtime, delivery["id"])
    page = await confirm_identity(client, runtime, link, delivery["id"])
    assert "Accept the letter" in page
    assert "Secret subject" not in page
    unconfirmed = await client.post(
        f"{link}/answer", data={"decision": "accept", "csrf_token": csrf(page)}
    )
    assert unconfirmed.status_code == 422
    done = await client.post(
        f"{link}/answer",
        data={"decision": "accept", "confirm": "yes", "csrf_token": csrf(page)},
        headers=UA,
    )
    assert done.status_code == 303
    revealed = (await client.get(link)).text
    assert "Secret subject" in revealed and "Secret body" in revealed
    assert "Acme" in revealed and "contract.pdf" in revealed
    state = await status_of(client, auth, delivery["id"])
    assert state["status"] == "accepted"
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED", "ACCEPTED"]
    async with runtime.sessions() as session:
        row = await session.get(Delivery, delivery["id"])
    assert row is not None and row.identity is not None
    assert row.identity["method"] == "email-otp"
    assert row.identity["user_agent"] == "TestBrowser/1.0"
    assert row.identity["ip"]
    again = await client.post(
        f"{link}/answer", data={"decision": "refuse", "confirm": "yes", "csrf_token": csrf(page)}
    )
    assert again.status_code == 409
    assert "already answered" in again.text


async def test_answer_pages_speak_the_letters_language_and_the_proof_names_the_code(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """A browser that asks for no language reads the answer's refusals in the letter's
    language, with the letter's own links; the ACCEPTED proof names the e-mailed code."""
    delivery = await dispatch(client, auth, language="fr")
    link = await notify(runtime, delivery["id"])
    token = await signed_in(client, runtime, link, delivery["id"])
    unconfirmed = await client.post(
        f"{link}/answer", data={"decision": "accept", "csrf_token": token}
    )
    assert unconfirmed.status_code == 422 and '<html lang="fr">' in unconfirmed.text
    assert "Cochez la case pour confirmer votre choix." in unconfirmed.text
    assert f'action="{link}/answer"' in unconfirmed.text
    answer = {"decision": "accept", "confirm": "yes", "csrf_token": token}
    assert (await client.post(f"{link}/answer", data=answer, headers=UA)).status_code == 303
    again = await client.post(f"{link}/answer", data=answer)
    assert again.status_code == 409 and '<html lang="fr">' in again.text
    assert "Cette lettre a déjà reçu une réponse" in again.text
    assert f'href="{link}/files/' in again.text

    evidence = (await status_of(client, auth, delivery["id"]))["evidence"]
    [accepted] = [e for e in evidence if e["type"] == "ACCEPTED"]
    content = await proof_content(client, auth, runtime, accepted["id"])
    action = content["recipient"]["action"]
    # The identity the code confirmed, and the channel the answer came through: that code.
    authentication = action["authentication"]
    assert (authentication["method"], authentication["channel"]) == ("email-otp", "email-otp")
    assert action["user_agent"] == UA["User-Agent"]


async def test_refuse_closes_it(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth)
    link = await notify(runtime, delivery["id"])
    page = await confirm_identity(client, runtime, link, delivery["id"])
    done = await client.post(
        f"{link}/answer", data={"decision": "refuse", "confirm": "yes", "csrf_token": csrf(page)}
    )
    assert done.status_code == 303
    after = (await client.get(link)).text
    assert "You refused this letter" in after
    assert "Secret subject" not in after
    assert (await status_of(client, auth, delivery["id"]))["status"] == "refused"
    # The letter's real file, with the session that refused it: still closed.
    [attachment] = await attachment_ids(client, auth, delivery)
    download = await client.get(f"{link}/files/{attachment}")
    assert download.status_code == 404 and PDF not in download.content


async def test_wrong_code_five_times_locks_it(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    sent = await code_sent(client, auth, runtime)
    link, token, right = sent.link, sent.token, sent.code
    wrong = "000000" if right != "000000" else "111111"
    for left in (4, 3, 2, 1):
        response = await client.post(f"{link}/verify", data={"code": wrong, "csrf_token": token})
        assert f"{left} tries left" in response.text
    # The client is stopped before it can lock the code (docs/security.md); another may.
    stopped = await client.post(f"{link}/verify", data={"code": right, "csrf_token": token})
    assert stopped.status_code == 429 and int(stopped.headers["retry-after"]) > 0
    # An HTML page in the letter's language, leading back to the letter.
    assert stopped.headers["content-type"].startswith("text/html")
    assert "<h1>Too many attempts</h1>" in stopped.text and f'href="{link}"' in stopped.text
    async with client_from(client, "203.0.113.9") as other:
        locked = await other.post(f"{link}/verify", data={"code": wrong, "csrf_token": token})
    assert "Too many wrong codes" in locked.text
    await runtime.limiter.clear()
    still = await client.post(f"{link}/verify", data={"code": right, "csrf_token": token})
    assert still.status_code == 200 and "Too many wrong codes" in still.text
    # Asking again at once is rate-limited; after a minute a new code works.
    soon = await client.post(f"{link}/code", data={"csrf_token": token})
    assert soon.status_code == 429
    await age_codes(runtime, sent.delivery_id)
    await client.post(f"{link}/code", data={"csrf_token": token})
    fresh = await latest_code(runtime, sent.delivery_id)
    ok = await client.post(f"{link}/verify", data={"code": fresh, "csrf_token": token})
    assert ok.status_code == 303


async def test_a_form_without_a_code_is_a_wrong_code(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    sent = await code_sent(client, auth, runtime)
    empty = await client.post(f"{sent.link}/verify", data={"csrf_token": sent.token})
    assert empty.status_code == 200 and "That code is not right. 4 tries left." in empty.text


async def test_expired_code_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    from sqlalchemy import select

    from tabellion.models.portal import OneTimeCode

    sent = await code_sent(client, auth, runtime)
    async with transaction(runtime.sessions) as session:
        for row in await session.scalars(select(OneTimeCode)):
            row.expires_at = utcnow() - timedelta(seconds=1)
    response = await client.post(
        f"{sent.link}/verify", data={"code": sent.code, "csrf_token": sent.token}
    )
    assert response.status_code == 200
    assert "This code has expired or was replaced; ask for a new one." in response.text
    assert "Accept the letter" not in response.text


async def test_expiry_with_nobody_visiting(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth)
    link = await notify(runtime, delivery["id"])
    async with transaction(runtime.sessions) as session:
        assert await expire(session, delivery["id"]) is False  # not yet
        row = await session.get(Delivery, delivery["id"])
        assert row is not None and row.deadline_at is not None
        moment = row.deadline_at + timedelta(seconds=1)
        assert await expire(session, delivery["id"], now=moment) is True
        assert await expire(session, delivery["id"], now=moment) is False  # a retried job
    state = await status_of(client, auth, delivery["id"])
    assert state["status"] == "expired"
    assert state["evidence"][-1]["type"] == "EXPIRED"
    page = await client.get(link)
    assert "deadline to accept this letter passed" in page.text


async def test_forged_token_and_missing_csrf(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    forged = await client.get("/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert forged.status_code == 404
    assert "no longer valid" in forged.text
    delivery = await dispatch(client, auth)
    link = await notify(runtime, delivery["id"])
    await client.get(link)
    assert (await client.post(f"{link}/code", data={})).status_code == 403
    assert (await client.post(f"{link}/code", data={"csrf_token": "x" * 64})).status_code == 403


async def test_pages_speak_the_recipients_language(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth, language="fr")
    link = await notify(runtime, delivery["id"])
    page = await client.get(link)
    assert '<html lang="fr">' in page.text
    assert "Une lettre recommandée électronique vous attend" in page.text
    assert "M’envoyer un code" in page.text
    german = await client.get(f"{link}?lang=de")
    assert "Ein elektronisches Einschreiben wartet auf Sie" in german.text
    assert "tbl_lang=de" in german.headers["set-cookie"]
    dutch = await client.get(f"{link}?lang=nl")
    assert "Er wacht een elektronische aangetekende brief op u" in dutch.text
    await client.post(f"{link}/code", data={"csrf_token": csrf(dutch.text)})
    wrong = await client.post(
        f"{link}/verify?lang=fr", data={"code": "abc", "csrf_token": csrf(dutch.text)}
    )
    assert "Ce code n’est pas le bon. Encore 4 essais." in wrong.text


async def test_code_step_and_code_email_follow_the_page_language(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth, language="fr")
    link = await notify(runtime, delivery["id"])
    page = await client.get(link)
    await client.post(f"{link}/code", data={"csrf_token": csrf(page.text)})
    step = await client.get(f"{link}?sent=1")
    # The language links keep the code field, and hold nothing secret.
    assert f'href="{link}?sent=1&amp;lang=de"' in step.text
    german = await client.get(f"{link}?sent=1&lang=de")
    assert '<html lang="de">' in german.text and 'id="code"' in german.text
    assert "Per E-Mail erhaltener Code" in german.text
    first = await latest_code(runtime, delivery["id"])
    assert [m["Content-Language"] for m in await outbox_codes(runtime)] == ["fr"]
    # A new code asked from the German page is written in German.
    await age_codes(runtime, delivery["id"])
    await client.post(f"{link}/code", data={"csrf_token": csrf(german.text)})
    second = await latest_code(runtime, delivery["id"])
    sent = {str(m["Subject"]): m["Content-Language"] for m in await outbox_codes(runtime)}
    assert sent == {f"Votre code : {first}": "fr", f"Ihr Code: {second}": "de"}
    # A letter's code is useless without the letter's link, and the e-mail says so.
    for mail in await outbox_codes(runtime):
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None
        assert any(w in body.get_content() for w in ("sans votre lien", "Ohne Ihren Link"))


async def test_notice_schedules_expiry_and_reminders_that_stop_once_answered(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    from sqlalchemy import select

    from tabellion.jobs.registry import TaskContext, get_task
    from tabellion.models.job import Job

    delivery = await dispatch(client, auth)
    link = await notify(runtime, delivery["id"])
    async with runtime.sessions() as session:
        jobs = await session.scalars(
            select(Job).where(Job.kind.not_in(("notification.send_notice", "evidence.seal")))
        )
        scheduled = {(j.kind, j.payload.get("days_left")): j.run_at for j in jobs}
    state = await status_of(client, auth, delivery["id"])
    assert set(scheduled) == {
        ("delivery.expire", None),
        ("notification.send_reminder", 7),
        ("notification.send_reminder", 2),
    }
    deadline = scheduled[("delivery.expire", None)]
    assert deadline.isoformat().replace("+00:00", "Z").startswith(state["deadline_at"][:19])
    assert (deadline - scheduled[("notification.send_reminder", 2)]).days == 2
    # Once answered, a reminder's job sends nothing.
    page = await confirm_identity(client, runtime, link, delivery["id"])
    await client.post(
        f"{link}/answer", data={"decision": "refuse", "confirm": "yes", "csrf_token": csrf(page)}
    )
    outbox = runtime.settings.outbox_dir
    before = len(list(outbox.glob("*.eml"))) if outbox.exists() else 0
    spec = get_task("notification.send_reminder")
    assert spec is not None
    await spec.handler(
        TaskContext(runtime=runtime, job_id=0, attempt=1, max_attempts=1),
        {"delivery_id": delivery["id"], "days_left": 2},
    )
    after = len(list(outbox.glob("*.eml"))) if outbox.exists() else 0
    assert after == before


async def test_answer_after_deadline_before_expiry_job_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    from sqlalchemy import update

    from tabellion.models.job import Job

    delivery, link, token = await ready_to_answer(client, auth, runtime)
    past = utcnow() - timedelta(seconds=1)
    async with transaction(runtime.sessions) as session:
        row = await session.get(Delivery, delivery["id"])
        assert row is not None
        row.deadline_at = past  # the deadline passed; its expiry job has not run yet
    late = await client.post(
        f"{link}/answer", data={"decision": "accept", "confirm": "yes", "csrf_token": token}
    )
    assert late.status_code == 409
    assert "The deadline to answer has passed" in late.text
    state = await status_of(client, auth, delivery["id"])
    assert state["status"] == "notified"
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED"]
    async with transaction(runtime.sessions) as session:
        await session.execute(update(Job).where(Job.kind == "delivery.expire").values(run_at=past))
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    state = await status_of(client, auth, delivery["id"])
    assert state["status"] == "expired"
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED", "EXPIRED"]
    assert "deadline to accept this letter passed" in (await client.get(link)).text


async def _accept(client: httpx.AsyncClient, base: str) -> None:
    page = (await client.get(base)).text
    done = await client.post(
        f"{base}/answer",
        data={"decision": "accept", "confirm": "yes", "csrf_token": csrf(page)},
    )
    assert done.status_code == 303 and done.headers["location"] == base


async def test_a_code_or_a_session_of_one_letter_does_not_open_another(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """Two registered letters to the same recipient: the first's code, session and link
    never reach the second."""
    first, second = [await dispatch(client, auth) for _ in range(2)]
    link1, link2 = [await notify(runtime, d["id"]) for d in (first, second)]
    for link in (link1, link2):
        page = await client.get(link)
        await client.post(f"{link}/code", data={"csrf_token": csrf(page.text)})
    code1 = await latest_code(runtime, first["id"])
    assert code1 != await latest_code(runtime, second["id"])
    form2 = await client.get(f"{link2}?sent=1")
    crossed = await client.post(
        f"{link2}/verify", data={"code": code1, "csrf_token": csrf(form2.text)}
    )
    assert crossed.status_code == 200 and "4 tries left" in crossed.text
    # The first letter's code still works on the first (the wrong try was counted on the
    # second) and opens a session for the first only.
    form1 = await client.get(f"{link1}?sent=1")
    verified = await client.post(
        f"{link1}/verify", data={"code": code1, "csrf_token": csrf(form1.text)}
    )
    assert verified.status_code == 303
    assert "Accept the letter" in (await client.get(link1)).text
    other = (await client.get(link2)).text
    assert "Accept the letter" not in other
    answered = await client.post(
        f"{link2}/answer",
        data={"decision": "accept", "confirm": "yes", "csrf_token": csrf(other)},
    )
    assert answered.status_code == 303 and answered.headers["location"] == link2
    state = await status_of(client, auth, second["id"])
    assert state["status"] == "notified"
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED"]
    # Once the first is accepted, its link serves its file, never the second's.
    await _accept(client, link1)
    [file1], [file2] = [await attachment_ids(client, auth, d) for d in (first, second)]
    own = await client.get(f"{link1}/files/{file1}")
    assert own.status_code == 200 and own.content == PDF
    for url in (f"{link1}/files/{file2}", f"{link2}/files/{file1}", f"{link2}/files/{file2}"):
        response = await client.get(url)
        assert response.status_code == 404 and PDF not in response.content, url
    assert (await status_of(client, auth, second["id"]))["status"] == "notified"


async def test_files_are_not_downloadable_before_acceptance(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """With the identity confirmed (a portal session and a vault session) but the letter not
    yet accepted, no file, preview or page image comes out, on the link or in the vault."""
    delivery = await dispatch(client, auth)
    link = await notify(runtime, delivery["id"])
    await confirm_identity(client, runtime, link, delivery["id"])
    await vault_sign_in(client, runtime, delivery["recipient"]["email"])
    [file] = await attachment_ids(client, auth, delivery)
    vault = f"/vault/d/{delivery['id']}"
    assert "Accept the letter" in (await client.get(vault)).text
    urls = [
        f"{base}/files/{file}{tail}"
        for base in (link, vault)
        for tail in ("", "?inline=1", "/preview", "/pages/1.png")
    ]
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 404 and PDF not in response.content, url
    state = await status_of(client, auth, delivery["id"])
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED"]  # no DOWNLOADED
    await _accept(client, vault)
    for base in (link, vault):
        response = await client.get(f"{base}/files/{file}")
        assert response.status_code == 200 and response.content == PDF, base
