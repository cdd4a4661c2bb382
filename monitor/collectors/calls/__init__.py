"""Call-count files and the other imports: the inbox, parsing, row checks, loading, old hours rolled up."""
