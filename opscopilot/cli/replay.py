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


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--speed", default="1", show_default=True, help="1, 2, 10 … or 'max' (no waiting).")
@click.option("--headless", is_flag=True, help="Print the transcript instead of opening the TUI.")
@click.option(
    "--thinking", is_flag=True, help="Include the model's thinking in a headless transcript."
)
def replay(file: str, speed: str, headless: bool, thinking: bool) -> None:
    """Play a recorded session back (the TUI's own widgets, or a headless transcript)."""
    import anyio

    from opscopilot.replay.recording import RecordingError, read_recording

    rate = _parse_speed(speed)
    try:
        recording = read_recording(file)
    except RecordingError as exc:
        click.echo(f"error: {exc}", err=True)
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
