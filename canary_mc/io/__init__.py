"""Everything that touches files or the terminal. The engine never imports this package."""
