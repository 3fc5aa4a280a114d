"""The outside world behind small protocols: gateways, bank files, documents, mail, rates."""
