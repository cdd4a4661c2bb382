"""The status page: fetching its feeds or JSON API, parsing them, storing notices and their updates."""
