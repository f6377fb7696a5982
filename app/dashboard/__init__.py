"""The browser dashboard: one page and its static files, served by the app itself."""
