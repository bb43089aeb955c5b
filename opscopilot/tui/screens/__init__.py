"""Modal screens: help, pickers and the approval dialogs (imported lazily by the app)."""
