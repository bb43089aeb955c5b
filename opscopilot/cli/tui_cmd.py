"""`opscopilot tui` (and `opscopilot` alone): the terminal UI. Textual loads only here."""

from __future__ import annotations

import click

from opscopilot.cli.completion import complete_models, complete_sessions, complete_themes


@click.command("tui")
@click.option(
    "--model",
    "-m",
    default=None,
    help="Model for the first pane (provider:model).",
    shell_complete=complete_models,
)
@click.option(
    "--theme",
    "-t",
    default=None,
    help="Theme name (see `opscopilot themes list`).",
    shell_complete=complete_themes,
)
@click.option(
    "--session",
    "session_id",
    default=None,
    help="Open a stored session by id.",
    shell_complete=complete_sessions,
)
@click.option(
    "--approve",
    type=click.Choice(["ask", "read-only", "all", "none"]),
    default="ask",
    show_default=True,
    help="What runs without asking.",
)
@click.option(
    "--max-cost", type=click.FloatRange(min=0), default=None, help="USD cap per turn for this run."
)
@click.option(
    "--record",
    is_flag=True,
    default=None,
    help="Record every session as it happens (the recordings folder, <session>.jsonl).",
)
def tui(
    model: str | None,
    theme: str | None,
    session_id: str | None,
    approve: str,
    max_cost: float | None,
    record: bool | None,
) -> None:
    """Open the terminal UI."""
    from opscopilot import config
    from opscopilot.replay.live import recording_settings
    from opscopilot.store.retention import prune_in_background

    try:
        chosen_model = model or config.default_model()
        recording = recording_settings(True if record else None)
        prune_in_background()  # [store] keep_days, while the TUI starts
    except config.ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if ":" not in chosen_model:
        raise click.BadParameter(
            f"{chosen_model!r} is not provider:model (e.g. builtin:ops)", param_hint="--model"
        )

    if session_id is not None:
        _check_session(session_id)

    from opscopilot.tui.app import create_app
    from opscopilot.tui.runtime_engine import RuntimeEngine

    engine = RuntimeEngine(approve_mode=approve, max_cost=max_cost, recording=recording)
    caps, spent_today = _budget_figures(max_cost)
    app = create_app(
        model=chosen_model,
        theme=theme,
        session_id=session_id,
        engine=engine,
        caps=caps,
        spent_today=spent_today,
        tune_gc=True,  # the process is the app's (tests run many apps in one and do not)
    )
    try:
        app.run()
    finally:
        engine.close()
    if engine.recorder is not None:
        for path in engine.recorder.paths.values():
            click.echo(f"recorded {path}", err=True)


def _check_session(session_id: str) -> None:
    """A mistyped --session is one line and exit 2, not a new empty session."""
    from opscopilot.store import Store, StoreError

    try:
        with Store.open() as store:
            found = store.get_session(session_id) is not None
    except StoreError as exc:
        raise click.ClickException(f"store: {exc}") from None
    if not found:
        raise click.BadParameter(
            f"no session {session_id} (see: opscopilot sessions list)", param_hint="--session"
        )


def _budget_figures(max_cost: float | None) -> tuple[dict, float]:
    """Caps and today's spend for the meters; the TUI opens even when they can't be read."""
    try:
        from opscopilot.governance import Ledger, load_caps
    except ImportError:
        return {}, 0.0
    try:
        ledger = Ledger()
        caps = load_caps(max_cost, flag_scope="turn", ledger=ledger)
        figures = {scope: caps.cap(scope) for scope in ("call", "turn", "session", "day")}
        return figures, ledger.spent_today()
    except Exception as exc:  # a broken budget config must not keep the operator out
        click.echo(f"budget: {exc}", err=True)
        return {}, 0.0
