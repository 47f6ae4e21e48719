"""Mutation testing of the core rules with mutmut 3, one module at a time.

Each module runs in its own scratch copy of the repository (``build/mutate/<name>``) with a
generated ``[tool.mutmut]`` section: the module alone is mutated, and only its own tests run,
so the score of a module says how well *its* tests pin it down. Not in ``.ci/run``: slow.

    python scripts/mutate.py                 # every module below
    python scripts/mutate.py merkle ssrf     # some of them (names from MODULES)
    MUTATE_JOBS=1 python scripts/mutate.py   # worker processes (default 2: a shared machine)
    MUTATE_TIMEOUT=60 python scripts/mutate.py portal-pages   # a more patient timeout

A module whose rules are a few functions of a larger file names them (``FUNCTIONS``): only
their mutants run and count, so the score is that of the rule, not of the file around it.

Prints ``killed/total (score)`` per module; the survivors are listed by
``cd build/mutate/<name> && mutmut results`` and shown by ``mutmut show <mutant>``.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "mutate"

# name -> (module to mutate, its tests). The core rules of issue 27; add the envelope
# lifecycle and the dialects' auth here as they land.
MODULES: dict[str, tuple[str, list[str]]] = {
    "merkle": ("src/tabellion/evidence/transparency/merkle.py", ["tests/evidence/test_merkle.py"]),
    "ssrf": ("src/tabellion/webhook/ssrf.py", ["tests/webhook/test_ssrf.py"]),
    "chain-check": (
        "src/tabellion/evidence/verification/check.py",
        # The proofs past their retention period: the chain walks past them on their hash.
        ["tests/evidence/test_chain_and_log.py", "tests/retention/test_proof_expiry.py"],
    ),
    "transparency": (
        "src/tabellion/evidence/transparency/log.py",
        ["tests/evidence/test_chain_and_log.py", "tests/evidence/test_proofs.py"],
    ),
    "verify": (
        "src/tabellion/evidence/verification/verify.py",
        [
            "tests/evidence/test_proofs.py",
            "tests/evidence/test_pdf_and_verify.py",
            "tests/evidence/test_attacks.py",
            "tests/evidence/test_timestamps.py",
        ],
    ),
    "lifecycle": (
        "src/tabellion/message/service/lifecycle.py",
        [
            "tests/message/test_lifecycle.py",
            "tests/portal/test_registered.py",
            "tests/portal/test_tasks.py",
            "tests/portal/test_other_modes.py",
        ],
    ),
    "delivery": (
        "src/tabellion/message/service/delivery.py",
        [
            "tests/message/test_notice_outcomes.py",
            "tests/message/test_deadline.py",
            "tests/notification/test_service.py",
            "tests/notification/test_bounces.py",
        ],
    ),
    "portal-sessions": (
        "src/tabellion/kit/sessions.py",
        [
            "tests/kit/test_sessions.py",
            "tests/portal/test_registered.py",
            "tests/portal/test_other_modes.py",
        ],
    ),
    "portal-pages": (
        "src/tabellion/portal/pages.py",
        [
            "tests/portal/test_registered.py",
            "tests/portal/test_other_modes.py",
            "tests/portal/test_vault_lockout.py",
            # A purged file's download answers 410 on the letter's page; a lost or altered one
            # is not handed over (nor its download recorded).
            "tests/retention/test_retention.py",
            "tests/document/test_lost_files.py",
            # A recipient identified with OpenID Connect answers (Chromium, the test provider).
            "tests/identity/test_browser.py",
        ],
    ),
    "webhook-routing": (
        "src/tabellion/webhook/service.py",
        ["tests/webhook/test_service.py", "tests/webhook/test_delivery.py"],
    ),
    "repository": (
        "src/tabellion/message/repository.py",
        ["tests/message/test_repository.py", "tests/message/test_endpoints.py"],
    ),
    # The dialects' credential checks: Documentd's client-key JWTs, the Registered-email
    # dialect's Basic/Bearer header, Documenso's bare key.
    "dialect-auth-jwt": (
        "src/tabellion/organization/client_keys.py",
        ["tests/organization/test_client_keys.py", "tests/compat/test_documentd.py"],
    ),
    "dialect-auth-registered-email": (
        "src/tabellion/compat/registered_email/endpoints.py",
        ["tests/compat/registered_email/test_endpoints.py"],
    ),
    "dialect-auth-documenso": (
        "src/tabellion/compat/documenso/endpoints.py",
        ["tests/compat/test_documenso.py"],
    ),
    # The API key check: the native API's and STAMPEE's (which reads the key from its own
    # header, then checks it as the native API does).
    "api-key-auth": (
        "src/tabellion/organization/service.py",
        ["tests/organization/test_keys_and_scopes.py", "tests/compat/stampee/test_errors.py"],
    ),
    # Concurrent requests for a code queue on an advisory lock (PostgreSQL only).
    "code-issuer-lock": ("src/tabellion/kit/sessions.py", ["tests/portal/test_code_races.py"]),
    "envelope-lifecycle": (
        "src/tabellion/envelope/service.py",
        [
            "tests/envelope/test_endpoints.py",
            "tests/envelope/test_completion.py",
            # The assistants' order (check_order) and the authentication a send needs.
            "tests/envelope/test_roles.py",
            "tests/envelope/test_auth.py",
        ],
    ),
}


# Modules whose rule only runs on PostgreSQL (an advisory lock): measured against the database
# in TABELLION_TEST_DATABASE_URL, with one worker (the tests share that database).
POSTGRES_ONLY = {"code-issuer-lock"}

# name -> the functions of the module that hold the rule (all of the module when absent).
FUNCTIONS: dict[str, list[str]] = {
    # Which endpoints an event goes to (emit, redeliver), not the body sizing or sending.
    "webhook-routing": ["_subscribers", "_wants", "emit", "emit_many", "redeliver"],
    "dialect-auth-jwt": [
        "looks_like_jwt",
        "_unverified_issuer",
        "authenticate_jwt",
        "_check_claims",
    ],
    # Not `_caller`: it is called at import (`SendCaller = Annotated[..., _caller(...)]`), so
    # its dependency closes over the original code before mutmut switches a mutant on; every
    # mutant of it "survives" unrun. Its key-id rule is pinned by test_endpoints.py all the same.
    "dialect-auth-registered-email": ["_credentials"],
    "dialect-auth-documenso": ["api_key"],
    "api-key-auth": ["authenticate_api_key"],
    "code-issuer-lock": ["_one_issuer_at_a_time"],
    # The checks of a JSON proof: seal path, timestamp, log inclusion, signed tree head (not the
    # PDF reading around them).
    "verify": [
        "_path_problem",
        "_check_timestamp",
        "timestamp_problem",
        "verify_json_proof",
        "tree_head_problem",
        "_check_inclusion",
    ],
    # Draft -> sent -> cancelled / reminded, the signing order and what may be sent.
    "envelope-lifecycle": [
        "signing_token",
        "token_hash",
        "check_order",
        "get_draft",
        "in_turn",
        "check_sendable",
        "_check_auth",
        "send",
        "_pending",
        "cancel",
        "remind",
    ],
    # Who is signed in to what, codes and the vault's pending address, not page rendering.
    # (mutmut leaves decorated functions alone: the routes' own bodies are not mutated.)
    "portal-pages": [
        "_delivery_session",
        "_check_code",
        "_answer",
        "_download",
        "pending_cookie",
        "_pending_signature",
        "_remember_pending",
        "_pending_email",
        "_vault_locked",
        "_vault_delivery",
    ],
}


def _patterns(name: str) -> list[str]:
    """mutmut's names of the mutants to run: ``<dotted module>.x_<function>__mutmut_<n>``."""
    module = MODULES[name][0]
    dotted = module.removeprefix("src/").removesuffix(".py").replace("/", ".")
    return [f"{dotted}.x_{function}__mutmut_*" for function in FUNCTIONS.get(name, [])]


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _timeout_multiplier() -> float:
    """mutmut stops a mutant's tests after this many times their duration in its first,
    clean run (plus a second), and counts it killed ("timeout"). A run niced on a shared
    machine slows down far more than mutmut's 15 when the load rises after that first run:
    its mutants would "time out" without hanging. ``MUTATE_TIMEOUT`` sets it."""
    return float(os.environ.get("MUTATE_TIMEOUT", "15"))


def _scratch(name: str, module: str, tests: list[str]) -> Path:
    work = BUILD / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # docs/ too: some tests run the guides' snippets (test_documentd.py reads its guide).
    for folder in ("src", "tests", "docs"):
        shutil.copytree(ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
    pytest_ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    options = pytest_ini["ini_options"]
    (work / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        'also_copy = ["docs"]\n'
        f"only_mutate = {_toml_list([module])}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]\n'
        f"timeout_multiplier = {_timeout_multiplier()}\n\n"
        "[tool.pytest.ini_options]\n"
        'asyncio_mode = "auto"\n'
        'asyncio_default_fixture_loop_scope = "function"\n'
        'asyncio_default_test_loop_scope = "function"\n'
        f"markers = {_toml_list(options['markers'])}\n"
    )
    return work


def run(name: str) -> tuple[int, int]:
    module, tests = MODULES[name]
    work = _scratch(name, module, tests)
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    jobs = os.environ.get("MUTATE_JOBS", "2")
    # The scratch copy is imported, not the installed checkout.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if name in POSTGRES_ONLY:
        url = os.environ.get("TABELLION_TEST_DATABASE_URL", "")
        if not url.startswith("postgresql"):
            raise SystemExit(f"{name} needs TABELLION_TEST_DATABASE_URL=postgresql+psycopg://...")
        jobs = "1"
    else:
        # The others run on SQLite, each test on its own file: workers may run side by side.
        env.pop("TABELLION_TEST_DATABASE_URL", None)
    patterns = _patterns(name)
    subprocess.run(  # noqa: S603
        [mutmut, "run", "--max-children", jobs, *patterns], cwd=work, env=env, check=True
    )
    results = subprocess.run(  # noqa: S603
        [mutmut, "results", "--all", "true"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    outcomes = [
        outcome
        for mutant, outcome in re.findall(r"^\s*(\S+): (.+)$", results, flags=re.MULTILINE)
        if not patterns or any(fnmatch.fnmatchcase(mutant, p) for p in patterns)
    ]
    # A mutant that makes the tests hang is caught too (mutmut stops it at its timeout).
    killed = sum(1 for o in outcomes if o in ("killed", "timeout"))
    return killed, len(outcomes)


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        print(f"unknown module(s): {', '.join(unknown)}; known: {', '.join(MODULES)}")
        return 2
    scores = {name: run(name) for name in names or list(MODULES)}
    for name, (killed, total) in scores.items():
        print(f"{name}: {killed}/{total} killed ({100 * killed / max(total, 1):.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
