"""`opscopilot replay FILE`: play a recording in the TUI, or print its transcript headless."""

from __future__ import annotations

import sys

import click


def _parse_speed(value: str) -> float | None:
    if value.lower() in ("max", "inf", "0"):
        return None
    try:
        speed = float(value.rstrip("xX×"))
    except ValueError:
        raise click.BadParameter("use a number like 1, 2.5, 10 or 'max'") from None
    if speed <= 0:
        raise click.BadParameter("must be positive, or 'max'")
    return speed


def resolve_recording(name: str) -> str:
    """A path as given, else a recording by name in the recordings folder or the bundled
    samples (`01-disk-and-memory`, with or without `.jsonl`, or a unique prefix: `01`)."""
    from pathlib import Path

    from opscopilot import config

    if Path(name).exists() or "/" in name:
        return name
    for folder in (config.recordings_dir(), config.bundled_dir("recordings")):
        if not folder.is_dir():
            continue
        names = sorted(p for p in folder.glob("*.jsonl") if p.is_file())
        exact = [p for p in names if name in (p.name, p.stem)]
        prefixed = [p for p in names if p.name.startswith(name)]
        if exact or len(prefixed) == 1:
            return str((exact or prefixed)[0])
    return name


def bundled_recordings() -> list[str]:
    from opscopilot import config

    folder = config.bundled_dir("recordings")
    return sorted(p.stem for p in folder.glob("*.jsonl")) if folder.is_dir() else []


def complete_recordings(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from click.shell_completion import CompletionItem

    from opscopilot import config

    names = set(bundled_recordings())
    if config.recordings_dir().is_dir():
        names |= {p.stem for p in config.recordings_dir().glob("*.jsonl")}
    return [CompletionItem(n) for n in sorted(names) if n.startswith(incomplete)]


@click.command()
@click.argument(
    "file",
    metavar="FILE|NAME",
    type=click.Path(dir_okay=False),
    shell_complete=complete_recordings,
)
@click.option("--speed", default="1", show_default=True, help="1, 2, 10 … or 'max' (no waiting).")
@click.option("--headless", is_flag=True, help="Print the transcript instead of opening the TUI.")
@click.option(
    "--thinking", is_flag=True, help="Include the model's thinking in a headless transcript."
)
def replay(file: str, speed: str, headless: bool, thinking: bool) -> None:
    """Play a recorded session back (the TUI's own widgets, or a headless transcript).

    FILE is a recording, or the name of one in the recordings folder or of a bundled
    sample (`opscopilot replay 01-disk-and-memory`; `opscopilot paths` shows both folders).
    """
    import anyio

    from opscopilot.replay.recording import RecordingError, read_recording

    rate = _parse_speed(speed)
    file = resolve_recording(file)
    try:
        recording = read_recording(file)
    except RecordingError as exc:
        samples = ", ".join(bundled_recordings())
        hint = f" (bundled samples: {samples})" if samples and "/" not in file else ""
        click.echo(f"error: {exc}{hint}", err=True)
        sys.exit(1)
    if not headless:
        try:
            from opscopilot.tui.replay import run_replay_app
        except ModuleNotFoundError:
            click.echo("error: this build has no TUI replay; use --headless", err=True)
            sys.exit(2)
        run_replay_app(recording, speed=rate, source=file)
        return

    from opscopilot.cli.render import TranscriptRenderer
    from opscopilot.replay.player import Player

    renderer = TranscriptRenderer(show_thinking=thinking)
    out = sys.stdout

    def emit(event) -> None:
        text = renderer.render(event)
        if text:
            out.write(text)
            out.flush()

    anyio.run(Player(recording, speed=rate).play, emit)
    out.write(renderer.close())
