"""Documents Kassa renders from invoices and credit notes: UBL e-invoices (and PDF, HTML)."""
