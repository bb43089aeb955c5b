"""The store's tables: forward migration steps of the "core" track (raw SQL, one step per version).

Never edit a step that has shipped; add a new one. A database from a newer opscopilot is
refused by `db.migrate` rather than guessed at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

from opscopilot.store.db import Migration

TRACK = "core"


def _v1_core_tables(db: sqlite_utils.Database) -> None:
    statements = [
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX sessions_by_update ON sessions (updated_at DESC)",
        """CREATE TABLE turns (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            prompt TEXT NOT NULL,
            model TEXT NOT NULL,
            status TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            usage TEXT,
            cost_usd REAL,
            error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX turns_by_session ON turns (session_id, created_at)",
        "CREATE INDEX turns_by_status ON turns (status)",
        """CREATE TABLE messages (
            seq INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            turn_id TEXT,
            role TEXT NOT NULL,
            message TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX messages_by_session ON messages (session_id, seq)",
        # Append-only: rows are never updated or deleted; seq is the global order of commits.
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            session_id TEXT,
            turn_id TEXT,
            type TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_session ON events (session_id, seq)",
        "CREATE INDEX events_by_turn ON events (turn_id, seq)",
        """CREATE TABLE journal (
            effect_id TEXT PRIMARY KEY,
            turn_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'intent',
            result TEXT,
            created_at REAL NOT NULL,
            finished_at REAL
        )""",
        "CREATE INDEX journal_by_turn ON journal (turn_id, created_at)",
        """CREATE TABLE snapshots (
            turn_id TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            saved_at REAL NOT NULL
        )""",
        """CREATE TABLE approvals (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            turn_id TEXT NOT NULL,
            tool_call_id TEXT NOT NULL,
            tool TEXT NOT NULL,
            arguments TEXT NOT NULL,
            risk TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            call_hash TEXT NOT NULL,
            original_call_hash TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            requested_at REAL NOT NULL,
            expires_at REAL,
            decided_at REAL,
            operator TEXT,
            host TEXT,
            decision_reason TEXT NOT NULL DEFAULT '',
            edited_arguments TEXT
        )""",
        "CREATE INDEX approvals_by_status ON approvals (status, requested_at)",
        "CREATE INDEX approvals_by_session ON approvals (session_id, requested_at)",
        "CREATE INDEX approvals_by_turn ON approvals (turn_id, requested_at)",
        """CREATE TABLE allow_rules (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            tool TEXT NOT NULL,
            command TEXT,
            created_at REAL NOT NULL,
            revoked_at REAL
        )""",
        "CREATE INDEX allow_rules_by_session ON allow_rules (session_id, revoked_at)",
    ]
    for statement in statements:
        db.execute(statement)


def _v2_turn_options(db: sqlite_utils.Database) -> None:
    # What a turn was started with (approval mode, cost cap), so a turn killed before its
    # first checkpoint restarts under the same rules.
    db.execute("ALTER TABLE turns ADD COLUMN options TEXT")


def _v3_changes_and_owners(db: sqlite_utils.Database) -> None:
    # `changes`: one row per decision, request, turn move or ownership change, written in the
    # same transaction, so a watcher that sees the database move reads only what is new.
    # `turn_owners`: the one live process driving a turn, kept alive by its heartbeat.
    # `approvals.channel`: where a decision was made (tui, cli, web, runtime).
    statements = [
        """CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            session_id TEXT,
            turn_id TEXT,
            at REAL NOT NULL
        )""",
        """CREATE TABLE turn_owners (
            turn_id TEXT PRIMARY KEY,
            owner_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            operator TEXT NOT NULL DEFAULT '',
            claimed_at REAL NOT NULL,
            heartbeat_at REAL NOT NULL
        )""",
        "CREATE INDEX turn_owners_by_owner ON turn_owners (owner_id)",
        "ALTER TABLE approvals ADD COLUMN channel TEXT",
    ]
    for statement in statements:
        db.execute(statement)


CORE_STEPS: list[Migration] = [_v1_core_tables, _v2_turn_options, _v3_changes_and_owners]
