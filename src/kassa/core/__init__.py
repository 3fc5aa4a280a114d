"""Money, currencies, time and clocks, ids and errors. Imports nothing of Kassa."""
