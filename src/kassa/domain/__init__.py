"""Pure billing logic: plain data in, plain data out. No I/O, no database, no HTTP."""
