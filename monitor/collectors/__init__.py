"""The collectors, one folder per pipeline: `calls/` (call-count files, the inbox, parsing,
loading) and `notices/` (status-page feeds and Statuspage JSON, the notice store, upstream text)."""
