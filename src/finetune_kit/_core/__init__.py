"""Pure logic shared by the sync and async shells: no I/O, no clock reads, no sleeping."""
