"""Widgets of the TUI: conversation panes, tool cards, meters, reviews, event log."""
