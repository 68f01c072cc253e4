"""ffui's terminal UI (Textual). ``screens.app.run_app(paths)`` opens it; ffui never imports this package."""
